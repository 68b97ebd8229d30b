"""Shared fixtures: the anyio backend, a fresh workspace, sessions with real workers."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from codemode import Session
from codemode.errors import StorageError
from codemode.storage import FileStorage, Storage
from codemode.storage.redis import RedisStorage

# Session venvs go to a cache of this test run, not the user's ~/.cache/codemode.
os.environ.setdefault("CODEMODE_CACHE_DIR", tempfile.mkdtemp(prefix="codemode-test-cache-"))
os.environ.setdefault("CODEMODE_STATE_DIR", tempfile.mkdtemp(prefix="codemode-test-state-"))
# Most tests exercise one MCP tool each, which the full profile offers; the code profile's own tests ask for it.
os.environ.setdefault("CODEMODE_MCP_TOOLS", "full")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace directory."""
    base = tmp_path / "workspace"
    base.mkdir()
    return base


@pytest.fixture
async def session(workspace: Path) -> AsyncIterator[Session]:
    """A started session with a real worker process on an empty workspace."""
    async with Session.from_base(workspace, timeout=10) as started:
        yield started


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return f"codemode-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["file", "redis"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Each storage backend in turn, so one test specifies them all: files, then Redis (a unique prefix)."""
    if request.param == "redis":
        async with open_redis_storage() as redis:
            yield redis
        return
    backend = FileStorage(tmp_path / "store")
    yield backend
    await backend.close()


@pytest.fixture
async def redis_storage() -> AsyncIterator[RedisStorage]:
    """RedisStorage on the real server at REDIS_URL, under a unique prefix that is deleted afterwards."""
    async with open_redis_storage() as storage:
        yield storage


@asynccontextmanager
async def open_redis_storage() -> AsyncIterator[RedisStorage]:
    """Without a reachable Redis the test is skipped, saying why; with CODEMODE_REQUIRE_REDIS=1 (CI) it fails."""
    storage = RedisStorage(REDIS_URL, prefix=redis_prefix())
    try:
        await storage.ping()
    except StorageError as exc:
        await storage.close()
        if os.environ.get("CODEMODE_REQUIRE_REDIS") == "1":
            pytest.fail(f"CODEMODE_REQUIRE_REDIS=1 but Redis is unreachable: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL} (set REDIS_URL; CODEMODE_REQUIRE_REDIS=1 makes this a failure): {exc}")
    try:
        yield storage
    finally:
        await drop_prefix(storage.prefix)
        await storage.close()


async def drop_prefix(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
