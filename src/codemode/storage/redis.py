"""``RedisStorage``: the same collections in Redis, so several servers share one workspace.

A collection is one hash, ``{prefix}:{collection}``; a key is a field. ``HSET`` is
atomic, so readers see the old value or the new one, and a write is reported done
only once Redis has it. Network failures become ``StorageError`` saying Redis is
unreachable and that nothing changed; redis-py reconnects on the next call, so the
server recovers by itself when Redis is back.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from codemode.errors import StorageError
from codemode.names import validate_name
from codemode.storage.base import check_key

T = TypeVar("T")
DEFAULT_PREFIX = "codemode"
_TIMEOUT = 5.0


class RedisStorage:
    """Storage in Redis hashes under ``prefix``."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = validate_name(prefix, "Redis key prefix")
        self.url = url
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT, health_check_interval=30
        )

    @property
    def location(self) -> str:
        return f"{_without_password(self.url)}#{self.prefix}"

    def _hash(self, collection: str) -> str:
        check_key(collection, "x")
        return f"{self.prefix}:{collection}"

    async def ping(self) -> None:
        """Fail with a clear ``StorageError`` unless Redis answers."""
        await self._do(cast(Awaitable[bool], self._client.ping()))

    async def read(self, collection: str, key: str) -> bytes | None:
        check_key(collection, key)
        return await self._do(cast(Awaitable[bytes | None], self._client.hget(self._hash(collection), key)))

    async def read_all(self, collection: str) -> dict[str, bytes]:
        values = await self._do(cast(Awaitable[dict[bytes, bytes]], self._client.hgetall(self._hash(collection))))
        return {field.decode(): value for field, value in values.items()}

    async def write(self, collection: str, key: str, data: bytes) -> None:
        check_key(collection, key)
        await self._do(cast(Awaitable[int], self._client.hset(self._hash(collection), key, data)))

    async def delete(self, collection: str, key: str) -> bool:
        check_key(collection, key)
        return bool(await self._do(cast(Awaitable[int], self._client.hdel(self._hash(collection), key))))

    async def keys(self, collection: str) -> list[str]:
        fields = await self._do(cast(Awaitable[list[bytes]], self._client.hkeys(self._hash(collection))))
        return sorted(field.decode() for field in fields)

    async def close(self) -> None:
        await self._client.aclose()

    async def _do(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except RedisError as exc:
            raise StorageError(
                f"Redis at {_without_password(self.url)} failed: {exc}; nothing was changed, retry when it is back"
            ) from None

    def __repr__(self) -> str:
        return f"RedisStorage({self.location!r})"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))
