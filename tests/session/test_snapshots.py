"""Snapshots of a session's variables and state control (eryx's snapshot_state, restore_state, clear_state, reset)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codemode import ExecutionLimits, Session, Snapshot, SnapshotStore
from codemode.errors import InvalidArgument, LimitExceeded, SnapshotError, SnapshotNotFound, SnapshotUnavailable
from codemode.sandbox.launcher import SandboxConfig
from codemode.storage.base import Storage

pytestmark = pytest.mark.anyio

STATE = """
import json, os.path as osp
data = {"rows": [1, 2, 3]}
counter = 0
def bump():
    global counter
    counter += 1
    return counter
class Point:
    def __init__(self, x): self.x = x
    def double(self): return Point(self.x * 2)
p = Point(21)
"""


LOCAL_MODULE = "import sys\nsys.path.insert(0, '.')\n"  # modules written to the session's own directory


async def run(session: Session, code: str) -> None:
    result = await session.run(code)
    assert result.error_info is None, result.error_info


async def value(session: Session, code: str) -> object:
    result = await session.run(code)
    assert result.error_info is None, result.error_info
    return result.value


async def test_len_of_a_snapshot_is_its_size_and_bytes_restore_it(session: Session):
    await session.run("x = 10")
    snapshot = await session.snapshot_state()
    await session.run("x = 999")
    await session.restore_state(bytes(snapshot))
    assert len(snapshot) == len(bytes(snapshot)) > 0
    assert await value(session, "x") == 10


async def test_variables_functions_classes_and_imports_survive_in_another_session(session: Session, workspace: Path):
    await run(session, STATE)
    snapshot = await session.snapshot_state()
    async with Session.from_base(workspace, timeout=10) as other:
        restored = await other.restore_state(snapshot)
        assert {"data", "bump", "Point", "p", "json", "osp"} <= set(restored.restored)
        assert await value(other, "json.dumps(data), osp.join('a', 'b')") == ('{"rows": [1, 2, 3]}', "a/b")
        assert await value(other, "p.double().x, type(p) is Point") == (42, True)


async def test_restored_functions_change_the_restored_globals(session: Session, workspace: Path):
    await run(session, STATE)
    snapshot = await session.snapshot_state()
    async with Session.from_base(workspace, timeout=10) as other:
        await other.restore_state(snapshot)
        assert await value(other, "bump(), bump(), counter") == (1, 2, 2)


async def test_restored_functions_still_reach_the_predefined_namespaces(session: Session, workspace: Path):
    await session.run("def keep(v):\n    artifacts.save('kept', v)\n    return artifacts.load('kept')")
    snapshot = await session.snapshot_state()
    async with Session.from_base(workspace, timeout=10) as other:
        await other.restore_state(snapshot)
        assert await value(other, "keep([1, 2])") == [1, 2]


async def test_restore_replaces_the_namespace(session: Session):
    await session.run("x = 10")
    snapshot = await session.snapshot_state()
    await session.run("x = 999\nlater = 1")
    await session.restore_state(snapshot)
    assert await value(session, "x, 'later' in dir()") == (10, False)


async def test_names_that_cannot_be_saved_are_skipped_with_the_reason(session: Session, workspace: Path):
    code = """
import socket, threading
kept = [1, 2]
handle = open('notes.txt', 'w')
gen = (i for i in range(3))
lock = threading.Lock()
sock = socket.socket()
"""
    await run(session, code)
    snapshot = await session.snapshot_state()
    skipped = {entry.name: entry.reason for entry in snapshot.info.skipped}
    assert set(skipped) == {"handle", "gen", "lock", "sock"}
    assert "generator" in skipped["gen"] and "file" in skipped["handle"]
    assert "kept" in snapshot.info.saved
    async with Session.from_base(workspace, timeout=10) as other:
        await other.restore_state(snapshot)
        assert await value(other, "kept, 'gen' in dir()") == ([1, 2], False)


async def test_a_snapshot_is_restored_in_another_process_from_storage(session: Session, workspace: Path):
    await session.run("numbers = list(range(5))\ndef total(): return sum(numbers)")
    snapshot = await session.snapshot_state(save=True)
    script = textwrap.dedent(
        f"""
        import anyio
        from codemode import Session
        async def main():
            async with Session.from_base({str(workspace)!r}, timeout=10) as session:
                await session.restore_state({snapshot.snapshot_id!r})
                print((await session.run("total()")).value)
        anyio.run(main)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "10", done.stderr


async def test_a_snapshot_over_the_size_limit_is_refused_and_the_session_goes_on(workspace: Path):
    limits = ExecutionLimits(max_snapshot_bytes=10 * 1024)
    async with Session.from_base(workspace, timeout=10, limits=limits) as session:
        await session.run("big = b'x' * 100_000")
        with pytest.raises(LimitExceeded, match="limit of 10 KiB"):
            await session.snapshot_state()
        assert await value(session, "len(big)") == 100_000


async def test_a_module_that_cannot_be_imported_on_restore_is_reported(session: Session, workspace: Path):
    await run(session, f"{LOCAL_MODULE}open('mymod.py', 'w').write('N = 1')\nimport mymod\nx = 5")
    snapshot = await session.snapshot_state()
    async with Session.from_base(workspace, timeout=10) as other:  # another working directory: no mymod.py
        restored = await other.restore_state(snapshot)
        assert [entry.name for entry in restored.failed] == ["mymod"]
        assert await value(other, "x") == 5


async def test_a_restore_that_fails_leaves_the_variables_unchanged(session: Session, workspace: Path):
    await run(
        session, f"{LOCAL_MODULE}open('shapes.py', 'w').write('class Box: pass')\nfrom shapes import Box\nbox = Box()"
    )
    snapshot = await session.snapshot_state()
    async with Session.from_base(workspace, timeout=10) as other:
        await other.run("mine = 'still here'")
        with pytest.raises(SnapshotError, match="shapes"):
            await other.restore_state(snapshot)
        assert await value(other, "mine") == "still here"


async def test_bytes_that_are_not_a_snapshot_are_refused(session: Session):
    with pytest.raises(InvalidArgument, match="not a snapshot"):
        await session.restore_state(b"\x80\x04K\x01.")


async def test_snapshots_are_never_loaded_into_the_server_process(session: Session, workspace: Path):
    await session.run("x = 1")
    snapshot = await session.snapshot_state()
    async with Session.inprocess(workspace) as inprocess:
        with pytest.raises(SnapshotUnavailable, match="in-process"):
            await inprocess.restore_state(snapshot)


async def test_without_a_serializer_the_worker_starts_and_says_why(workspace: Path, tmp_path: Path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "lib").write_text("not a directory")  # the serializer cannot be copied there
    sandbox = SandboxConfig(state_dir=state)
    async with Session.from_base(workspace, timeout=10, sandbox=sandbox) as session:
        assert await value(session, "1 + 1") == 2
        with pytest.raises(SnapshotUnavailable, match="serializer could not be copied"):
            await session.snapshot_state()


# -- stored snapshots --------------------------------------------------------------------


async def test_a_stored_snapshot_is_listed_restored_and_deleted(session: Session, storage: Storage):
    store = SnapshotStore(storage)
    await session.run("x = 41")
    info = await store.save(await session.snapshot_state(), "alice")
    assert [listed.snapshot_id for listed in await store.list("alice")] == [info.snapshot_id]
    assert info.snapshot_id is not None
    await session.run("x = 0")
    await session.restore_state(await store.get(info.snapshot_id, "alice"))
    assert await value(session, "x + 1") == 42
    await store.delete(info.snapshot_id, "alice")
    assert await store.list("alice") == []


async def test_another_owner_cannot_get_list_or_delete_a_snapshot(session: Session, storage: Storage):
    store = SnapshotStore(storage)
    await session.run("secret = 'alice'")
    info = await store.save(await session.snapshot_state(), "alice")
    assert info.snapshot_id is not None
    assert await store.list("bob") == []
    for attempt in (store.get(info.snapshot_id, "bob"), store.delete(info.snapshot_id, "bob")):
        with pytest.raises(SnapshotNotFound):
            await attempt
    assert (await store.get(info.snapshot_id, "alice")).info.saved == ["secret"]


async def test_files_attached_to_a_snapshot_are_stored_with_it(session: Session, storage: Storage):
    store = SnapshotStore(storage)
    snapshot = await session.snapshot_state()
    info = await store.save(Snapshot(snapshot.data, snapshot.info, files=b"packed files"), "alice")
    assert info.snapshot_id is not None and info.files_size == 12
    assert (await store.get(info.snapshot_id, "alice")).files == b"packed files"


async def test_a_malformed_snapshot_id_is_refused_clearly(session: Session):
    with pytest.raises(InvalidArgument, match="32 hexadecimal"):
        await session.restore_state("../../etc/passwd")


# -- state control -----------------------------------------------------------------------


async def test_clear_state_drops_names_and_keeps_the_worker_and_the_count(session: Session):
    await session.run("x = 42")
    pid = session.info().worker_pid
    await session.clear_state()
    assert await value(session, "'x' in dir()") is False
    assert (session.info().worker_pid, session.execution_count) == (pid, 2)


async def test_soft_reset_keeps_the_count_and_the_namespaces(session: Session):
    await session.run("x = 42")
    await session.reset()
    assert await value(session, "'x' in dir(), type(artifacts).__name__ != 'NoneType'") == (False, True)
    assert session.execution_count == 2


async def test_restart_starts_a_fresh_worker_and_the_count_again(session: Session):
    await session.run("x = 42")
    pid = session.info().worker_pid
    await session.restart()
    assert (session.execution_count, session.info().worker_pid != pid) == (0, True)
    result = await session.run("'x' in dir()")
    assert (result.value, result.execution_count) == (False, 1)


async def test_the_session_directory_travels_with_a_stored_snapshot(workspace: Path):
    async with Session.from_base(workspace) as first:
        await first.run("open('notes.txt', 'w').write('kept')\nvalue = 7")
        snapshot = await first.snapshot_state(save=True)
        assert snapshot.files is not None and snapshot.info.files_size
    async with Session.from_base(workspace) as second:
        restored = await second.restore_state(snapshot.snapshot_id)
        result = await second.run("open('notes.txt').read(), value")
    assert restored.files == 1
    assert result.value == ("kept", 7)


async def test_an_empty_session_directory_adds_nothing_to_a_snapshot(workspace: Path):
    async with Session.from_base(workspace) as session:
        await session.run("value = 1")
        assert (await session.snapshot_state()).files is None


# -- a restore is all or nothing: variables and files change together ------------------------


async def _session_with(workspace: Path, files: dict[str, str], code: str, **options: object) -> Session:
    session = Session.from_base(workspace, timeout=10, **options)  # type: ignore[arg-type]
    try:
        await session.start()
        for path, text in files.items():
            await session.write_file(path, text)
        await run(session, code)
    except BaseException:
        await session.close()  # a failed set-up must not leave its worker behind
        raise
    return session


async def _unchanged(session: Session, files: dict[str, str]) -> None:
    assert await value(session, "x") == 1
    listed = {entry.path for entry in await session.list_files(".")}
    assert listed == {path.split("/")[0] for path in files}  # nothing new, no staging directory left
    for path, text in files.items():
        assert await session.read_file(path) == text


async def test_files_over_the_limit_fail_the_restore_and_change_nothing(workspace: Path):
    source = await _session_with(workspace, {"a.txt": "new", "big.txt": "y" * 200_000}, "x = 2")
    async with source:
        snapshot = await source.snapshot_state()
    assert len(snapshot) < 50_000 < len(snapshot.files or b"")
    mine = {"a.txt": "old"}
    target = await _session_with(workspace, mine, "x = 1", limits=ExecutionLimits(max_snapshot_bytes=50_000))
    async with target:
        with pytest.raises(LimitExceeded, match="over the limit of 50000"):
            await target.restore_state(snapshot)
        await _unchanged(target, mine)


async def test_files_that_cannot_be_put_in_place_fail_the_restore_and_change_nothing(workspace: Path):
    source = await _session_with(workspace, {"a.txt": "new", "d": "a file here"}, "x = 2")
    async with source:
        snapshot = await source.snapshot_state()
    mine = {"a.txt": "old", "d/inner.txt": "a directory there"}
    async with await _session_with(workspace, mine, "x = 1") as target:
        with pytest.raises(InvalidArgument, match="'d' is a file in the saved files and a directory"):
            await target.restore_state(snapshot)
        await _unchanged(target, mine)


async def test_damaged_files_fail_the_restore_and_change_nothing(workspace: Path):
    source = await _session_with(workspace, {"a.txt": "new", "b.txt": "z" * 5000}, "x = 2")
    async with source:
        snapshot = await source.snapshot_state()
    assert snapshot.files is not None
    snapshot.files = snapshot.files[:3000]  # cut inside b.txt's data
    mine = {"a.txt": "old"}
    async with await _session_with(workspace, mine, "x = 1") as target:
        with pytest.raises(InvalidArgument, match="session files are damaged"):
            await target.restore_state(snapshot)
        await _unchanged(target, mine)


async def test_a_failed_variable_restore_leaves_the_files_unchanged(session: Session, workspace: Path):
    await session.write_file("shapes.py", "class Box: pass")
    await session.write_file("a.txt", "new")
    await run(session, f"{LOCAL_MODULE}from shapes import Box\nbox = Box()")
    snapshot = await session.snapshot_state()
    mine = {"a.txt": "old"}
    async with await _session_with(workspace, mine, "x = 1") as target:
        with pytest.raises(SnapshotError, match="shapes"):  # its files are staged, then dropped
            await target.restore_state(snapshot)
        await _unchanged(target, mine)


async def test_a_module_that_exits_while_it_is_imported_on_restore_loses_nothing(workspace: Path):
    quitter = "import os\nif os.path.exists('quit'):\n    raise SystemExit('not here')\n"
    async with await _session_with(workspace, {"quitter.py": quitter}, f"{LOCAL_MODULE}import quitter") as source:
        snapshot = await source.snapshot_state(files=False)
    mine = {"quitter.py": quitter, "quit": ""}
    no_cache = f"{LOCAL_MODULE}sys.dont_write_bytecode = True\nx = 1"
    async with await _session_with(workspace, mine, no_cache) as target:
        with pytest.raises(SnapshotError, match="SystemExit"):
            await target.restore_state(snapshot)
        await _unchanged(target, mine)
