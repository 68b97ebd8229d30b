"""``FileStorage``: a workspace directory (the default).

A collection is a directory under the base (``workflows/``, ``artifacts/``,
``artifacts/.meta/``), a key is a file name; the ``workspace`` collection is the
base itself (``requirements.txt``). File I/O runs in worker threads.

Writes go to a temporary file in the same directory, flushed to the disk, and are
moved into place with ``os.replace`` (:func:`~codemode.storage.atomic.write_atomically`), so
a crash, a power loss or a full disk leaves the old value intact. A writer holds an
``flock`` on its temporary file, so the first use of a collection can remove the ones
a killed process left behind without touching a live writer's (several servers may
share one workspace).

Symbolic links are never followed below the base: every path is walked one
directory at a time with ``O_NOFOLLOW``, so a link planted in ``artifacts/``
cannot make a read return another file. Reading one is refused with a clear
error; listings skip it (and anything else that is not a valid key) with a warning.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio.to_thread

from codemode.errors import StorageError
from codemode.storage.atomic import TEMP_PREFIX, write_atomically
from codemode.storage.base import WORKSPACE, WorkflowLibrary, check_key, is_valid_key, skip_entry

logger = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted under a key's name must not hang the reader; regular files ignore it.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FileStorage(WorkflowLibrary):
    """Storage in a directory tree: ``{base}/{collection}/{key}``."""

    def __init__(self, base_path: str | Path) -> None:
        self.base_path = Path(base_path).expanduser().resolve()
        self._swept: set[str] = set()

    @property
    def location(self) -> str:
        return str(self.base_path)

    async def read(self, collection: str, key: str) -> bytes | None:
        check_key(collection, key)
        return await anyio.to_thread.run_sync(self._read, collection, key)

    async def read_all(self, collection: str) -> dict[str, bytes]:
        check_key(collection, "x")
        return await anyio.to_thread.run_sync(self._read_all, collection)

    async def write(self, collection: str, key: str, data: bytes) -> None:
        check_key(collection, key)
        await anyio.to_thread.run_sync(self._write, collection, key, data)

    async def delete(self, collection: str, key: str) -> bool:
        check_key(collection, key)
        return await anyio.to_thread.run_sync(self._delete, collection, key)

    async def keys(self, collection: str) -> list[str]:
        check_key(collection, "x")
        return await anyio.to_thread.run_sync(self._keys, collection)

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"FileStorage({str(self.base_path)!r})"

    # The blocking halves, run in worker threads.

    def _read(self, collection: str, key: str) -> bytes | None:
        with self._directory(collection) as directory:
            return None if directory is None else _read_file(directory, key, self._where(collection, key))

    def _keys(self, collection: str) -> list[str]:
        with self._directory(collection, listing=True) as directory:
            return [] if directory is None else _list_keys(directory, self._where(collection))

    def _read_all(self, collection: str) -> dict[str, bytes]:
        values = {}
        with self._directory(collection, listing=True) as directory:
            if directory is None:
                return {}
            for key in _list_keys(directory, self._where(collection)):
                try:
                    value = _read_file(directory, key, self._where(collection, key))
                except StorageError as exc:  # changed since it was listed (now a link, unreadable)
                    skip_entry(self._where(collection), key, str(exc))
                    continue
                if value is not None:
                    values[key] = value
        return values

    def _write(self, collection: str, key: str, data: bytes) -> None:
        where = self._where(collection, key)
        with self._directory(collection, create=True) as directory:
            assert directory is not None
            _write_file(directory, key, data, where)

    def _delete(self, collection: str, key: str) -> bool:
        with self._directory(collection) as directory:
            if directory is None:
                return False
            try:
                os.unlink(key, dir_fd=directory)  # a link is removed itself, never its target
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise StorageError(f"cannot delete {self._where(collection, key)}: {exc.strerror}") from exc
            return True

    @contextmanager
    def _directory(self, collection: str, *, create: bool = False, listing: bool = False) -> Iterator[int | None]:
        """A descriptor of the collection's directory, reached without following links; None if absent.

        A link or non-directory on the way is an error, except for a listing, which skips it with a warning.
        """
        parts = [] if collection == WORKSPACE else collection.split("/")
        try:
            fd = _open_directory(self.base_path, parts, create)
        except _NotADirectory as exc:
            if not listing:
                raise StorageError(f"{exc}; codemode never follows links in its storage: remove or rename it") from None
            skip_entry(str(self.base_path), str(exc.path), "a symbolic link or not a directory")
            fd = None
        except OSError as exc:
            raise StorageError(f"cannot open {self._where(collection)}: {exc.strerror}") from exc
        try:
            if fd is not None and collection not in self._swept:
                self._swept.add(collection)
                _remove_leftovers(fd, self._where(collection))
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    def _where(self, collection: str, key: str | None = None) -> str:
        directory = self.base_path if collection == WORKSPACE else self.base_path / collection
        return str(directory if key is None else directory / key)


class _NotADirectory(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is a symbolic link or not a directory")
        self.path = path


def _open_directory(base: Path, parts: list[str], create: bool) -> int | None:
    if create:
        base.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the base is the operator's choice
    except FileNotFoundError:
        return None
    path = base
    try:
        for part in parts:
            path = path / part
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile by another writer
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _NotADirectory(path) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_file(directory: int, key: str, where: str) -> bytes | None:
    try:
        fd = os.open(key, _READ_FLAGS, dir_fd=directory)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StorageError(
                f"{where} is a symbolic link; codemode never follows links in its storage: remove it"
            ) from None
        raise StorageError(f"cannot read {where}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            return None
        if not stat.S_ISREG(mode):
            raise StorageError(f"{where} is not a regular file; remove it")
        try:
            return handle.read()
        except OSError as exc:
            raise StorageError(f"cannot read {where}: {exc.strerror}") from exc


def _list_keys(directory: int, where: str) -> list[str]:
    """The regular files that are valid keys; hidden names (``.meta``, temporary files) are not keys."""
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        raise StorageError(f"cannot list {where}: {exc.strerror}") from exc
    keys = []
    for entry in entries:
        if entry.name.startswith(".") or entry.is_dir(follow_symlinks=False):
            continue
        if entry.is_symlink():
            skip_entry(where, entry.name, "a symbolic link (links are never followed)")
        elif not entry.is_file(follow_symlinks=False):
            skip_entry(where, entry.name, "not a regular file")
        elif not is_valid_key(entry.name):
            skip_entry(where, entry.name, "not a valid storage key")
        else:
            keys.append(entry.name)
    return sorted(keys)


def _write_file(directory: int, key: str, data: bytes, where: str) -> None:
    try:
        write_atomically(directory, key, data)
    except OSError as exc:
        raise StorageError(f"cannot write {where}: {exc.strerror}; the previous value is unchanged") from exc


def _remove_leftovers(directory: int, where: str) -> None:
    """Remove temporary files of writers that died (no lock held on them): what a crash left behind."""
    try:
        names = [entry.name for entry in os.scandir(directory) if entry.name.startswith(TEMP_PREFIX)]
    except OSError:
        return
    for name in names:
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=directory)
        except OSError:
            continue  # gone already, or a link: not ours
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer's
            _unlink_quietly(directory, name)
            logger.info("removed %s/%s, left behind by an interrupted write", where, name)
        finally:
            os.close(fd)


def _unlink_quietly(directory: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=directory)
    except OSError:
        pass
