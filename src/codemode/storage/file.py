"""``FileStorage``: a workspace directory (the default).

A collection is a directory under the base (``workflows/``, ``artifacts/``,
``artifacts/.meta/``), a key is a file name; the ``workspace`` collection is the
base itself (``requirements.txt``). Writes go to a temporary file in the
same directory and are moved into place with ``os.replace``, so a crash or a full
disk leaves the old value intact. File I/O runs in worker threads.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anyio.to_thread

from codemode.errors import StorageError
from codemode.storage.base import WORKSPACE, check_key

_TEMP_PREFIX = ".tmp-"


class FileStorage:
    """Storage in a directory tree: ``{base}/{collection}/{key}``."""

    def __init__(self, base_path: str | Path) -> None:
        self.base_path = Path(base_path).expanduser().resolve()

    @property
    def location(self) -> str:
        return str(self.base_path)

    def _path(self, collection: str, key: str | None = None) -> Path:
        check_key(collection, "x" if key is None else key)
        directory = self.base_path if collection == WORKSPACE else self.base_path / collection
        return directory if key is None else directory / key

    async def read(self, collection: str, key: str) -> bytes | None:
        return await anyio.to_thread.run_sync(_read, self._path(collection, key))

    async def read_all(self, collection: str) -> dict[str, bytes]:
        return await anyio.to_thread.run_sync(_read_all, self._path(collection))

    async def write(self, collection: str, key: str, data: bytes) -> None:
        await anyio.to_thread.run_sync(_write_atomic, self._path(collection, key), data)

    async def delete(self, collection: str, key: str) -> bool:
        return await anyio.to_thread.run_sync(_delete, self._path(collection, key))

    async def keys(self, collection: str) -> list[str]:
        return await anyio.to_thread.run_sync(_keys, self._path(collection))

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"FileStorage({str(self.base_path)!r})"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc


def _keys(directory: Path) -> list[str]:
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise StorageError(f"cannot list {directory}: {exc.strerror}") from exc
    return sorted(entry.name for entry in entries if entry.is_file() and not entry.name.startswith("."))


def _read_all(directory: Path) -> dict[str, bytes]:
    values = {key: _read(directory / key) for key in _keys(directory)}
    return {key: value for key, value in values.items() if value is not None}


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError as exc:
        os.unlink(temp)
        raise StorageError(f"cannot write {path}: {exc.strerror}; the previous value is unchanged") from exc


def _delete(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StorageError(f"cannot delete {path}: {exc.strerror}") from exc
    return True
