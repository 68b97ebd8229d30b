"""A session's working directory as its file system: read, write, list, delete.

The directory is the worker's cwd and ``HOME``, and the session's code can write
anything there, symbolic links included (and, without a sandbox, replace the
directory itself). So the host never resolves a path by name: it opens the root
and walks a path one component at a time from that descriptor, each step opened
with ``O_NOFOLLOW`` (openat-style), refuses absolute paths, ``..`` and every
symbolic link, and then acts on the descriptors it opened, never on a name checked
before. A link the code planted (``ln -s /etc/passwd x``) is never followed, and
there is no window between a check and a use to race. Packing the directory for
snapshots and exports, with the same walk, is :mod:`codemode.session.archive`.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from codemode.errors import FileNotFound, InvalidArgument, LimitExceeded, PathNotAllowed
from codemode.sandbox.workdir import remove_tree
from codemode.storage.atomic import write_atomically

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
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
        *parents, name = required_parts(path)
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
        *parents, name = required_parts(path)
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
        *parents, name = required_parts(path)
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
        root = open_root(self.root)
        try:
            with walk(root, parts, create) as fd:
                yield fd
        finally:
            os.close(root)


@contextmanager
def walk(base: int, parts: list[str], create: bool = False, prefix: str = "") -> Iterator[int]:
    """A descriptor of directory ``parts`` under the open directory ``base``, reached without following any link."""
    fd = os.dup(base)
    try:
        for index, part in enumerate(parts):
            if create:
                _make_dir(fd, part)
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise _path_error(exc, fd, part, prefix + "/".join(parts[: index + 1])) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def open_root(root: Path) -> int:
    """The session directory, refused if something put a link in its place (possible without a sandbox)."""
    try:
        return os.open(root, DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise PathNotAllowed(
                f"the session directory {str(root)!r} was replaced by a symbolic link or a file: it is never followed"
            ) from None
        raise


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


def required_parts(path: object) -> list[str]:
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


def remove_tree_at(dir_fd: int, name: str) -> None:
    """Remove directory ``name`` under ``dir_fd`` with all it holds, at any depth, never following a link.

    shutil's descriptor walk first (it refuses a link at ``name`` and never leaves the tree); a tree
    nested deeper than Python's recursion goes to ``rm -rf``, which walks it iteratively. OSError if
    something could not be removed.
    """
    try:
        shutil.rmtree(name, dir_fd=dir_fd)
    except RecursionError:
        remove_tree(Path(f"/proc/{os.getpid()}/fd/{dir_fd}") / name)  # the directory we hold, not a name
        if os.path.lexists(Path(f"/proc/{os.getpid()}/fd/{dir_fd}") / name):
            raise OSError(errno.ENOTEMPTY, "the tree could not be removed whole") from None


def _delete_at(dir_fd: int, name: str, recursive: bool, shown: str) -> bool:
    try:
        try:
            os.unlink(name, dir_fd=dir_fd)  # a file, or a link itself (unlink never follows one)
        except IsADirectoryError:
            if recursive:
                remove_tree_at(dir_fd, name)
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
