"""A session's working directory as its file system: read, write, list, delete, pack, unpack.

The directory is the worker's cwd and ``HOME``, and the session's code can write
anything there, symbolic links included. So the host never resolves a path by
name: it walks it one component at a time from a descriptor of the root, each
step opened with ``O_NOFOLLOW`` (openat-style), and refuses absolute paths, ``..``
and every symbolic link. A link the code planted (``ln -s /etc/passwd x``) is
never followed, and there is no window between a check and a use to race.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import shutil
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio.to_thread
from pydantic import BaseModel, Field

from codemode.errors import FileNotFound, InvalidArgument, LimitExceeded, PathNotAllowed, Unavailable

if TYPE_CHECKING:
    from codemode.session import Session

MAX_PACK_DEPTH = 100
"""Directories deeper than this do not travel (each level holds a descriptor while it is packed)."""
PACK_LIMIT = 256 * 1024**2
"""Default cap of :func:`pack_files` archives (and of what :func:`unpack_files` extracts)."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_CHUNK = 1 << 20
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
        """The absolute path of directory ``path``, checked: inside the root, reached without links."""
        parts = split_path(path)
        with self._dir(parts):
            pass
        return self.root.joinpath(*parts)

    @contextmanager
    def _dir(self, parts: list[str], create: bool = False) -> Iterator[int]:
        """A descriptor of directory ``parts`` under the root, reached without following any link."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for index, part in enumerate(parts):
                shown = "/".join(parts[: index + 1])
                if create:
                    _make_dir(fd, part)
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _path_error(exc, fd, part, shown) from None
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)


# -- packing: the directory travels with snapshots and exports ------------------------


def pack(root: Path, max_bytes: int = PACK_LIMIT) -> bytes:
    """A tar archive of the regular files and directories under ``root`` (links and devices skipped)."""
    buffer = io.BytesIO()
    budget = [max_bytes, max_bytes]  # what is left, and the limit (for the message)
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
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
    """Extract a :func:`pack` archive under ``root``, through the confined writer; returns the files written.

    Members that are not regular files or directories are skipped; a path that would leave
    ``root`` fails the whole unpack before anything is written, and so does a size over ``max_bytes``.
    """
    files = SessionFiles(root, max_bytes)
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except tarfile.TarError as exc:
        raise InvalidArgument(f"the session files are not a tar archive: {exc}") from None
    with archive:
        members = _checked_members(archive.getmembers(), max_bytes)
        for member in members:
            if member.isdir():
                with files._dir(split_path(member.name), create=True):
                    pass
            else:
                source = archive.extractfile(member)
                assert source is not None
                files.write(member.name, source.read())
    return sum(1 for member in members if member.isfile())


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
    if _is_dir(dir_fd, name):
        raise InvalidArgument(f"{shown!r} is a directory")
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
        # rename replaces a link itself, never its target
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def _is_dir(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _delete_at(dir_fd: int, name: str, recursive: bool, shown: str) -> bool:
    try:
        if not _is_dir(dir_fd, name):
            os.unlink(name, dir_fd=dir_fd)
        elif recursive:
            shutil.rmtree(name, dir_fd=dir_fd)  # fd-based: never follows a link out of the tree
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
