"""What a new user sees on the server's stderr: a ready line, clear start-up errors, no noise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

pytestmark = pytest.mark.anyio


def _server(workspace: Path, level: str) -> StdioServerParameters:
    args = ["-m", "codemode", "--base", str(workspace), "--log-level", level, "--mcp-tools", "full"]
    return StdioServerParameters(command=sys.executable, args=args)


async def _stderr_of_a_session(workspace: Path, log: Path, level: str, *calls: tuple[str, dict]) -> str:
    with log.open("w") as errlog:
        async with Client(stdio_client(_server(workspace, level), errlog=errlog), mode="legacy") as client:
            for name, arguments in calls:
                await client.call_tool(name, arguments)
            with anyio.fail_after(30):
                while "ready on stdio" not in log.read_text():
                    await anyio.sleep(0.05)
    return log.read_text()


async def test_the_stdio_server_says_once_when_it_is_ready(workspace: Path, tmp_path: Path):
    (workspace / "workflows").mkdir()
    (workspace / "workflows" / "hello.py").write_text("def run():\n    return 'hi'\n")
    stderr = await _stderr_of_a_session(workspace, tmp_path / "stderr.log", "INFO")
    (line,) = [line for line in stderr.splitlines() if "ready on stdio" in line]
    assert f"workspace {workspace.resolve()}" in line
    assert "0 tools, 1 workflows" in line
    assert "sandbox " in line and "network on" in line


async def test_a_refused_call_is_logged_at_debug_not_info(workspace: Path, tmp_path: Path):
    call = ("load_artifact", {"name": "ghost"})
    at_info = await _stderr_of_a_session(workspace, tmp_path / "info.log", "INFO", call)
    at_debug = await _stderr_of_a_session(workspace, tmp_path / "debug.log", "DEBUG", call)
    assert "ghost" not in at_info
    assert any("DEBUG" in line and "ghost" in line for line in at_debug.splitlines())


def test_a_missing_base_is_reported_with_the_path_it_resolved_to(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "codemode", "--base", "no-such-dir"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert f"{tmp_path / 'no-such-dir'} is not a directory" in done.stderr
    assert "uv run --project" in done.stderr
