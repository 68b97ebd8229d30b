"""``RedisStorage``: the same collections in Redis, so several servers share one workspace.

A collection is one hash, ``{prefix}:{collection}``; a key is a field. ``HSET`` is
atomic, so readers see the old value or the new one, and a write is reported done
only once Redis has it. Network failures become ``StorageError`` saying Redis is
unreachable and that nothing changed; redis-py reconnects on the next call, so the
server recovers by itself when Redis is back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from redis.connection import SSLConnection
from redis.exceptions import RedisError, ResponseError

from codemode.errors import StorageError
from codemode.names import validate_name
from codemode.storage.base import WorkflowLibrary, check_key, is_valid_key, skip_entry

T = TypeVar("T")
DEFAULT_PREFIX = "codemode"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
_TIMEOUT = 5.0
_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": _TIMEOUT,
    "socket_connect_timeout": _TIMEOUT,
    "health_check_interval": 30,
}


class RedisStorage(WorkflowLibrary):
    """Storage in Redis hashes under ``prefix``."""

    def __init__(self, url: str | None = None, prefix: str = DEFAULT_PREFIX, *, redis: Any = None) -> None:
        """``url`` (default ``redis://127.0.0.1:6379/0``), or ``redis``: a client made by the caller.

        ``redis`` may be a ``redis.asyncio.Redis`` (used as it is, and left open on close) or a
        ``redis.Redis`` (py-code-mode's kind: its host, port, db and credentials are reused).
        """
        if url is not None and redis is not None:
            raise ValueError("give RedisStorage either url= or redis= (a client), not both")
        self.prefix = validate_name(prefix, "Redis key prefix")
        self._owns_client = redis is None or not isinstance(redis, aioredis.Redis)
        if redis is None:
            self.url = url or DEFAULT_URL
            self._client = aioredis.Redis.from_url(self.url, **_CLIENT_OPTIONS)
        else:
            self._client = _async_client(redis)
            self.url = _client_url(self._client)

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
        values = await self._listing(
            collection, cast(Awaitable[dict[bytes, bytes]], self._client.hgetall(self._hash(collection)))
        )
        values = values or {}
        return {key: values[key.encode()] for key in self._valid_keys(collection, values)}

    async def write(self, collection: str, key: str, data: bytes) -> None:
        check_key(collection, key)
        await self._do(cast(Awaitable[int], self._client.hset(self._hash(collection), key, data)))

    async def delete(self, collection: str, key: str) -> bool:
        check_key(collection, key)
        return bool(await self._do(cast(Awaitable[int], self._client.hdel(self._hash(collection), key))))

    async def keys(self, collection: str) -> list[str]:
        fields = await self._listing(
            collection, cast(Awaitable[list[bytes]], self._client.hkeys(self._hash(collection)))
        )
        return self._valid_keys(collection, fields or [])

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _listing(self, collection: str, awaitable: Awaitable[T]) -> T | None:
        """A listing of a key that is not a hash (set by something else) is empty, with a warning."""
        try:
            return await awaitable
        except ResponseError as exc:
            if "WRONGTYPE" not in str(exc):
                raise self._failed(exc) from None
        except RedisError as exc:
            raise self._failed(exc) from None
        skip_entry(self.location, self._hash(collection), "not a Redis hash, so not a collection")
        return None

    def _valid_keys(self, collection: str, fields: Iterable[bytes]) -> list[str]:
        """The fields that are valid keys, decoded; a foreign field is skipped with a warning."""
        keys = []
        for field in fields:
            try:
                key = field.decode()
            except UnicodeDecodeError:
                key = None
            if key is None or not is_valid_key(key):
                skip_entry(f"{self.location} {self._hash(collection)}", field, "not a valid storage key")
            else:
                keys.append(key)
        return sorted(keys)

    async def _do(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except RedisError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: RedisError) -> StorageError:
        return StorageError(
            f"Redis at {_without_password(self.url)} failed: {exc}; nothing was changed, retry when it is back"
        )

    def __repr__(self) -> str:
        return f"RedisStorage({self.location!r})"


def _async_client(client: Any) -> aioredis.Redis:
    """An asyncio client for ``client``: itself, or one to the same server as a synchronous client."""
    if isinstance(client, aioredis.Redis):
        return client
    if not isinstance(client, SyncRedis):
        raise TypeError(f"redis must be a redis.Redis or redis.asyncio.Redis client, not {type(client).__name__}")
    kwargs = client.connection_pool.connection_kwargs
    credentials = {key: kwargs.get(key) for key in ("db", "username", "password")}
    if "path" in kwargs:
        return aioredis.Redis(unix_socket_path=kwargs["path"], **credentials, **_CLIENT_OPTIONS)
    ssl = issubclass(client.connection_pool.connection_class, SSLConnection)
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return aioredis.Redis(host=host, port=port, ssl=ssl, **credentials, **_CLIENT_OPTIONS)


def _client_url(client: aioredis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    scheme = "rediss" if issubclass(client.connection_pool.connection_class, aioredis.SSLConnection) else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))
