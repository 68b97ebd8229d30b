"""The MCP tools, through the official client connected in memory (the worker is still real)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from codemode.models import ExecutionLimits
from codemode.server import ServerSettings, create_server
from tests.server.conftest import text_of

pytestmark = pytest.mark.anyio


async def test_run_code_returns_structured_content_and_a_readable_text(client: Client):
    result = await client.call_tool("run_code", {"code": "print('hello')\n6 * 7"})
    content = result.structured_content
    assert content is not None
    assert (content["stdout"], content["value"], content["is_ok"]) == ("hello\n", 42, True)
    assert content["session_id"]
    assert text_of(result) == "hello\n[value] 42"


async def test_every_result_names_the_same_default_session(client: Client):
    first = await client.call_tool("run_code", {"code": "1"})
    info = await client.call_tool("session_info", {})
    assert first.structured_content["session_id"] == info.structured_content["session_id"]  # type: ignore[index]


async def test_timeouts_above_the_server_maximum_are_refused(workspace: Path):
    server = create_server(ServerSettings(base=workspace, timeout=5, limits=ExecutionLimits(max_timeout=5)))
    async with Client(server) as client:
        result = await client.call_tool("run_code", {"code": "1", "timeout": 60})
        assert result.is_error
        assert "at most 5 s (--max-timeout)" in text_of(result)
        assert not (await client.call_tool("run_code", {"code": "1", "timeout": 5})).is_error


async def test_soft_reset_keeps_the_worker(client: Client):
    await client.call_tool("run_code", {"code": "x = 1"})
    before = await client.call_tool("session_info", {})
    reset = await client.call_tool("reset_session", {})
    after = await client.call_tool("session_info", {})
    assert reset.structured_content["hard"] is False  # type: ignore[index]
    assert before.structured_content["worker_pid"] == after.structured_content["worker_pid"]  # type: ignore[index]
    assert (await client.call_tool("run_code", {"code": "x"})).is_error


async def test_inprocess_executor_can_be_chosen(workspace: Path):
    async with Client(create_server(ServerSettings(base=workspace, executor="inprocess"))) as client:
        info = await client.call_tool("session_info", {})
        assert info.structured_content["executor"] == "inprocess"  # type: ignore[index]
        assert (await client.call_tool("run_code", {"code": "2 + 2"})).structured_content["value"] == 4  # type: ignore[index]


async def test_truncated_output_is_said_in_the_text(workspace: Path):
    settings = ServerSettings(base=workspace)
    settings.limits.output_cap = 100
    async with Client(create_server(settings)) as client:
        result = await client.call_tool("run_code", {"code": "print('x' * 500)"})
        assert result.structured_content["truncated"] is True  # type: ignore[index]
        assert "truncated" in text_of(result)
