"""``--mcp-config``: an MCP client's config file whose servers become tools, end to end through the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from codemode.server import ServerSettings, create_server
from tests.server.conftest import call, server_command
from tests.tools.conftest import mcp_config, upstream_stdio

pytestmark = pytest.mark.anyio


def start(workspace: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "codemode", "--base", str(workspace), "--log-level", "WARNING", *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"mcpServers": {"notes": {"type": "grpc"}}}', "server 'notes': unknown type 'grpc'"),
        ('{"mcpServers": {"notes": {"args": ["x"]}}}', "server 'notes': needs a 'command' (a stdio server) or a 'url'"),
        ("{not json", "not valid JSON"),
        ('{"tools": []}', 'expected a JSON object with "mcpServers"'),
    ],
)
def test_a_config_that_cannot_be_used_stops_the_server_with_a_message(
    workspace: Path, tmp_path: Path, content: str, message: str
):
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(content)
    done = start(workspace, "--mcp-config", str(config))
    assert done.returncode == 2
    assert f"--mcp-config {config}: {message}" in done.stderr


def test_a_missing_config_file_stops_the_server(workspace: Path, tmp_path: Path):
    done = start(workspace, "--mcp-config", str(tmp_path / "nowhere.json"))
    assert done.returncode == 2 and "nowhere.json: cannot be read" in done.stderr


async def test_servers_of_every_config_file_are_tools_of_the_sessions(workspace: Path, tmp_path: Path):
    first = mcp_config(tmp_path / "claude.json", {"notebook": upstream_stdio()})
    second = mcp_config(tmp_path / "mcp.json", {"notes-two": {"type": "stdio", **upstream_stdio()}}, "servers")
    flags = ("--mcp-config", str(first), "--mcp-config", str(second))
    async with Client(server_command(workspace, *flags), mode="legacy") as client:
        ran = await call(client, "run_code", code="tools.notebook.add(a=2, b=3) + tools.notes_two.add(a=1, b=1)")
        assert ran["value"] == 7
        listed = await call(client, "list_tools")
        assert [tool["name"] for tool in listed["tools"]] == ["notebook", "notes-two"]
        assert "create-note" in [item["name"] for item in listed["tools"][0]["callables"]]


async def test_search_tools_answers_with_signatures(workspace: Path, tmp_path: Path):
    config = mcp_config(tmp_path / "claude.json", {"notebook": upstream_stdio()})
    async with Client(create_server(ServerSettings(base=workspace, mcp_config=[config]))) as client:
        found = await call(client, "search_tools", query="create a note with tags", limit=1)
        (entry,) = found["tools"]
        assert entry["name"] == "notebook" and entry["input_schema"] is None
        first = entry["callables"][0]
        assert first["name"] == "create-note" and first["input_schema"] is None
        assert (
            first["signature"]
            == "create_note(*, title: str, tags: list[str] | None = None, max_items: int = 3) -> dict"
        )
        assert len(json.dumps(found)) < 1500
