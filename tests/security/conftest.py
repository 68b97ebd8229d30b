"""Attack tests: they need the sandbox to be there, and say so when it is not."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from codemode.sandbox.launcher import bwrap_status
from tests.server.conftest import http_server  # noqa: F401  (the fixture, for this folder)

CONNECT = """
import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()
    outcome = 'reached'
except OSError as exc:
    outcome = type(exc).__name__
outcome
"""
"""Session code that tries a TCP connection to ``port`` on loopback; its value says what happened."""


@pytest.fixture
def sandbox() -> None:
    """Skip (with the reason) where bubblewrap cannot run; CODEMODE_REQUIRE_SANDBOX=1 (CI) makes that a failure."""
    status = bwrap_status()
    if status.usable:
        return
    if os.environ.get("CODEMODE_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"CODEMODE_REQUIRE_SANDBOX=1 but the sandbox cannot run: {status.reason}")
    pytest.skip(f"no sandbox here: {status.reason} (CODEMODE_REQUIRE_SANDBOX=1 makes this a failure)")


@pytest.fixture
def loopback_port() -> Iterator[int]:
    """A free port on the host's loopback where a listener takes connections (its backlog), for the test's length."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


async def host_can_connect(port: int) -> bool:
    """Whether this (host) process reaches ``port`` on loopback."""
    with anyio.fail_after(5):
        stream = await anyio.connect_tcp("127.0.0.1", port)
    await stream.aclose()
    return True


def _live_commands() -> Iterator[tuple[int, bytes]]:
    """Each process on this machine that is not a zombie, with its raw command line (arguments end in NUL)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            yield int(entry.name), cmdline


def host_processes_with(marker: str) -> list[int]:
    """Pids of processes on this machine whose command line contains ``marker``."""
    return [pid for pid, cmdline in _live_commands() if marker in cmdline.replace(b"\0", b" ").decode(errors="replace")]


def sleeping(seconds: str) -> list[int]:
    """Pids of the processes that run exactly ``sleep <seconds>`` (not a shell whose script names it)."""
    return [pid for pid, cmdline in _live_commands() if cmdline == f"sleep\x00{seconds}\x00".encode()]


async def until_gone(marker: str, seconds: float = 10) -> list[int]:
    """The processes with ``marker`` that still run once none is left or ``seconds`` passed (then the test fails)."""
    with anyio.move_on_after(seconds):
        while host_processes_with(marker):
            await anyio.sleep(0.05)
    return host_processes_with(marker)


@asynccontextmanager
async def legacy_client(url: str, token: str) -> AsyncIterator[tuple[Client, list[str]]]:
    """A handshake-era client of ``token``, and the Mcp-Session-Ids the server gave it (newest last)."""
    transport_ids: list[str] = []

    async def remember(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            transport_ids.append(response.headers["mcp-session-id"])

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, event_hooks={"response": [remember]})
    async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client:
        yield client, transport_ids
