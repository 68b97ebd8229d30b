"""Clients that open sessions and go away cannot lock out the clients that come after them.

The attack (issue 8): clients call ``open_session`` and leave without closing it. Their
workers used to stay until the idle timeout, and once a cap was full every later client
was refused. Now a full cap closes the least recently used idle session instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.processes import alive, dies
from tests.server.conftest import HttpServer, text_of
from tests.server.test_http import ALICE, BOB, tokens_file

pytestmark = pytest.mark.anyio

Start = Callable[..., Awaitable[HttpServer]]
CAP = 8
ABANDONED = 20


def _repr(result: object) -> object:
    return result.structured_content["value_repr"]  # type: ignore[attr-defined]


async def _abandon_sessions(server: HttpServer, count: int, token: str | None = None) -> list[int]:
    """``count`` clients each open a session and leave without closing it; their worker pids."""
    workers = []
    for _ in range(count):
        async with server.client(token, mode="2026-07-28") as client:
            opened = await client.call_tool("open_session", {})
            assert not opened.is_error, text_of(opened)
            workers.append(opened.structured_content["worker_pid"])  # type: ignore[index]
    return workers


@pytest.mark.parametrize("cap", ["--max-sessions", "--max-sessions-per-principal"])
async def test_abandoned_sessions_do_not_lock_out_a_new_client(http_server: Start, cap: str):
    server = await http_server(cap, str(CAP))
    workers = await _abandon_sessions(server, ABANDONED)
    async with server.client(mode="2026-07-28") as newcomer:
        opened = await newcomer.call_tool("open_session", {})
        assert not opened.is_error, text_of(opened)
        session_id = opened.structured_content["session_id"]  # type: ignore[index]
        assert _repr(await newcomer.call_tool("run_code", {"code": "6 * 7", "session_id": session_id})) == "42"
    oldest = ABANDONED - (CAP - 1)  # the newcomer's session took the place of one more
    assert all([await dies(pid) for pid in workers[:oldest]])
    assert all(alive(pid) for pid in workers[oldest:])


async def test_one_principals_abandoned_sessions_do_not_close_anothers(http_server: Start, tmp_path: Path):
    flags = ("--max-sessions", str(CAP + 4), "--max-sessions-per-principal", str(CAP))
    server = await http_server("--tokens-file", tokens_file(tmp_path), *flags)
    async with server.client(ALICE, mode="2026-07-28") as alice:
        opened = await alice.call_tool("open_session", {})
        session_id = opened.structured_content["session_id"]  # type: ignore[index]
        await alice.call_tool("run_code", {"code": "kept = 'yes'", "session_id": session_id})
        await _abandon_sessions(server, ABANDONED, BOB)
        assert _repr(await alice.call_tool("run_code", {"code": "kept", "session_id": session_id})) == "'yes'"
