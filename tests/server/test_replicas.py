"""Several servers on one Redis share the workspace; Redis failing is a clear error, not a crash."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from tests.conftest import REDIS_URL, open_redis_storage
from tests.server.conftest import HttpServer, free_port, text_of

pytestmark = pytest.mark.anyio

Start = Callable[..., Awaitable[HttpServer]]


@pytest.fixture
async def redis_flags() -> AsyncIterator[list[str]]:
    """Flags for a server on the test Redis, under a prefix of this test's own (removed afterwards)."""
    async with open_redis_storage() as storage:
        yield ["--storage", "redis", "--redis-url", REDIS_URL, "--redis-prefix", storage.prefix]


async def test_two_replicas_share_workflows_and_artifacts_at_once(
    http_server: Start, redis_flags: list[str], tmp_path: Path
):
    # Separate workspace directories: whatever they share, they share through Redis.
    first_base, second_base = tmp_path / "one", tmp_path / "two"
    first_base.mkdir()
    second_base.mkdir()
    first = await http_server(*redis_flags, base=first_base)
    second = await http_server(*redis_flags, base=second_base)
    async with first.client() as one, second.client() as two:
        added = await one.call_tool("add_workflow", {"name": "triple", "source": "def run(x):\n    return 3 * x\n"})
        assert not added.is_error, text_of(added)
        invoked = await two.call_tool("run_code", {"code": "workflows.invoke('triple', x=5)"})
        assert invoked.structured_content["value"] == 15  # type: ignore[index]
        await two.call_tool("run_code", {"code": "artifacts.save('from_two', {'replica': 2})"})
        loaded = await one.call_tool("load_artifact", {"name": "from_two"})
        assert loaded.structured_content["data"] == {"replica": 2}  # type: ignore[index]
        resources = [str(r.uri) for r in (await one.list_resources()).resources]
        assert "artifact://from_two" in resources
    assert not any(first_base.joinpath(folder).exists() for folder in ("workflows", "artifacts"))


async def test_tool_definitions_come_from_the_workspace_directory(
    http_server: Start, redis_flags: list[str], workspace: Path
):
    (workspace / "tools").mkdir()
    (workspace / "tools" / "hello.yaml").write_text("name: hello\ndescription: Say hello\ncommand: echo\n")
    server = await http_server(*redis_flags)
    async with server.client() as client:
        listing = await client.call_tool("list_tools", {})
        assert [tool["name"] for tool in listing.structured_content["tools"]] == ["hello"]  # type: ignore[index]


def test_redis_down_at_start_is_a_clear_error(workspace: Path):
    result = subprocess.run(
        [sys.executable, "-m", "codemode", "--transport", "http", "--port", str(free_port()),
         "--storage", "redis", "--redis-url", "redis://127.0.0.1:1/0", "--base", str(workspace)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Redis at redis://127.0.0.1:1/0 failed" in result.stderr


class PrivateRedis:
    """A redis-server of this test's own, which it can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
async def private_redis(redis_flags: list[str]) -> AsyncIterator[PrivateRedis]:  # needs Redis like the others
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed, so this test cannot stop and restart one")
    redis = PrivateRedis()
    redis.start()
    await anyio.sleep(0.3)
    yield redis
    redis.stop()


async def test_losing_redis_fails_the_calls_that_need_it_and_recovers(http_server: Start, private_redis: PrivateRedis):
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    server = await http_server("--storage", "redis", "--redis-url", url)
    async with server.client() as client:
        assert not (await client.call_tool("save_artifact", {"name": "before", "data": 1})).is_error
        await client.call_tool("run_code", {"code": "kept = 'in memory'"})
        private_redis.stop()
        failed = await client.call_tool("save_artifact", {"name": "during", "data": 2})
        assert failed.is_error and "Redis at" in text_of(failed) and "nothing was changed" in text_of(failed)
        from_code = await client.call_tool("run_code", {"code": "artifacts.list()"})
        assert from_code.structured_content["error_info"]["type"] == "StorageError"  # type: ignore[index]
        pure = await client.call_tool("run_code", {"code": "kept + ' still'"})
        assert pure.structured_content["value"] == "in memory still"  # type: ignore[index]
        private_redis.start()
        with anyio.fail_after(10):
            while (await client.call_tool("save_artifact", {"name": "after", "data": 3})).is_error:
                await anyio.sleep(0.2)
        loaded = await client.call_tool("load_artifact", {"name": "after"})
        assert loaded.structured_content["data"] == 3  # type: ignore[index]
