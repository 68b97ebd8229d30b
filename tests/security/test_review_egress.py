"""An attacker's review of ``--allow-host`` (the egress proxy) and the seccomp filter.

Each test is an attack a hostile session would try. Those that fail today are holes
(see the review's report); the others pin down an important outcome that held.
The "remote" hosts are servers of this test on the host's loopback, listed by IP
literal, as in ``test_egress.py``.
"""

from __future__ import annotations

import http.server
import ipaddress
import logging
import resource
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codemode import Session
from codemode.sandbox.egress_rules import is_public
from tests.security.test_egress import PROXY_CLIENT, _reached, _run, _session, recording_server

pytestmark = pytest.mark.anyio


class _Hosts(http.server.BaseHTTPRequestHandler):
    """Records every Host header of each request (a dict of the headers would keep only one)."""

    protocol_version = "HTTP/1.1"
    seen: list[list[str]]

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.seen.append(self.headers.get_all("Host") or [])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def hosts_seen() -> Iterator[tuple[int, list[list[str]]]]:
    with recording_server(_Hosts) as recorded:
        yield recorded


@pytest.mark.usefixtures("sandbox")
async def test_disguised_targets_are_refused_and_nothing_is_connected(workspace: Path, hosts_seen: tuple[int, list]):
    """Userinfo, fragments, numeric and mapped forms, zone ids, percent-encoding, odd ports: none reach elsewhere."""
    untouched = socket.create_server(("127.0.0.1", 0))  # the kernel completes connections: any would show
    untouched.setblocking(False)
    listed, bad = hosts_seen[0], untouched.getsockname()[1]
    targets = [
        f"GET http://127.0.0.1:{listed}@127.0.0.1:{bad}/ HTTP/1.1",
        f"GET http://127.0.0.1:{bad}#@127.0.0.1:{listed}/ HTTP/1.1",
        f"GET http://127.0.0.1%3a{bad}/ HTTP/1.1",
        *(
            f"CONNECT {host}:{bad} HTTP/1.1"
            for host in ("2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "[::1%lo]", "localhost", "127.0.0.2")
        ),
        f"CONNECT 127.0.0.1:0{bad} HTTP/1.1",
        f"CONNECT 127.0.0.1:{listed + 65536} HTTP/1.1",
        "CONNECT 127.0.0.1:0 HTTP/1.1",
        f"CONNECT 127.0.0.2:{listed} HTTP/1.1",  # the listed port, on another loopback address
    ]
    code = f"[exchange(line + b'\\r\\n\\r\\n').split(chr(13))[0] for line in {[t.encode() for t in targets]!r}]"
    async with _session(workspace, f"127.0.0.1:{listed}") as session:
        await _run(session, PROXY_CLIENT)
        statuses = await _run(session, code)
    with untouched:
        assert not _reached(untouched) and hosts_seen[1] == []
    assert all(status in ("HTTP/1.1 400 Bad Request", "HTTP/1.1 403 Forbidden") for status in statuses), statuses


@pytest.mark.usefixtures("sandbox")
async def test_a_malformed_port_or_url_gets_400_and_no_error_in_the_servers_log(
    workspace: Path, hosts_seen: tuple[int, list], caplog: pytest.LogCaptureFixture
):
    """HOLE: hostile input that Python's int()/urlsplit raise on ends as logger.exception (a traceback at ERROR
    in the server's log, one per connection) and the client gets no answer."""
    listed = hosts_seen[0]
    requests = [
        b"CONNECT 127.0.0.1:" + bytes([0xB2]) + b" HTTP/1.1",  # '\xb2' is superscript two: isdigit(), yet not int()
        b"CONNECT 127.0.0.1:" + b"1" * 5000 + b" HTTP/1.1",  # more digits than int() converts
        b"GET http://[127.0.0.1/ HTTP/1.1",  # urlsplit: Invalid IPv6 URL
    ]
    code = f"[exchange(line + b'\\r\\n\\r\\n').split(chr(13))[0] for line in {requests!r}]"
    caplog.set_level(logging.DEBUG, logger="codemode.sandbox.egress")
    async with _session(workspace, f"127.0.0.1:{listed}") as session:
        await _run(session, PROXY_CLIENT)
        statuses = await _run(session, code)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert statuses == ["HTTP/1.1 400 Bad Request"] * len(requests)
    assert errors == []


@pytest.mark.usefixtures("sandbox")
async def test_a_bare_line_feed_cannot_give_the_upstream_another_host(workspace: Path, hosts_seen: tuple[int, list]):
    """HOLE (low): the head is split on CRLF only, so a bare LF in the version or a header is forwarded as is and
    an LF-tolerant server reads a Host line of the code's choosing (first, before the proxy's own), and may keep
    the connection for more requests. Note: a CONNECT to the same listed port carries any bytes anyway."""
    listed, seen = hosts_seen
    requests = [
        f"GET http://127.0.0.1:{listed}/a HTTP/1.1\nHost:other.example".encode(),  # no space: one request line
        f"GET http://127.0.0.1:{listed}/b HTTP/1.1\r\nX-A: b\nHost: other.example".encode(),
    ]
    code = f"[exchange(line + b'\\r\\n\\r\\n').split(chr(13))[0] for line in {requests!r}]"
    async with _session(workspace, f"127.0.0.1:{listed}") as session:
        await _run(session, PROXY_CLIENT)
        await _run(session, code)
    assert all(hosts == [f"127.0.0.1:{listed}"] for hosts in seen), seen


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 (RFC 6052) of 169.254.169.254, the cloud metadata address
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::a00:1",  # the local-use NAT64 prefix (RFC 8215)
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::7f00:1",  # IPv4-compatible 127.0.0.1
    ],
)
def test_inward_ipv4_addresses_in_ipv6_forms_are_not_public(address: str):
    """HOLE: only ::ffff:0:0/96 is unwrapped; on a DNS64/NAT64 host (IPv6-only clouds) a listed name whose A record
    is private or the metadata address comes back as 64:ff9b::<v4>, passes is_public, and the NAT64 gateway
    translates it to the inward address."""
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.usefixtures("sandbox")
async def test_the_proxy_survives_running_out_of_descriptors(workspace: Path, hosts_seen: tuple[int, list]):
    """HOLE: an accept() that fails once (EMFILE: the server is out of descriptors, as many sessions' tunnels can
    make it) ends ``listener.serve``, the proxy's thread, and so the session's way out until it closes."""
    listed = hosts_seen[0]
    flood = """
import socket, time
held = [socket.create_connection(PROXY, timeout=10) for _ in range(40)]
time.sleep(1)
for sock in held:
    sock.close()
"""
    fetch = f"""
try:
    status = exchange(b'GET http://127.0.0.1:{listed}/ HTTP/1.1\\r\\n\\r\\n').split(chr(13))[0]
except OSError as exc:
    status = type(exc).__name__
status
"""
    async with _session(workspace, f"127.0.0.1:{listed}") as session:
        await _run(session, PROXY_CLIENT)
        assert await _run(session, fetch) == "HTTP/1.1 200 OK"
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        in_use = len(list(Path("/proc/self/fd").iterdir()))
        resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 16, hard))  # a brief shortage, in this process only
        try:
            await _run(session, flood)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert await _run(session, fetch) == "HTTP/1.1 200 OK"  # today: no answer (the proxy is gone)


@pytest.mark.usefixtures("sandbox")
async def test_code_cannot_replace_its_proxy_socket_nor_reach_another_sessions(
    workspace: Path, hosts_seen: tuple[int, list]
):
    listed = hosts_seen[0]
    attempt = """
import os, socket
def outcome(action):
    try:
        action()
        return 'done'
    except OSError as exc:
        return type(exc).__name__ + ' ' + (os.strerror(exc.errno) if exc.errno else '')
def connect(path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
def bind(path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(path)
[outcome(lambda: os.unlink('/run/codemode/proxy.sock')), outcome(lambda: bind('/run/codemode/other.sock')),
 outcome(lambda: connect(OTHER))]
"""
    async with _session(workspace, f"127.0.0.1:{listed}") as first, _session(workspace, f"127.0.0.1:{listed}") as other:
        await other.run("1")
        other_dir = other.info().confinement.workdir  # type: ignore[union-attr]
        other_socket = str(Path(str(other_dir)).parent / "egress" / "proxy.sock")
        assert Path(other_socket).exists()  # on the host, where the attack aims
        unlink, bind, reach = await _run(first, f"OTHER = {other_socket!r}\n{attempt}")
    assert unlink.endswith("Read-only file system") and bind.endswith("Read-only file system")
    assert reach.startswith("FileNotFoundError")


SECCOMP_ESCAPES = r"""
import ctypes, errno, os, struct, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
def failure(result):
    return 'ok' if result >= 0 else errno.errorcode.get(ctypes.get_errno(), '?')
def clone_new_user():  # clone(CLONE_NEWUSER | SIGCHLD), fork-like: a child would exit at once
    pid = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)
    if pid == 0:
        libc._exit(0)
    return failure(pid) if pid < 0 else os.waitpid(pid, 0) and 'ok'
def clone3_new_user():  # struct clone_args {flags = CLONE_NEWUSER, exit_signal = SIGCHLD, ...}
    args = ctypes.create_string_buffer(struct.pack('=11Q', 0x10000000, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0), 88)
    pid = libc.syscall(435, args, 88)
    if pid == 0:
        libc._exit(0)
    return failure(pid) if pid < 0 else os.waitpid(pid, 0) and 'ok'
# i386 getpid through int 0x80 from this 64-bit process: mov eax, 20; int 0x80; ret (in a child: it may crash)
INT80 = '''
import ctypes, mmap
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes.fromhex('b814000000cd80c3'))
print(ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))())
'''
int80 = subprocess.run([sys.executable, '-c', INT80], capture_output=True, text=True)
init = [line.split()[1] for line in open('/proc/1/status') if line.startswith('Seccomp:')]
[clone_new_user(), clone3_new_user(), (int80.returncode, int80.stdout.strip()), init]
"""


@pytest.mark.usefixtures("sandbox")
async def test_no_way_around_the_syscall_filter(workspace: Path):
    """New user namespaces (clone, clone3), the i386 entry point, and the sandbox's init (which code may ptrace:
    it must carry the filter too); and node, which the worker starts for JavaScript."""
    async with Session.from_base(workspace, timeout=30, sandbox="bwrap") as session:
        result = await session.run(SECCOMP_ESCAPES)
        node = None
        if shutil.which("node"):
            status = "require('fs').readFileSync('/proc/self/status', 'utf8').match(/Seccomp:\\s*(\\d)/)[1]"
            node = await session.run(status, language="javascript")
    assert result.error is None, result.error
    clone, clone3, int80, init = result.value
    assert clone in ("ENOSPC", "EPERM") and clone3 in ("ENOSPC", "EPERM")  # bwrap --disable-userns, or the filter
    assert int80[0] != 0 or int80[1] == "-1", int80  # -EPERM, or no i386 entry at all (the child dies)
    assert init == ["2"]  # SECCOMP_MODE_FILTER in pid 1 as well
    if node is not None:
        assert node.error is None and node.value == "2", node.error
