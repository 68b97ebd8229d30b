"""run_code over MCP: the same fields as ``ExecutionResult``, as JSON, all declared in the output schema."""

from __future__ import annotations

import pytest
from mcp import Client

pytestmark = pytest.mark.anyio


async def test_output_schema_declares_every_field(client: Client):
    run_code = next(tool for tool in (await client.list_tools()).tools if tool.name == "run_code")
    assert run_code.output_schema is not None
    declared = set(run_code.output_schema["properties"])
    expected = {"value", "value_repr", "stdout", "stderr", "error", "error_info", "is_ok", "execution_time_ms"}
    assert expected | {"duration_ms", "truncated", "state_lost", "session_id", "execution_count"} <= declared


async def test_json_values_arrive_as_json(client: Client):
    result = await client.call_tool("run_code", {"code": "{'a': [1, 2.5, None, True]}"})
    assert result.structured_content is not None
    assert result.structured_content["value"] == {"a": [1, 2.5, None, True]}


async def test_values_that_json_cannot_hold_arrive_as_their_repr(client: Client):
    result = await client.call_tool("run_code", {"code": "(1, b'x', {2})"})
    assert result.structured_content is not None
    assert result.structured_content["value"] == result.structured_content["value_repr"] == "(1, b'x', {2})"


async def test_an_error_carries_its_message_and_detail(client: Client):
    result = await client.call_tool("run_code", {"code": "raise ValueError('bad input')"})
    content = result.structured_content
    assert content is not None and result.is_error
    assert (content["error"], content["is_ok"]) == ("ValueError: bad input", False)
    assert content["error_info"]["type"] == "ValueError" and "raise ValueError" in content["error_info"]["traceback"]
