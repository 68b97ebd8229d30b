"""Clients for server tests: the official MCP client, in memory or over stdio to a real process."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from codemode.server import ServerSettings, create_server


def server_command(workspace: Path, *flags: str) -> StdioServerParameters:
    """``codemode-mcp`` as a user's MCP client starts it (through the same CLI)."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "codemode", "--base", str(workspace), "--log-level", "WARNING", *flags]
    )


@pytest.fixture
async def stdio_client(workspace: Path) -> AsyncIterator[Client]:
    async with Client(server_command(workspace), mode="legacy") as client:
        yield client


@pytest.fixture
async def client(workspace: Path) -> AsyncIterator[Client]:
    """The server in this process, its real worker outside; the MCP client talks to it in memory."""
    async with Client(create_server(ServerSettings(base=workspace, timeout=10))) as connected:
        yield connected
