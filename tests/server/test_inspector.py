"""The MCP Inspector's CLI, a client nobody here wrote, against the real server over stdio and HTTP.

Needs Node.js and npx: without them these tests are skipped, saying why; with CODEMODE_REQUIRE_NODE=1
(CI) that is a failure. The Inspector is fetched once (npx keeps it in its cache, ~/.npm/_npx).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from tests.npm import npx_with
from tests.server.conftest import HttpServer

pytestmark = pytest.mark.anyio

# The newest Inspector that runs on Node 20: 0.16 and later declare node >= 22.7.5, 2.x node >= 22.19.
# 0.15.0 declares no engine and runs on newer Node too. CODEMODE_INSPECTOR_VERSION picks another one.
INSPECTOR = f"@modelcontextprotocol/inspector@{os.environ.get('CODEMODE_INSPECTOR_VERSION', '0.15.0')}"
CALL_TIMEOUT = 120


@pytest.fixture(scope="session")
def npx() -> str:
    """npx, with the pinned Inspector in its cache: fetched once per test session, from then on offline."""
    return npx_with(INSPECTOR, "--help")


async def _inspect(npx: str, target: list[str], *method: str) -> dict[str, Any]:
    command = [npx, "-y", INSPECTOR, "--cli", *target, *method]
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, capture_output=True, text=True, timeout=CALL_TIMEOUT)
    )
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(params=["stdio", "http"])
async def target(
    request: pytest.FixtureRequest, workspace: Path, http_server: Callable[..., Awaitable[HttpServer]]
) -> list[str]:
    """How the Inspector reaches the server: the command it starts (stdio), or the URL of a running one."""
    (workspace / "artifacts").mkdir()
    (workspace / "artifacts" / "notes.txt").write_text("kept between sessions\n")
    if request.param == "stdio":
        # No --log-level: the Inspector's CLI takes that flag for itself, even after the server command.
        return [sys.executable, "-m", "codemode", "--base", str(workspace)]
    server = await http_server()
    return [f"{server.url}/mcp"]


async def test_inspector_lists_the_tools(npx: str, target: list[str]):
    listed = await _inspect(npx, target, "--method", "tools/list")
    tools = {tool["name"]: tool for tool in listed["tools"]}
    assert {"run_code", "list_tools", "save_artifact"} <= set(tools)
    assert "artifacts" in tools["run_code"]["description"]


async def test_inspector_runs_code(npx: str, target: list[str]):
    called = await _inspect(
        npx, target, "--method", "tools/call", "--tool-name", "run_code", "--tool-arg", "code=print('hi')\n6*7"
    )
    assert called["isError"] is False
    assert (called["structuredContent"]["value"], called["structuredContent"]["stdout"]) == (42, "hi\n")


async def test_inspector_reads_an_artifact_resource(npx: str, target: list[str]):
    read = await _inspect(npx, target, "--method", "resources/read", "--uri", "artifact://notes.txt")
    (content,) = read["contents"]
    assert (content["uri"], content["text"]) == ("artifact://notes.txt", "kept between sessions\n")
