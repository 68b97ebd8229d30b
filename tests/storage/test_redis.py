"""What only RedisStorage does: hashes under a prefix, clear errors when Redis is gone."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from codemode.errors import InvalidName, StorageError
from codemode.storage.redis import RedisStorage
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.anyio


async def test_collections_are_hashes_under_the_prefix(redis_storage: RedisStorage):
    await redis_storage.write("workflows", "a.py", b"code")
    client = aioredis.Redis.from_url(REDIS_URL)
    assert await client.hget(f"{redis_storage.prefix}:workflows", "a.py") == b"code"
    await client.aclose()


async def test_two_prefixes_do_not_see_each_other(redis_storage: RedisStorage):
    other = RedisStorage(REDIS_URL, prefix=redis_storage.prefix + "-other")
    await redis_storage.write("artifacts", "a", b"1")
    assert await other.keys("artifacts") == []
    await other.close()


async def test_an_unreachable_redis_is_a_clear_storage_error():
    storage = RedisStorage("redis://127.0.0.1:1/0", prefix="nowhere")
    with pytest.raises(StorageError, match="Redis at redis://127.0.0.1:1/0 failed: .*nothing was changed"):
        await storage.read("artifacts", "a")
    await storage.close()


async def test_the_location_never_shows_a_password():
    storage = RedisStorage("redis://user:secret@127.0.0.1:6379/0", prefix="p")
    assert "secret" not in storage.location
    assert storage.location == "redis://user:***@127.0.0.1:6379/0#p"
    await storage.close()


def test_the_prefix_follows_the_name_rule():
    with pytest.raises(InvalidName):
        RedisStorage(REDIS_URL, prefix="a:b*")
