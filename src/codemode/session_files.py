"""A session's working directory as its file system: read, write, list, delete, pack, unpack.

The directory is the worker's cwd and ``HOME``, and the session's code can write
anything there, symbolic links included (and, without a sandbox, replace the
directory itself). So the host never resolves a path by name: it opens the root
and walks a path one component at a time from that descriptor, each step opened
with ``O_NOFOLLOW`` (openat-style), refuses absolute paths, ``..`` and every
symbolic link, and then acts on the descriptors it opened, never on a name checked
before. A link the code planted (``ln -s /etc/passwd x``) is never followed, and
there is no window between a check and a use to race.

Unpacking (a snapshot's or an export's files) is all or nothing: the files are
written into a hidden staging directory inside the session's, checked to fit over
what is there, and only then moved into place, a rename each.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import secrets
import shutil
import stat
import tarfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio.to_thread
from pydantic import BaseModel, Field

from codemode.atomic import write_atomically
from codemode.errors import FileNotFound, InvalidArgument, LimitExceeded, PathNotAllowed, Unavailable

if TYPE_CHECKING:
    from codemode.session import Session

MAX_PACK_DEPTH = 100
"""Directories deeper than this do not travel (each level holds a descriptor while it is packed)."""
PACK_LIMIT = 256 * 1024**2
"""Default cap of :func:`pack_files` archives (and of what :func:`unpack_files` extracts)."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_STAGED_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
_STAGING_PREFIX = ".codemode-staging-"
_PATH_RULE = "paths are relative to the session directory, without '..' and without symbolic links"

EntryType = Literal["file", "directory", "symlink", "other"]


class FileEntry(BaseModel):
    """One entry of a directory listing."""

    name: str = Field(description="The entry's name.")
    path: str = Field(description="The path relative to the session directory.")
    type: EntryType = Field(description="'file', 'directory', 'symlink' or 'other'.")
    size: int = Field(description="Bytes (files); 0 for the rest.")
    modified_at: datetime = Field(description="When it was last modified (UTC).")


class SessionFiles:
    """Confined file operations under ``root`` (blocking: call them from a thread)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def read(self, path: str, binary: bool = False) -> str | bytes:
        """The file's content: text if it is UTF-8 (and ``binary`` is false), else bytes."""
        *parents, name = _required_parts(path)
        with self._dir(parents) as parent:
            fd = _open_file(parent, name, os.O_RDONLY, path)
            with os.fdopen(fd, "rb") as file:
                info = os.fstat(file.fileno())
                if stat.S_ISDIR(info.st_mode):
                    raise InvalidArgument(f"{path!r} is a directory; list_files lists it")
                if not stat.S_ISREG(info.st_mode):
                    raise InvalidArgument(f"{path!r} is not a regular file")
                if info.st_size > self.max_bytes:
                    raise LimitExceeded(_too_large(path, info.st_size, self.max_bytes))
                data = file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:  # it grew while we read
            raise LimitExceeded(_too_large(path, len(data), self.max_bytes))
        if binary:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data

    def write(self, path: str, data: str | bytes) -> int:
        """Write ``data`` (text as UTF-8) atomically, creating parent directories; returns the size."""
        payload = _as_bytes(data)
        if len(payload) > self.max_bytes:
            raise LimitExceeded(_too_large(path, len(payload), self.max_bytes))
        *parents, name = _required_parts(path)
        with self._dir(parents, create=True) as parent:
            _write_at(parent, name, payload, path)
        return len(payload)

    def list(self, path: str = ".") -> list[FileEntry]:
        """The entries of directory ``path``, sorted by name (symbolic links are listed, not followed)."""
        parts = split_path(path)
        prefix = "/".join(parts)
        with self._dir(parts) as directory, os.scandir(directory) as entries:
            found = [_entry(item, f"{prefix}/{item.name}" if prefix else item.name) for item in entries]
        return sorted(found, key=lambda entry: entry.name)

    def delete(self, path: str, recursive: bool = False) -> bool:
        """Remove a file, a link or an empty directory (any directory with ``recursive``); False if absent."""
        *parents, name = _required_parts(path)
        try:
            with self._dir(parents) as parent:
                return _delete_at(parent, name, recursive, path)
        except FileNotFound:
            return False

    def directory(self, path: str) -> Path:
        """The absolute path of directory ``path``, checked: inside the root, reached without links.

        For a command's working directory, which the worker resolves again, inside its own sandbox.
        """
        parts = split_path(path)
        with self._dir(parts):
            pass
        return self.root.joinpath(*parts)

    @contextmanager
    def _dir(self, parts: list[str], create: bool = False) -> Iterator[int]:
        """A descriptor of directory ``parts`` under the root, reached without following any link."""
        root = _open_root(self.root)
        try:
            with _walk(root, parts, create) as fd:
                yield fd
        finally:
            os.close(root)


@contextmanager
def _walk(base: int, parts: list[str], create: bool = False, prefix: str = "") -> Iterator[int]:
    """A descriptor of directory ``parts`` under the open directory ``base``, reached without following any link."""
    fd = os.dup(base)
    try:
        for index, part in enumerate(parts):
            if create:
                _make_dir(fd, part)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _path_error(exc, fd, part, prefix + "/".join(parts[: index + 1])) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_root(root: Path) -> int:
    """The session directory, refused if something put a link in its place (possible without a sandbox)."""
    try:
        return os.open(root, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise PathNotAllowed(
                f"the session directory {str(root)!r} was replaced by a symbolic link or a file: it is never followed"
            ) from None
        raise


# -- packing: the directory travels with snapshots and exports ------------------------


def pack(root: Path, max_bytes: int = PACK_LIMIT) -> bytes:
    """A tar archive of the regular files and directories under ``root`` (links and devices skipped)."""
    buffer = io.BytesIO()
    budget = [max_bytes, max_bytes]  # what is left, and the limit (for the message)
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        fd = _open_root(root)
        try:
            _pack_dir(archive, fd, "", budget)
        finally:
            os.close(fd)
    return buffer.getvalue()


def is_empty_archive(data: bytes) -> bool:
    """True if a :func:`pack` archive holds no file or directory."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        return archive.next() is None


def unpack(root: Path, data: bytes, max_bytes: int = PACK_LIMIT) -> int:
    """Put the files of a :func:`pack` archive under ``root``, all or nothing; returns the files written.

    Members that are not regular files or directories are skipped; a path that would leave ``root``,
    a size over ``max_bytes``, a damaged archive or an entry that cannot replace what is there (a file
    where a directory is) fails the whole unpack before anything is changed.
    """
    staged = stage(root, data, max_bytes)
    try:
        return staged.apply()
    finally:
        staged.discard()


class StagedFiles:
    """An archive's files, written into a staging directory inside the session's and checked to fit over what
    is there: nothing visible has changed yet. :meth:`apply` moves them into place, :meth:`discard` removes
    what is left (everything, if not applied). Blocking, both."""

    def __init__(self, root: int, name: str, files: int) -> None:
        self._root, self._name, self.files = root, name, files
        self._staging = os.open(name, _DIR_FLAGS, dir_fd=root)
        fcntl.flock(self._staging, fcntl.LOCK_EX)  # in use: another unpack's sweep leaves it alone

    def apply(self) -> int:
        """Move each staged entry into place, a rename each (a file replaces a file or a link, a directory is
        merged into one); the number of files."""
        _merge(self._staging, self._root, "", apply=True)
        return self.files

    def discard(self) -> None:
        shutil.rmtree(self._name, ignore_errors=True, dir_fd=self._root)
        os.close(self._staging)
        os.close(self._root)

    def _fill(self, archive: tarfile.TarFile, members: list[tarfile.TarInfo]) -> None:
        for member in members:
            parts = split_path(member.name) if member.isdir() else _required_parts(member.name)
            with _walk(self._staging, parts if member.isdir() else parts[:-1], create=True) as parent:
                if member.isfile():
                    source = archive.extractfile(member)
                    assert source is not None
                    with os.fdopen(os.open(parts[-1], _STAGED_FILE_FLAGS, 0o600, dir_fd=parent), "wb") as file:
                        shutil.copyfileobj(source, file)
        _merge(self._staging, self._root, "", apply=False)  # what cannot be put in place fails now


def stage(root: Path, data: bytes, max_bytes: int = PACK_LIMIT) -> StagedFiles:
    """Stage the files of a :func:`pack` archive under ``root`` (see :func:`unpack`); the caller discards it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            members = _checked_members(archive.getmembers(), max_bytes)
            staged = _staging(root, sum(1 for member in members if member.isfile()))
            try:
                staged._fill(archive, members)
            except BaseException:
                staged.discard()
                raise
    except tarfile.TarError as exc:
        raise InvalidArgument(f"the session files are damaged or not a tar archive: {exc}") from None
    return staged


def _staging(root: Path, files: int) -> StagedFiles:
    fd = _open_root(root)
    try:
        with os.scandir(fd) as listing:
            stale = [entry.name for entry in listing if entry.name.startswith(_STAGING_PREFIX)]
        for name in stale:  # left by a server killed mid-restore, unless another unpack holds it
            _remove_unlocked(fd, name)
        name = f"{_STAGING_PREFIX}{secrets.token_hex(8)}"
        os.mkdir(name, 0o700, dir_fd=fd)
        return StagedFiles(fd, name, files)
    except BaseException:
        os.close(fd)
        raise


def _remove_unlocked(dir_fd: int, name: str) -> None:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        shutil.rmtree(name, ignore_errors=True, dir_fd=dir_fd)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


def _merge(source: int, target: int, prefix: str, apply: bool) -> None:
    """Move (``apply``), or check that they can be moved, the entries of ``source`` into ``target``."""
    with os.scandir(source) as listing:
        entries = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing)
    for name, is_dir in entries:
        shown = prefix + name
        there = _mode(target, name)
        if there is not None and (is_dir or stat.S_ISDIR(there)):
            if not (is_dir and stat.S_ISDIR(there)):
                raise _conflict(shown, is_dir, there)
            with _walk(source, [name], prefix=prefix) as inner, _walk(target, [name], prefix=prefix) as into:
                _merge(inner, into, f"{shown}/", apply)
        elif apply:  # nothing there, or a file or link that a file replaces (a link itself, never its target)
            os.replace(name, name, src_dir_fd=source, dst_dir_fd=target)


def _conflict(shown: str, is_dir: bool, there: int) -> Exception:
    if stat.S_ISLNK(there):
        return PathNotAllowed(f"{shown!r} is a symbolic link in the session directory, which is never followed")
    ours, theirs = ("a directory", "a file") if is_dir else ("a file", "a directory")
    return InvalidArgument(
        f"{shown!r} is {ours} in the saved files and {theirs} in the session directory: delete or rename it first"
    )


def _mode(dir_fd: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None


def _checked_members(members: list[tarfile.TarInfo], max_bytes: int) -> list[tarfile.TarInfo]:
    kept = [member for member in members if member.isfile() or member.isdir()]
    for member in kept:
        split_path(member.name)
    total = sum(member.size for member in kept)
    if total > max_bytes:
        raise LimitExceeded(f"the session files hold {total} bytes, over the limit of {max_bytes}")
    return kept


def _pack_dir(archive: tarfile.TarFile, fd: int, prefix: str, budget: list[int]) -> None:
    if prefix.count("/") >= MAX_PACK_DEPTH:
        raise LimitExceeded(
            f"the session directory nests directories more than {MAX_PACK_DEPTH} deep, too deep to travel "
            f"with a snapshot or an export: {prefix[:120]}..."
        )
    with os.scandir(fd) as listing:
        entries = sorted(listing, key=lambda item: item.name)
    for entry in entries:
        name = f"{prefix}{entry.name}"
        if not prefix and entry.name.startswith(_STAGING_PREFIX):
            continue  # a restore in progress, not the session's files
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                try:
                    archive.addfile(_member(name, info, tarfile.DIRTYPE))
                    _pack_dir(archive, child, f"{name}/", budget)
                finally:
                    os.close(child)
            elif stat.S_ISREG(info.st_mode):
                _pack_file(archive, fd, entry.name, name, budget)
        except FileNotFoundError:
            continue  # deleted while we walked: not part of the archive


def _pack_file(archive: tarfile.TarFile, dir_fd: int, entry: str, name: str, budget: list[int]) -> None:
    file_fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(file_fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            return  # swapped for something else since the listing
        data = file.read(budget[0] + 1)
        budget[0] -= len(data)
        if budget[0] < 0:
            raise LimitExceeded(
                f"the session directory holds more than the limit of {budget[1]} bytes "
                "that can travel with a snapshot or an export; delete files from it"
            )
        member = _member(name, info, tarfile.REGTYPE)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))


def _member(name: str, info: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.mode = stat.S_IMODE(info.st_mode) & 0o755 | 0o600
    member.mtime = int(info.st_mtime)
    return member


# -- the session's directory -----------------------------------------------------------


async def directory_of(session: Session) -> Path:
    """The session's working directory (started with the session); ``Unavailable`` if it has none."""
    await session.start()
    workdir = session.executor.confinement.workdir
    if workdir is None:
        raise Unavailable(
            f"the {session.executor.name} executor runs code inside the server and has no session directory, "
            "so files and commands are not available; use the subprocess executor"
        )
    return Path(workdir)


async def files_of(session: Session) -> SessionFiles:
    return SessionFiles(await directory_of(session), session.limits.max_transfer_bytes)


async def pack_files(session: Session, max_bytes: int = PACK_LIMIT) -> bytes:
    """The session's directory as a tar archive, for snapshots and exports (``LimitExceeded`` past ``max_bytes``)."""
    root = await directory_of(session)
    return await anyio.to_thread.run_sync(pack, root, max_bytes)


async def unpack_files(session: Session, data: bytes, max_bytes: int = PACK_LIMIT) -> int:
    """Put the files of a :func:`pack_files` archive into the session's directory (existing files are replaced)."""
    root = await directory_of(session)
    return await anyio.to_thread.run_sync(unpack, root, data, max_bytes)


@asynccontextmanager
async def staged_files(session: Session, data: bytes | None, max_bytes: int) -> AsyncIterator[StagedFiles | None]:
    """The files of ``data`` staged in the session's directory (None without ``data``), for the block to
    apply once the rest of its change succeeded; what it did not apply is removed at the end."""
    if data is None:
        yield None
        return
    root = await directory_of(session)
    staged = await anyio.to_thread.run_sync(stage, root, data, max_bytes)
    try:
        yield staged
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(staged.discard)


# -- helpers -----------------------------------------------------------------------------


def split_path(path: object) -> list[str]:
    """``path`` split into components, or ``PathNotAllowed`` / ``InvalidArgument`` saying what is wrong."""
    if not isinstance(path, str):
        raise InvalidArgument(f"a path must be a string, not {type(path).__name__}")
    if "\0" in path:
        raise InvalidArgument("a path cannot contain NUL characters")
    if path.startswith("/"):
        raise PathNotAllowed(f"{path!r} is an absolute path: {_PATH_RULE}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PathNotAllowed(f"{path!r} contains '..': {_PATH_RULE}")
    return parts


def _required_parts(path: object) -> list[str]:
    parts = split_path(path)
    if not parts:
        raise InvalidArgument(f"{path!r} names the session directory itself; name a file in it")
    return parts


def _path_error(exc: OSError, dir_fd: int, name: str, shown: str) -> Exception:
    if _is_link(dir_fd, name):
        return PathNotAllowed(f"{shown!r} is a symbolic link, which is never followed: {_PATH_RULE}")
    if exc.errno == errno.ENOENT:
        return FileNotFound(f"no such file or directory in the session directory: {shown!r}")
    if exc.errno == errno.ENOTDIR:
        return InvalidArgument(f"{shown!r} is not a directory")
    return InvalidArgument(f"cannot open {shown!r}: {exc.strerror}")


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_file(dir_fd: int, name: str, flags: int, shown: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        raise _path_error(exc, dir_fd, name, shown) from None


def _make_dir(dir_fd: int, name: str) -> None:
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    except FileExistsError:
        pass  # a directory already, or something that opening it will refuse


def _write_at(dir_fd: int, name: str, payload: bytes, shown: str) -> None:
    try:
        write_atomically(dir_fd, name, payload)
    except IsADirectoryError:
        raise InvalidArgument(f"{shown!r} is a directory") from None


def _delete_at(dir_fd: int, name: str, recursive: bool, shown: str) -> bool:
    try:
        try:
            os.unlink(name, dir_fd=dir_fd)  # a file, or a link itself (unlink never follows one)
        except IsADirectoryError:
            if recursive:
                shutil.rmtree(name, dir_fd=dir_fd)  # fd-based: refuses a link, never leaves the tree
            else:
                os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENOTEMPTY:
            raise InvalidArgument(f"{shown!r} is a directory that is not empty; pass recursive=True") from None
        raise InvalidArgument(f"cannot delete {shown!r}: {exc.strerror}") from None
    return True


def _entry(item: os.DirEntry[str], path: str) -> FileEntry:
    info = item.stat(follow_symlinks=False)
    kind: EntryType = "other"
    if stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISLNK(info.st_mode):
        kind = "symlink"
    return FileEntry(
        name=item.name,
        path=path,
        type=kind,
        size=info.st_size if kind == "file" else 0,
        modified_at=datetime.fromtimestamp(info.st_mtime, UTC),
    )


def _as_bytes(data: object) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidArgument(f"file data must be text (str) or bytes, not {type(data).__name__}")


def _too_large(path: str, size: int, limit: int) -> str:
    return f"{path!r} is {size} bytes, over the limit of {limit} bytes for one file read or write"
