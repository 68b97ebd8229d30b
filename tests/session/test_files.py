"""A session's working directory is its file system: read, write, list, delete, confined to it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from codemode import Session
from codemode.errors import FileNotFound, InvalidArgument, LimitExceeded, PathNotAllowed, Unavailable
from codemode.models import ExecutionLimits
from codemode.storage.redis import RedisStorage

pytestmark = pytest.mark.anyio


async def test_a_written_file_reads_back_as_text(session: Session):
    assert await session.write_file("notes/today.txt", "héllo\n") == len("héllo\n".encode())
    assert await session.read_file("notes/today.txt") == "héllo\n"


async def test_code_sees_the_files_the_api_writes(session: Session):
    await session.write_file("data.csv", "a,b\n1,2\n")
    assert (await session.run("open('data.csv').read()")).value == "a,b\n1,2\n"


async def test_the_api_sees_the_files_code_writes(session: Session):
    await session.run("open('out.txt', 'w').write('from code')")
    assert await session.read_file("out.txt") == "from code"


async def test_a_file_that_is_not_utf8_reads_as_bytes(session: Session):
    await session.write_file("blob.bin", b"\xff\x00\xfe")
    assert await session.read_file("blob.bin") == b"\xff\x00\xfe"


async def test_binary_asks_for_bytes_even_for_text(session: Session):
    await session.write_file("a.txt", "abc")
    assert await session.read_file("a.txt", binary=True) == b"abc"


async def test_list_files_shows_files_directories_and_links(session: Session):
    await session.write_file("dir/inner.txt", "x")
    await session.write_file("top.txt", "12345")
    await session.run("import os; os.symlink('top.txt', 'link')")
    entries = {entry.name: entry for entry in await session.list_files()}
    assert (entries["top.txt"].type, entries["top.txt"].size) == ("file", 5)
    assert entries["dir"].type == "directory"
    assert entries["link"].type == "symlink"
    assert [entry.path for entry in await session.list_files("dir")] == ["dir/inner.txt"]


async def test_delete_file_removes_it_and_says_whether_it_existed(session: Session):
    await session.write_file("gone.txt", "x")
    assert await session.delete_file("gone.txt") is True
    assert await session.delete_file("gone.txt") is False
    with pytest.raises(FileNotFound, match="gone.txt"):
        await session.read_file("gone.txt")


async def test_a_directory_with_files_is_deleted_only_when_recursive(session: Session):
    await session.write_file("tree/a/b.txt", "x")
    with pytest.raises(InvalidArgument, match="recursive=True"):
        await session.delete_file("tree")
    assert await session.delete_file("tree", recursive=True) is True
    assert await session.list_files() == []


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.txt", "a/../../outside.txt"])
async def test_paths_that_leave_the_directory_are_refused(session: Session, path: str):
    with pytest.raises(PathNotAllowed, match="relative to the session directory"):
        await session.read_file(path)
    with pytest.raises(PathNotAllowed):
        await session.write_file(path, "x")
    with pytest.raises(PathNotAllowed):
        await session.delete_file(path)


async def test_a_symlink_planted_by_code_is_never_followed(session: Session, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    await session.run(f"import os; os.symlink({str(secret)!r}, 'leak'); os.symlink('/etc/passwd', 'pw')")
    with pytest.raises(PathNotAllowed, match="symbolic link"):
        await session.read_file("leak")
    with pytest.raises(PathNotAllowed, match="symbolic link"):
        await session.read_file("pw")


async def test_writing_over_a_planted_symlink_replaces_the_link_not_its_target(session: Session, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    await session.run(f"import os; os.symlink({str(secret)!r}, 'leak')")
    await session.write_file("leak", "overwritten")
    assert secret.read_text() == "host secret"
    assert await session.read_file("leak") == "overwritten"


async def test_a_symlinked_directory_is_not_entered(session: Session, tmp_path: Path):
    await session.run(f"import os; os.symlink({str(tmp_path)!r}, 'escape')")
    with pytest.raises(PathNotAllowed, match="'escape' is a symbolic link"):
        await session.write_file("escape/planted.txt", "x")
    with pytest.raises(PathNotAllowed):
        await session.list_files("escape")
    assert not (tmp_path / "planted.txt").exists()


async def test_reads_and_writes_over_the_size_bound_are_refused(workspace: Path):
    limits = ExecutionLimits(max_transfer_bytes=10)
    async with Session.from_base(workspace, limits=limits) as session:
        with pytest.raises(LimitExceeded, match="over the limit of 10 bytes"):
            await session.write_file("big.txt", "x" * 11)
        await session.run("open('big.txt', 'w').write('y' * 11)")
        with pytest.raises(LimitExceeded, match="over the limit of 10 bytes"):
            await session.read_file("big.txt")


async def test_file_data_must_be_text_or_bytes(session: Session):
    with pytest.raises(InvalidArgument, match="text \\(str\\) or bytes"):
        await session.write_file("x.json", {"a": 1})  # type: ignore[arg-type]


async def test_the_inprocess_executor_says_it_has_no_session_directory(workspace: Path):
    async with Session.inprocess(workspace) as session:
        with pytest.raises(Unavailable, match="no session directory"):
            await session.read_file("x")


async def test_files_work_in_a_session_on_redis_storage(redis_storage: RedisStorage):
    async with Session(storage=redis_storage) as session:
        await session.write_file("r.txt", "on redis")
        assert (await session.run("open('r.txt').read()")).value == "on redis"


# -- packing: the directory travels with snapshots and exports ---------------------------


async def test_packed_files_unpack_into_another_session(session: Session, workspace: Path):
    await session.write_file("a/b/c.txt", "deep")
    await session.write_file("bin.dat", b"\x00\xff")
    archive = await session.directory.pack()
    async with Session.from_base(workspace) as other:
        assert await other.directory.unpack(archive) == 2
        assert await other.read_file("a/b/c.txt") == "deep"
        assert await other.read_file("bin.dat") == b"\x00\xff"


async def test_packing_skips_symlinks(session: Session, workspace: Path):
    await session.write_file("real.txt", "x")
    await session.run("import os; os.symlink('/etc/passwd', 'pw')")
    async with Session.from_base(workspace) as other:
        await other.directory.unpack(await session.directory.pack())
        assert [entry.name for entry in await other.list_files()] == ["real.txt"]


async def test_packing_over_the_cap_is_refused(session: Session):
    await session.write_file("big.txt", "x" * 1000)
    with pytest.raises(LimitExceeded, match="limit of 100 bytes"):
        await session.directory.pack(max_bytes=100)


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt"])
async def test_an_archive_that_escapes_is_refused_whole(session: Session, name: str):
    archive = _tar({"fine.txt": b"ok", name: b"evil"})
    with pytest.raises(PathNotAllowed):
        await session.directory.unpack(archive)
    assert await session.list_files() == []


async def test_links_and_devices_in_an_archive_are_skipped(session: Session):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        link = tarfile.TarInfo("pw")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    await session.directory.unpack(buffer.getvalue())
    assert await session.list_files() == []


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


# -- no symbolic link anywhere on a path is followed (without a sandbox, the code could plant one at any time) --


def _outside(tmp_path: Path) -> Path:
    """A directory outside the session's, shaped like its tree, so that following a link would find files."""
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    (outside / "b" / "c.txt").write_text("host secret")
    (outside / "c.txt").write_text("host secret")
    return outside


def _tree(directory: Path) -> dict[str, str]:
    return {str(path.relative_to(directory)): path.read_text() for path in directory.rglob("*") if path.is_file()}


@pytest.mark.parametrize("link_at", ["a", "a/b", "a/b/c.txt"])
async def test_a_symlink_at_any_component_is_never_followed(workspace: Path, tmp_path: Path, link_at: str):
    outside = _outside(tmp_path)
    before = _tree(outside)
    remove = f"shutil.rmtree({link_at!r}, True)\nos.path.lexists({link_at!r}) and os.remove({link_at!r})"
    plant = f"import os, shutil\n{remove}\nos.symlink({str(outside)!r}, {link_at!r})"
    async with Session.from_base(workspace, sandbox="none") as session:
        await session.write_file("a/b/c.txt", "mine")
        assert (await session.run(plant)).is_ok
        with pytest.raises(PathNotAllowed, match="symbolic link"):
            await session.read_file("a/b/c.txt")
        with pytest.raises(PathNotAllowed, match="symbolic link"):
            await session.list_files(link_at)
        if link_at != "a/b/c.txt":
            with pytest.raises(PathNotAllowed, match="symbolic link"):
                await session.write_file("a/b/c.txt", "planted")
            with pytest.raises(PathNotAllowed, match="symbolic link"):
                await session.delete_file("a/b/c.txt", recursive=True)
        else:  # the link is the file named: a write replaces the link itself, a delete removes it
            await session.write_file("a/b/c.txt", "replaced")
            assert (await session.list_files("a/b"))[0].type == "file"
            assert (await session.run(plant)).is_ok
            assert await session.delete_file("a/b/c.txt", recursive=True) is True
            assert await session.list_files("a/b") == []
        assert _tree(outside) == before


async def test_a_session_directory_swapped_for_a_symlink_is_refused(workspace: Path, tmp_path: Path):
    outside = _outside(tmp_path)
    before = _tree(outside)
    swap = f"import os\nhere = os.getcwd()\nos.rename(here, here + '.moved')\nos.symlink({str(outside)!r}, here)"
    async with Session.from_base(workspace, sandbox="none") as session:
        await session.write_file("mine.txt", "mine")
        assert (await session.run(swap)).is_ok
        with pytest.raises(PathNotAllowed, match="replaced by a symbolic link"):
            await session.read_file("c.txt")
        with pytest.raises(PathNotAllowed):
            await session.list_files()
        with pytest.raises(PathNotAllowed):
            await session.write_file("planted.txt", "x")
        with pytest.raises(PathNotAllowed):
            await session.delete_file("c.txt")
        with pytest.raises(PathNotAllowed):
            await session.directory.pack()
        assert _tree(outside) == before
