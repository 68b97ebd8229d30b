"""Session caps and list_sessions over HTTP: real server processes, the official MCP client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.processes import dies
from tests.server.conftest import HttpServer, call, text_of
from tests.server.test_http import ALICE, BOB, tokens_file
from tests.server.test_registry import WAIT_FOR_RELEASE

pytestmark = pytest.mark.anyio

Start = Callable[..., Awaitable[HttpServer]]


async def _open(client: Client, **arguments: Any) -> dict[str, Any]:
    return await call(client, "open_session", **arguments)


async def _listed(client: Client, **arguments: Any) -> list[dict[str, Any]]:
    return (await call(client, "list_sessions", **arguments))["sessions"]


async def _run(client: Client, session_id: str, code: str = "1") -> Any:
    return await client.call_tool("run_code", {"code": code, "session_id": session_id})


async def test_list_sessions_shows_only_the_callers_own(http_server: Start, tmp_path: Path):
    server = await http_server("--tokens-file", tokens_file(tmp_path))
    async with server.client(ALICE) as alice, server.client(BOB) as bob:
        first = await _open(alice, name="first")
        second = await _open(alice, name="second")
        await _open(bob, name="bobs")
        listed = await _listed(alice)
        assert [(s["session_id"], s["name"]) for s in listed] == [
            (first["session_id"], "first"),
            (second["session_id"], "second"),
        ]
        assert not any(s["busy"] for s in listed)
        assert {"created_at", "last_used_at", "labels"} <= set(listed[0])
        assert [s["name"] for s in await _listed(bob)] == ["bobs"]
        assert await _listed(alice, labels={"team": "data"}) == []


async def test_a_full_server_closes_its_least_recently_used_idle_session(http_server: Start):
    server = await http_server("--max-sessions", "2")
    async with server.client() as client:
        oldest, newer = await _open(client), await _open(client)
        third = await _open(client)
        assert await dies(oldest["worker_pid"])
        expired = await _run(client, oldest["session_id"])
        assert expired.is_error and "has expired" in text_of(expired) and "--max-sessions)" in text_of(expired)
        assert [s["session_id"] for s in await _listed(client)] == [newer["session_id"], third["session_id"]]


async def test_a_full_principal_closes_its_own_idle_session_not_anothers(http_server: Start, tmp_path: Path):
    server = await http_server("--tokens-file", tokens_file(tmp_path), "--max-sessions-per-principal", "1")
    async with server.client(ALICE) as alice, server.client(BOB) as bob:
        alices = await _open(alice)
        bobs = await _open(bob)
        await _open(alice)
        expired = await _run(alice, alices["session_id"])
        assert "has expired" in text_of(expired) and "--max-sessions-per-principal" in text_of(expired)
        assert not (await _run(bob, bobs["session_id"])).is_error


async def test_another_principal_hears_not_found_for_an_expired_id(http_server: Start, tmp_path: Path):
    server = await http_server("--tokens-file", tokens_file(tmp_path), "--max-sessions-per-principal", "1")
    async with server.client(ALICE) as alice, server.client(BOB) as bob:
        evicted = (await _open(alice))["session_id"]
        await _open(alice)
        stolen, wrong = await _run(bob, evicted), await _run(bob, "x" * 32)
        assert stolen.is_error and "no open session" in text_of(stolen)
        assert text_of(stolen).replace(evicted, "ID") == text_of(wrong).replace("x" * 32, "ID")


async def test_a_new_session_is_refused_only_when_every_session_is_busy(http_server: Start):
    server = await http_server("--max-sessions-per-principal", "1")
    async with server.client() as client:
        busy = (await _open(client))["session_id"]
        finished: list[Any] = []

        async def run_until_released() -> None:
            finished.append(await _run(client, busy, WAIT_FOR_RELEASE))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run_until_released)
            with anyio.fail_after(10):
                while not any(s["busy"] for s in await _listed(client)):
                    await anyio.sleep(0.05)
            refused = await client.call_tool("open_session", {})
            await client.call_tool("save_artifact", {"name": "release", "data": True})
        assert refused.is_error and "every one is running code" in text_of(refused)
        assert not finished[0].is_error, text_of(finished[0])  # released, not timed out
