"""Clients for server tests: the official MCP client, in memory or over stdio to a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from codemode.server import ServerSettings, create_server


def server_command(workspace: Path, *flags: str) -> StdioServerParameters:
    """``codemode-mcp`` as a user's MCP client starts it (through the same CLI)."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "codemode", "--base", str(workspace), "--log-level", "WARNING", "--mcp-tools", "full", *flags],
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


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured result of a tool call that must succeed (else the test fails with the tool's message)."""
    outcome = await client.call_tool(tool, arguments)
    assert not outcome.is_error, text_of(outcome)
    return outcome.structured_content  # type: ignore[return-value]


def text_of(result: object) -> str:
    """The text of a tool result's first content block."""
    return result.content[0].text  # type: ignore[attr-defined]


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    """The message of a tool call that must fail."""
    outcome = await client.call_tool(tool, arguments)
    assert outcome.is_error
    return text_of(outcome)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HttpServer:
    """A ``codemode-mcp --transport http`` process on a free local port."""

    def __init__(self, workspace: Path, *flags: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "codemode", "--transport", "http", "--port", str(self.port)]
        command += ["--base", str(workspace), "--log-level", "WARNING", *flags]
        self.process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)

    async def wait_ready(self) -> None:
        with anyio.fail_after(30):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
                try:
                    async with httpx2.AsyncClient() as http:
                        if (await http.get(f"{self.url}/healthz")).status_code == 200:
                            return
                except httpx2.TransportError:
                    pass
                await anyio.sleep(0.1)

    def client(self, token: str | None = None, mode: str = "auto") -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = streamable_http_client(f"{self.url}/mcp", http_client=httpx2.AsyncClient(headers=headers))
        return Client(transport, mode=mode)

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await anyio.to_thread.run_sync(self.process.wait, 15)


@pytest.fixture
async def http_server(workspace: Path) -> AsyncIterator[Callable[..., Awaitable[HttpServer]]]:
    """Start servers with ``await http_server(*flags)``; they are stopped after the test."""
    started: list[HttpServer] = []

    async def start(*flags: str, base: Path | None = None, env: dict[str, str] | None = None) -> HttpServer:
        server = HttpServer(base or workspace, *flags, env=env)
        started.append(server)
        await server.wait_ready()
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            await server.stop()
