"""Slow and silent HTTP clients are cut off, and cannot keep a real client out.

The attack (issue 8): a request body sent at 1 byte/s, and 300 half-open connections,
were never cut off. Now a request's headers and body have deadlines
(``--http-header-timeout``, ``--http-body-timeout``) and connections have a limit
(``--http-max-connections``) that makes room by closing the oldest idle one.

The attackers here are bounded: they connect to the test's own server on loopback,
and stop with the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import SocketStream

from codemode.server.flags import build_parser
from tests.server.conftest import HttpServer

pytestmark = pytest.mark.anyio

Start = Callable[..., Awaitable[HttpServer]]
SLOW_CONNECTIONS = 300
GIVE_UP = 30  # seconds: far beyond every timeout used here; reaching it means nothing was cut off


async def _connect(server: HttpServer) -> SocketStream:
    return await anyio.connect_tcp("127.0.0.1", server.port)


async def _trickle(stream: SocketStream, interval: float = 0.5, limit: int = 200) -> None:
    """Send one byte per ``interval`` until the server closes the connection (or ``limit`` bytes)."""
    try:
        for _ in range(limit):
            await stream.send(b"a")
            await anyio.sleep(interval)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return


async def _closed_by_server(stream: SocketStream) -> bool:
    """Read until the server closes the connection; False if it does not within GIVE_UP seconds."""
    with anyio.move_on_after(GIVE_UP):
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass
        return True
    return False


@asynccontextmanager
async def _trickling(*streams: SocketStream, interval: float = 0.5) -> AsyncIterator[None]:
    """Each stream sends a byte per ``interval`` while the block runs."""
    async with anyio.create_task_group() as tasks:
        for stream in streams:
            tasks.start_soon(_trickle, stream, interval)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()  # awaits nothing here: a failure in the block must not be swallowed


@asynccontextmanager
async def _slow_connections(server: HttpServer, count: int) -> AsyncIterator[list[SocketStream]]:
    """``count`` connections that each send an unfinished request header, a byte at a time."""
    streams: list[SocketStream] = []
    try:
        for _ in range(count):
            stream = await _connect(server)
            streams.append(stream)
            try:
                await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            except (anyio.BrokenResourceError, OSError):
                pass  # already closed to make room: the attacker just goes on
        async with _trickling(*streams):
            yield streams
    finally:
        for stream in streams:
            await stream.aclose()


async def test_a_silent_connection_is_closed_after_the_header_timeout(http_server: Start):
    server = await http_server("--http-header-timeout", "1")
    stream = await _connect(server)
    assert await _closed_by_server(stream)
    await stream.aclose()


async def test_headers_sent_a_byte_at_a_time_are_cut_off(http_server: Start):
    server = await http_server("--http-header-timeout", "1")
    stream = await _connect(server)
    await stream.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    async with _trickling(stream, interval=0.2):
        assert await _closed_by_server(stream)
    await stream.aclose()


async def test_a_body_sent_a_byte_at_a_time_is_cut_off(http_server: Start):
    server = await http_server("--http-body-timeout", "1")
    stream = await _connect(server)
    await stream.send(
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{"
    )
    async with _trickling(stream, interval=0.2):
        assert await _closed_by_server(stream)
    await stream.aclose()


@pytest.mark.parametrize("limit", [None, "100"], ids=["default-limit", "limit-below-the-attack"])
async def test_a_client_completes_an_mcp_call_while_300_slow_connections_are_held(
    http_server: Start, limit: str | None
):
    server = await http_server("--http-header-timeout", "3", *(["--http-max-connections", limit] if limit else []))
    async with _slow_connections(server, SLOW_CONNECTIONS) as attackers:
        with anyio.fail_after(GIVE_UP):
            async with server.client(mode="2026-07-28") as client:
                saved = await client.call_tool("save_artifact", {"name": "note", "data": "still served"})
                assert not saved.is_error, saved.content
                loaded = await client.call_tool("load_artifact", {"name": "note"})
                assert loaded.structured_content["data"] == "still served"  # type: ignore[index]
        for stream in attackers:  # and the attacker holds nothing for long
            assert await _closed_by_server(stream)


async def test_a_full_server_closes_the_oldest_idle_connection_to_let_a_new_one_in(http_server: Start):
    server = await http_server("--http-max-connections", "5")
    async with _slow_connections(server, 5) as streams:
        newcomer = await _connect(server)
        assert await _closed_by_server(streams[0])
        await newcomer.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        with anyio.fail_after(GIVE_UP):
            assert (await newcomer.receive()).startswith(b"HTTP/1.1 200")
        await newcomer.aclose()


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan"])
def test_http_timeouts_must_be_positive_and_finite(value: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--http-header-timeout", value])
    assert "positive, finite number of seconds" in capsys.readouterr().err
