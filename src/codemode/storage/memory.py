"""``MemoryStorage``: the storage protocol in a dict, for tests and throwaway sessions (coda's memory backend).

Everything is lost when the process exits. Keys are checked like on the other
backends, so code that works here works on files and Redis.
"""

from __future__ import annotations

from codemode.storage.base import WorkflowLibrary, check_key


class MemoryStorage(WorkflowLibrary):
    """Collections of bytes in this process's memory."""

    def __init__(self) -> None:
        self._collections: dict[str, dict[str, bytes]] = {}

    @property
    def location(self) -> str:
        return "memory"

    async def read(self, collection: str, key: str) -> bytes | None:
        check_key(collection, key)
        return self._collections.get(collection, {}).get(key)

    async def read_all(self, collection: str) -> dict[str, bytes]:
        check_key(collection, "x")
        return dict(sorted(self._collections.get(collection, {}).items()))

    async def write(self, collection: str, key: str, data: bytes) -> None:
        check_key(collection, key)
        self._collections.setdefault(collection, {})[key] = bytes(data)

    async def delete(self, collection: str, key: str) -> bool:
        check_key(collection, key)
        return self._collections.get(collection, {}).pop(key, None) is not None

    async def keys(self, collection: str) -> list[str]:
        check_key(collection, "x")
        return sorted(self._collections.get(collection, {}))

    async def close(self) -> None:
        """Nothing to release: the data stays until the object is dropped."""

    def __repr__(self) -> str:
        return "MemoryStorage()"
