"""Streamable HTTP end to end: real server processes, the official client in both protocol eras."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.processes import dies
from tests.server.conftest import HttpServer, text_of

pytestmark = pytest.mark.anyio

Start = Callable[..., Awaitable[HttpServer]]
ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"


def _value(result: object) -> object:
    return result.structured_content["value"]  # type: ignore[attr-defined]


def tokens_file(tmp_path: Path) -> str:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    return str(path)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_two_clients_in_parallel_keep_separate_state(http_server: Start, mode: str):
    server = await http_server()
    results: dict[int, object] = {}

    async def client(number: int) -> None:
        async with server.client(mode=mode) as connected:
            # Handshake-era clients get a session per Mcp-Session-Id; modern ones open one explicitly.
            opened = await connected.call_tool("open_session", {}) if mode != "legacy" else None
            session = {"session_id": opened.structured_content["session_id"]} if opened else {}  # type: ignore[index]
            await connected.call_tool("run_code", {"code": f"mine = {number}", **session})
            await anyio.sleep(0.2)  # both have set their variable before either reads it
            results[number] = _value(await connected.call_tool("run_code", {"code": "mine", **session}))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(client, 1)
        tasks.start_soon(client, 2)
    assert results == {1: 1, 2: 2}


async def test_a_modern_client_without_session_id_uses_its_principals_default(http_server: Start):
    server = await http_server()
    async with server.client(mode="2026-07-28") as first, server.client(mode="2026-07-28") as second:
        await first.call_tool("run_code", {"code": "shared = 'yes'"})
        assert _value(await second.call_tool("run_code", {"code": "shared"})) == "yes"


async def test_another_principal_cannot_use_a_session_id(http_server: Start, tmp_path: Path):
    server = await http_server("--tokens-file", tokens_file(tmp_path))
    async with server.client(ALICE) as alice, server.client(BOB) as bob:
        opened = await alice.call_tool("open_session", {"name": "alices"})
        session_id = opened.structured_content["session_id"]  # type: ignore[index]
        stolen = await bob.call_tool("run_code", {"code": "1", "session_id": session_id})
        wrong = await bob.call_tool("run_code", {"code": "1", "session_id": "x" * 32})
        assert stolen.is_error and wrong.is_error
        assert text_of(stolen).replace(session_id, "ID") == text_of(wrong).replace("x" * 32, "ID")  # same answer
        assert not (await alice.call_tool("run_code", {"code": "1", "session_id": session_id})).is_error


async def test_principals_have_separate_default_sessions(http_server: Start, tmp_path: Path):
    server = await http_server("--tokens-file", tokens_file(tmp_path))
    async with server.client(ALICE, "2026-07-28") as alice, server.client(BOB, "2026-07-28") as bob:
        await alice.call_tool("run_code", {"code": "who = 'alice'"})
        assert (await bob.call_tool("run_code", {"code": "who"})).is_error


async def test_closing_a_session_ends_its_worker(http_server: Start):
    server = await http_server()
    async with server.client() as client:
        opened = await client.call_tool("open_session", {})
        session_id = opened.structured_content["session_id"]  # type: ignore[index]
        worker = opened.structured_content["worker_pid"]  # type: ignore[index]
        closed = await client.call_tool("close_session", {"session_id": session_id})
        assert closed.structured_content == {"session_id": session_id, "closed": True}
        assert await dies(worker)
        again = await client.call_tool("run_code", {"code": "1", "session_id": session_id})
        assert again.is_error and "no open session" in text_of(again)


async def test_deleting_a_handshake_era_mcp_session_ends_its_session(http_server: Start):
    server = await http_server()
    async with server.client(mode="legacy") as client:
        info = await client.call_tool("session_info", {})
        worker = info.structured_content["worker_pid"]  # type: ignore[index]
    assert await dies(worker)  # the client sent DELETE when it closed


async def test_idle_sessions_expire_and_their_workers_end(http_server: Start):
    server = await http_server("--idle-timeout", "0.5")
    async with server.client() as client:
        opened = await client.call_tool("open_session", {})
        worker = opened.structured_content["worker_pid"]  # type: ignore[index]
        assert await dies(worker)
        late = await client.call_tool("run_code", {"code": "1", "session_id": opened.structured_content["session_id"]})  # type: ignore[index]
        assert late.is_error


async def test_a_long_run_is_not_idle(http_server: Start):
    server = await http_server("--idle-timeout", "0.5")
    async with server.client() as client:
        result = await client.call_tool("run_code", {"code": "import time\ntime.sleep(1.5)\n'survived'"})
        assert _value(result) == "survived"


async def test_missing_or_wrong_token_is_401_without_detail(http_server: Start, tmp_path: Path):
    server = await http_server("--auth-token", ALICE)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient() as http:
        missing = await http.post(f"{server.url}/mcp", json=body)
        wrong = await http.post(f"{server.url}/mcp", json=body, headers={"Authorization": "Bearer nope-nope-nope-nope"})
        health = await http.get(f"{server.url}/healthz")
    assert missing.status_code == wrong.status_code == 401
    assert ALICE not in wrong.text and "alice" not in wrong.text
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    async with server.client(ALICE) as client:
        assert _value(await client.call_tool("run_code", {"code": "1 + 1"})) == 2


async def test_foreign_origin_and_host_are_refused(http_server: Start):
    server = await http_server()
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient() as http:
        origin = await http.post(f"{server.url}/mcp", json=body, headers={**headers, "Origin": "https://evil.example"})
        host = await http.post(f"{server.url}/mcp", json=body, headers={**headers, "Host": "evil.example"})
    assert origin.status_code == 403
    assert host.status_code == 421


async def test_allowed_origins_are_accepted(http_server: Start):
    server = await http_server("--allowed-origin", "https://app.example")
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{server.url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Origin": "https://app.example", "Accept": "application/json, text/event-stream"},
        )
    assert response.status_code != 403


async def test_oversized_requests_are_refused(http_server: Start):
    server = await http_server("--max-body-bytes", "1000")
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{server.url}/mcp", content=b"x" * 5000, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413


async def test_sigterm_closes_every_session_and_leaves_no_worker(http_server: Start):
    server = await http_server()
    workers = []
    async with server.client() as client:
        for _ in range(2):
            opened = await client.call_tool("open_session", {})
            workers.append(opened.structured_content["worker_pid"])  # type: ignore[index]
        assert await server.stop() == 0
    for worker in workers:
        assert await dies(worker)


async def test_a_new_client_gets_a_pre_started_worker(http_server: Start):
    server = await http_server("--pool-size", "2")
    await anyio.sleep(1)  # let the pool fill
    async with server.client() as client:
        await client.call_tool("session_info", {})  # warm the client itself (schema validation imports)
        opened = await client.call_tool("open_session", {})
        # The worker started before the session: it is older than the session.
        assert opened.structured_content["execution_count"] == 0  # type: ignore[index]
        run = await client.call_tool("run_code", {"code": "1", "session_id": opened.structured_content["session_id"]})  # type: ignore[index]
        assert run.structured_content["duration_ms"] < 1000  # type: ignore[index]


def _http_cli(workspace: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "codemode", "--transport", "http", *flags, "--base", str(workspace)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_listing_beyond_loopback_without_a_token_is_refused(workspace: Path):
    result = _http_cli(workspace, "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in result.stderr


def test_short_tokens_are_refused(workspace: Path):
    result = _http_cli(workspace, "--auth-token", "short")
    assert result.returncode == 2
    assert "too short" in result.stderr
