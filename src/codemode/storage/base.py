"""The storage protocol: named collections of byte values.

Everything persistent (workflows, artifacts, tool definitions, session records)
is a value in a collection, so a backend implements five small operations once
and every feature works on it. The features (``workflows.py``, ``artifacts.py``)
own the formats; a backend only moves bytes, atomically.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from codemode.errors import InvalidName

logger = logging.getLogger("codemode.storage")

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
        """Every key and value of the collection; a bad entry is skipped with a warning, never an error."""
        ...

    async def write(self, collection: str, key: str, data: bytes) -> None:
        """Store ``data`` atomically: readers see the old value or the new one, never a mix."""
        ...

    async def delete(self, collection: str, key: str) -> bool:
        """Remove the value; False if there was none."""
        ...

    async def keys(self, collection: str) -> list[str]:
        """The keys of the collection, sorted; a bad entry is skipped with a warning, never an error."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def check_key(collection: str, key: str) -> None:
    """Refuse anything that could leave its collection (``..``, ``/``) before it reaches a path."""
    if not _COLLECTION.fullmatch(collection):
        raise InvalidName(f"invalid storage collection {collection!r}")
    if not isinstance(key, str) or not is_valid_key(key):
        raise InvalidName(f"invalid storage key {key!r}: no path separators, no '..', at most 251 characters")


def is_valid_key(key: str) -> bool:
    """Whether a key found in storage is one that ``check_key`` would accept."""
    return bool(_KEY.fullmatch(key)) and ".." not in key


def skip_entry(where: str, entry: object, why: str) -> None:
    """Log an entry that a listing leaves out: one bad entry must not fail the listing for everyone."""
    logger.warning("skipped %r in %s: %s", entry, where, why)


class WorkflowLibrary:
    """py-code-mode's ``storage.get_skill_library()`` (and ``get_workflow_library()``) on our backends.

    The workflow store is a layer above storage (:mod:`codemode.workspace.workflows`) and
    registers itself here as ``store_type`` when it is imported, so storage never imports it.
    """

    store_type: ClassVar[Callable[[Any], Any] | None] = None

    def get_workflow_library(self) -> Any:
        """The workflows in this storage (the same ones every session on it sees): a ``WorkflowStore``."""
        if WorkflowLibrary.store_type is None:
            raise RuntimeError("import codemode (or codemode.workspace.workflows) before asking for the workflows")
        return WorkflowLibrary.store_type(self)

    def get_skill_library(self) -> Any:
        """py-code-mode's name for :meth:`get_workflow_library`."""
        return self.get_workflow_library()
