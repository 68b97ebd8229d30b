"""The storage protocol: named collections of byte values.

Everything persistent (workflows, artifacts, tool definitions, session records)
is a value in a collection, so a backend implements five small operations once
and every feature works on it. The features (``workflows.py``, ``artifacts.py``)
own the formats; a backend only moves bytes, atomically.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from codemode.errors import InvalidName

WORKSPACE = "workspace"
"""The collection of files at the workspace root, such as ``requirements.txt``."""

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,250}$")
_COLLECTION = re.compile(r"^[a-z_]+(/\.?[a-z_]+)*$")


@runtime_checkable
class Storage(Protocol):
    """Where a workspace keeps its data. ``FileStorage`` and ``RedisStorage`` implement it."""

    @property
    def location(self) -> str:
        """Where the data lives, for humans: a directory or a Redis URL and prefix."""
        ...

    async def read(self, collection: str, key: str) -> bytes | None:
        """The value, or None if there is none."""
        ...

    async def read_all(self, collection: str) -> dict[str, bytes]:
        """Every key and value of the collection."""
        ...

    async def write(self, collection: str, key: str, data: bytes) -> None:
        """Store ``data`` atomically: readers see the old value or the new one, never a mix."""
        ...

    async def delete(self, collection: str, key: str) -> bool:
        """Remove the value; False if there was none."""
        ...

    async def keys(self, collection: str) -> list[str]:
        """The keys of the collection, sorted."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def check_key(collection: str, key: str) -> None:
    """Refuse anything that could leave its collection (``..``, ``/``) before it reaches a path."""
    if not _COLLECTION.fullmatch(collection):
        raise InvalidName(f"invalid storage collection {collection!r}")
    if not isinstance(key, str) or not _KEY.fullmatch(key) or ".." in key:
        raise InvalidName(f"invalid storage key {key!r}: no path separators, no '..', at most 251 characters")
