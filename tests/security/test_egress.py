"""``--allow-host``: with the network off, code reaches the listed hosts through the host's proxy, and nothing else.

The "remote" hosts are servers of this test on the host's loopback, listed by IP literal
(the one way a loopback address may be listed); inside the sandbox, 127.0.0.1 is the
sandbox's own loopback, so they are reachable only through the proxy.
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import ValidationError

from codemode import Session
from codemode.sandbox.egress import EgressLimits
from codemode.sandbox.egress_rules import parse_rule
from codemode.sandbox.launcher import SandboxConfig
from tests.security.conftest import CONNECT
from tests.server.conftest import call, server_command

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("sandbox")]

PROXY_CLIENT = r'''
import os, socket, urllib.parse, urllib.request
PROXY = ("127.0.0.1", urllib.parse.urlsplit(os.environ["HTTP_PROXY"]).port)

def open_tunnel(target):
    """A socket through which CONNECT ``target`` was asked, and the proxy's status line."""
    sock = socket.create_connection(PROXY, timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # a byte at a time: what follows the head belongs to the tunnel
        if not chunk:
            break
        head += chunk
    return sock, head.split(b"\r\n")[0].decode()

def exchange(raw):
    """Send ``raw`` to the proxy; all it answers until it closes."""
    sock = socket.create_connection(PROXY, timeout=10)
    sock.sendall(raw)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data.decode("latin-1")
'''


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.seen.append({"path": self.path, "headers": dict(self.headers)})
        body = f"hello from the host: {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@contextmanager
def recording_server(recorder: type[http.server.BaseHTTPRequestHandler]) -> Iterator[tuple[int, list[Any]]]:
    """An HTTP server on the host's loopback answering with ``recorder``: its port, and what it recorded."""
    handler = type(recorder.__name__, (recorder,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], handler.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """An HTTP server on the host's loopback: its port, and the requests it saw."""
    with recording_server(_Recorder) as recorded:
        yield recorded


class _Shout(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data.upper())


@pytest.fixture
def echo() -> Iterator[int]:
    """A TCP server on the host's loopback that sends back what it gets, upper-cased, until the client ends."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Shout)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def untouched() -> Iterator[socket.socket]:
    """A listener nobody should reach: the kernel completes connections to it, so any attempt would show."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        yield listener


def _reached(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def _session(workspace: Path, *allow_hosts: str, **limits: Any) -> Session:
    config = SandboxConfig(mode="bwrap", network=False, allow_hosts=allow_hosts, egress=EgressLimits(**limits))
    return Session.from_base(workspace, timeout=30, sandbox=config)


async def _run(session: Session, code: str) -> Any:
    result = await session.run(code)
    assert result.error is None, result.error
    return result.value


async def test_plain_http_to_a_listed_host_works_through_urllib(workspace: Path, web: tuple[int, list]):
    port, seen = web
    fetch = f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/a?b=1').read()"
    async with _session(workspace, f"127.0.0.1:{port}") as session:
        body = await _run(session, fetch)
        assert session.supports("network_isolation") and session.supports("network_filtering")
        await session.reset(hard=True)  # a fresh worker finds the way out too
        assert await _run(session, fetch) == body
    assert body == b"hello from the host: /a?b=1"
    assert seen[0]["path"] == "/a?b=1"  # origin-form, as an origin server expects
    assert seen[0]["headers"]["Connection"] == "close"


async def test_a_forwarded_request_names_the_listed_host_whatever_host_header_code_sends(
    workspace: Path, web: tuple[int, list]
):
    port, seen = web
    request = (
        f"GET http://127.0.0.1:{port}/front HTTP/1.1\\r\\nHost: other.example\\r\\nConnection: keep-alive\\r\\n\\r\\n"
    )
    async with _session(workspace, f"127.0.0.1:{port}") as session:
        await _run(session, PROXY_CLIENT)
        answer = await _run(session, f"exchange(b'{request}')")
    assert answer.startswith("HTTP/1.0 200 ")
    assert seen[0]["headers"]["Host"] == f"127.0.0.1:{port}"  # a shared address must not serve another site
    assert seen[0]["headers"]["Connection"] == "close"


async def test_a_connect_tunnel_to_a_listed_port_carries_bytes_both_ways(workspace: Path, echo: int):
    code = f"""
sock, status = open_tunnel('127.0.0.1:{echo}')
sock.sendall(b'ping' * 50000)
answer = b''
while len(answer) < 200000:
    answer += sock.recv(65536)
sock.close()
status, answer == b'PING' * 50000
"""
    async with _session(workspace, f"127.0.0.1:{echo}") as session:
        await _run(session, PROXY_CLIENT)
        status, echoed = await _run(session, code)
    assert status == "HTTP/1.1 200 Connection established"
    assert echoed


async def test_an_unlisted_port_or_host_gets_403_and_nothing_is_connected(
    workspace: Path, echo: int, untouched: socket.socket
):
    other_port = untouched.getsockname()[1]
    async with _session(workspace, f"127.0.0.1:{echo}") as session:
        await _run(session, PROXY_CLIENT)
        tunnel = await _run(session, f"open_tunnel('127.0.0.1:{other_port}')[1]")
        plain = await _run(session, f"exchange(b'GET http://127.0.0.1:{other_port}/ HTTP/1.1\\r\\n\\r\\n')")
        by_name = await _run(
            session,
            "import urllib.request, urllib.error\n"
            "try:\n    urllib.request.urlopen('https://unlisted.example/')\n"
            "except urllib.error.URLError as exc:\n    outcome = str(exc)\noutcome",
        )
    assert tunnel == "HTTP/1.1 403 Forbidden"
    assert f"codemode: 127.0.0.1:{other_port} is not in --allow-host" in plain
    assert "403" in by_name
    assert not _reached(untouched)


async def test_a_listed_name_that_resolves_to_loopback_is_refused(workspace: Path, untouched: socket.socket):
    port = untouched.getsockname()[1]
    async with _session(workspace, f"localhost:{port}") as session:
        await _run(session, PROXY_CLIENT)
        answer = await _run(session, f"exchange(b'CONNECT localhost:{port} HTTP/1.1\\r\\n\\r\\n')")
    assert answer.startswith("HTTP/1.1 403 Forbidden")
    assert "localhost resolves to" in answer and "127.0.0.1" in answer  # and ::1, where /etc/hosts says so
    assert not _reached(untouched)


async def test_a_listed_address_where_nothing_listens_answers_502(workspace: Path):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    async with _session(workspace, f"127.0.0.1:{port}") as session:
        await _run(session, PROXY_CLIENT)
        answer = await _run(session, f"exchange(b'CONNECT 127.0.0.1:{port} HTTP/1.1\\r\\n\\r\\n')")
    assert answer.startswith("HTTP/1.1 502 Bad Gateway")
    assert f"could not connect to 127.0.0.1:{port}" in answer


async def test_a_direct_connection_to_a_listed_address_still_fails(workspace: Path, web: tuple[int, list]):
    port, seen = web
    async with _session(workspace, f"127.0.0.1:{port}") as session:
        assert await _run(session, CONNECT.format(port=port)) == "ConnectionRefusedError"  # the sandbox's own loopback
    assert seen == []


async def test_an_oversized_request_head_is_refused(workspace: Path, web: tuple[int, list]):
    port, seen = web
    async with _session(workspace, f"127.0.0.1:{port}") as session:
        await _run(session, PROXY_CLIENT)
        answer = await _run(
            session, f"exchange(b'GET http://127.0.0.1:{port}/ HTTP/1.1\\r\\nX-Pad: ' + b'a' * 10000 + b'\\r\\n\\r\\n')"
        )
    assert answer.startswith("HTTP/1.1 431 ")
    assert seen == []


async def test_a_slow_request_head_is_cut_off(workspace: Path, web: tuple[int, list]):
    port, seen = web
    async with _session(workspace, f"127.0.0.1:{port}", header_timeout=1) as session:
        await _run(session, PROXY_CLIENT)
        started = time.monotonic()
        answer = await _run(session, f"exchange(b'GET http://127.0.0.1:{port}/ HTTP/1.1\\r\\nHost: x\\r\\n')")
        waited = time.monotonic() - started
    assert answer.startswith("HTTP/1.1 408 ")
    assert waited < 5
    assert seen == []


async def test_an_idle_tunnel_is_closed(workspace: Path, echo: int):
    code = f"""
sock, status = open_tunnel('127.0.0.1:{echo}')
sock.recv(1)
"""
    async with _session(workspace, f"127.0.0.1:{echo}", idle_timeout=1) as session:
        await _run(session, PROXY_CLIENT)
        started = time.monotonic()
        assert await _run(session, code) == b""  # closed by the proxy: no bytes moved for a second
        assert time.monotonic() - started < 5


async def test_connections_beyond_the_cap_are_refused_until_one_ends(workspace: Path, echo: int):
    code = f"""
import time
first, second = open_tunnel('127.0.0.1:{echo}'), open_tunnel('127.0.0.1:{echo}')
over_cap = exchange(b'CONNECT 127.0.0.1:{echo} HTTP/1.1\\r\\n\\r\\n')
first[0].close()
deadline = time.monotonic() + 5
while (again := open_tunnel('127.0.0.1:{echo}'))[1] != 'HTTP/1.1 200 Connection established':
    assert time.monotonic() < deadline, again
    time.sleep(0.1)
[second[1], over_cap.split(chr(13))[0], 'connections through its proxy' in over_cap, again[1]]
"""
    async with _session(workspace, f"127.0.0.1:{echo}", max_connections=2) as session:
        await _run(session, PROXY_CLIENT)
        second, over_cap, explained, again = await _run(session, code)
    assert second == again == "HTTP/1.1 200 Connection established"
    assert over_cap == "HTTP/1.1 503 Service Unavailable"
    assert explained


async def test_the_server_caps_connections_across_all_sessions_proxies(
    workspace: Path, echo: int, monkeypatch: pytest.MonkeyPatch
):
    from codemode.sandbox import egress

    monkeypatch.setattr(egress._SERVER_TUNNELS, "limit", 2)  # normally a quarter of the open-file limit
    target = f"127.0.0.1:{echo}"
    async with _session(workspace, target) as first, _session(workspace, target) as second:
        for session in (first, second):
            await _run(session, PROXY_CLIENT)
        assert await _run(first, f"held = open_tunnel({target!r})\nheld[1]") == "HTTP/1.1 200 Connection established"
        assert await _run(second, f"held = open_tunnel({target!r})\nheld[1]") == "HTTP/1.1 200 Connection established"
        over = await _run(second, f"exchange(b'CONNECT {target} HTTP/1.1\\r\\n\\r\\n')")
        assert over.startswith("HTTP/1.1 503") and "connections through its sessions' proxies" in over
        await _run(first, "held[0].close()")
        code = f"""
import time
deadline = time.monotonic() + 5
while (again := open_tunnel({target!r}))[1] != 'HTTP/1.1 200 Connection established':
    assert time.monotonic() < deadline, again
    time.sleep(0.1)
again[1]
"""
        assert await _run(second, code) == "HTTP/1.1 200 Connection established"  # a slot came back


RELAY = """
import os, sys, threading
[sorted(k for k in os.environ if 'proxy' in k.lower()), [t.name for t in threading.enumerate()],
 '_codemode_egress_relay' in sys.modules]
"""


async def test_only_sessions_with_allow_host_have_proxy_variables_and_a_relay(workspace: Path, echo: int):
    async with Session.from_base(workspace, sandbox=SandboxConfig(mode="bwrap", network=False)) as plain:
        variables, threads, loaded = await _run(plain, RELAY)
    assert variables == [] and "codemode-egress-relay" not in threads and not loaded
    async with _session(workspace, f"127.0.0.1:{echo}") as listed:
        variables, threads, loaded = await _run(listed, RELAY)
        confinement = listed.info().confinement
    assert {"HTTP_PROXY", "https_proxy", "ALL_PROXY", "NO_PROXY"} <= set(variables)
    assert "codemode-egress-relay" in threads and loaded
    assert confinement is not None and confinement.allow_hosts == [f"127.0.0.1:{echo}"]


def test_allow_host_needs_the_network_off_and_the_sandbox():
    with pytest.raises(ValidationError, match="needs --network off"):
        SandboxConfig(mode="bwrap", network=True, allow_hosts=("example.com",))
    with pytest.raises(ValidationError, match="needs the bubblewrap sandbox"):
        SandboxConfig(mode="none", network=False, allow_hosts=("example.com",))
    with pytest.raises(ValidationError, match="is not NAME"):
        SandboxConfig(network=False, allow_hosts=("https://example.com/",))
    with pytest.raises(ValidationError, match="port must be a number"):
        SandboxConfig(network=False, allow_hosts=("example.com:0",))


def test_entries_match_names_exactly_suffixes_below_and_their_ports():
    pattern, named, literal = parse_rule("*.Example.COM"), parse_rule("api.example.com:8443"), parse_rule("[::1]:80")
    assert pattern.matches("a.b.example.com", 443) and pattern.matches("a.example.com", 80)
    assert not pattern.matches("example.com", 443) and not pattern.matches("badexample.com", 443)
    assert not pattern.matches("a.example.com", 8443)
    assert named.matches("api.example.com", 8443) and not named.matches("api.example.com", 443)
    assert str(literal) == "[::1]:80" and literal.matches("::1", 80)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--network", "on"], "--allow-host (allow_hosts) needs --network off"),
        (["--sandbox", "none"], "--allow-host (allow_hosts) needs the bubblewrap sandbox"),
    ],
)
def test_the_cli_refuses_allow_host_with_the_network_on_or_no_sandbox(workspace: Path, flags: list[str], message: str):
    command = [sys.executable, "-m", "codemode", "--base", str(workspace), "--allow-host", "example.com", *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


async def test_allow_host_over_mcp_reaches_the_listed_host_and_session_info_says_so(
    workspace: Path, web: tuple[int, list]
):
    port, _ = web
    flags = ("--sandbox", "bwrap", "--allow-host", f"127.0.0.1:{port}")  # over stdio: implies --network off
    async with Client(server_command(workspace, *flags), mode="legacy") as client:
        code = f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/mcp').read().decode()"
        run = await call(client, "run_code", code=code)
        command = await call(client, "run_command", command=["curl", "-sS", f"http://127.0.0.1:{port}/curl"])
        info = await call(client, "session_info")
    assert run["value"] == "hello from the host: /mcp"
    assert command["stdout"] == "hello from the host: /curl"  # a child of the worker: the variables and the relay
    assert info["confinement"]["network"] == "off"
    assert info["confinement"]["allow_hosts"] == [f"127.0.0.1:{port}"]
    assert "network_isolation" in info["capabilities"]
