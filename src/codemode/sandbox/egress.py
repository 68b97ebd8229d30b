"""The host side of ``--allow-host``: an HTTP proxy that reaches the listed hosts and nothing else.

A worker whose network is off has an empty network namespace. Its only way out
is this proxy's Unix socket, bound read-only into the sandbox; the worker relays
``127.0.0.1:<port>`` to it (``egress_relay.py``) and points the proxy variables
there. The proxy serves ``CONNECT host:port`` (TLS tunnels) and absolute-form
plain HTTP requests (``GET http://host/path``: one request, ``Connection:
close``), each only to a destination an entry allows (``egress_rules.py``); the
rest is answered ``403``. A name is resolved here, never for an unlisted host,
and the proxy connects to the address it checked.

It runs on its own thread and event loop: it lives as long as the executor, which
is started and closed from whatever tasks use the session.
"""

from __future__ import annotations

import logging
import os
import re
import resource
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.abc import SocketListener, SocketStream
from pydantic import BaseModel, Field

from codemode.sandbox.egress_rules import (
    allowing,
    ip_literal,
    is_public,
    normal_host,
    parse_rule,
    port_number,
    split_authority,
)

logger = logging.getLogger(__name__)

SOCKET_NAME = "proxy.sock"
_CHUNK = 1 << 16
_ANSWER_TIMEOUT = 2.0
_STOP_WAIT = 5.0
_ACCEPT_RETRY = 0.1  # seconds before accepting again after the server ran short (of descriptors)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a head's lines carry none (tab is allowed)
# Dropped from a forwarded request; Host is set from the URL, so a plain request names its listed host. (A CONNECT
# tunnel carries whatever the code sends, to the listed host and port only: no other destination either way.)
_DROPPED = {"host", "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}


class EgressLimits(BaseModel):
    """What one session's proxy allows itself to be held by."""

    max_header_bytes: int = Field(default=8192, gt=0, description="Largest request head (line and headers).")
    header_timeout: float = Field(default=10.0, gt=0, description="Seconds a client has to send the request head.")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to resolve and connect to a host.")
    idle_timeout: float = Field(default=300.0, gt=0, description="Seconds a tunnel may pass no bytes before closing.")
    max_connections: int = Field(default=64, gt=0, description="Connections through the proxy at once, per session.")


class _ServerTunnels:
    """Connections through every session's proxy in this server: each holds two of its descriptors.

    Per-session caps alone would let many sessions together run the server out of descriptors
    (and then it cannot accept anything, MCP clients included): a quarter of the open-file limit
    is for the proxies. Proxies run on threads of their own, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.limit = max(64, (soft if soft != resource.RLIM_INFINITY else 65536) // 8)  # two fds each: a quarter

    def take(self) -> str | None:
        """None if one more connection may go through; else why not."""
        with self._lock:
            if self._active >= self.limit:
                return (
                    f"this server already has {self.limit} connections through its sessions' proxies (a quarter of "
                    "its open-file limit); try again shortly"
                )
            self._active += 1
            return None

    def give_back(self) -> None:
        with self._lock:
            self._active -= 1


_SERVER_TUNNELS = _ServerTunnels()


class _Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


class EgressProxy:
    """One executor's proxy: ``start()`` it before its workers, ``stop()`` it when the executor closes."""

    def __init__(self, allow_hosts: tuple[str, ...], directory: Path, limits: EgressLimits, label: str) -> None:
        self.rules = tuple(parse_rule(entry) for entry in allow_hosts)
        self.directory = directory
        self.limits = limits
        self.label = label
        self._active = 0
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] | None = None

    def start(self) -> None:
        """Listen on ``directory/proxy.sock`` and serve it on a thread of its own (blocking, briefly)."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        directory = os.open(self.directory, os.O_PATH | os.O_DIRECTORY)
        try:  # through the descriptor: a deep state directory would exceed the 108 bytes of a socket address
            listener.bind(f"/proc/self/fd/{directory}/{SOCKET_NAME}")
            listener.listen(self.limits.max_connections)
        except OSError:
            listener.close()
            raise
        finally:
            os.close(directory)
        ready = threading.Event()
        self._thread = threading.Thread(
            target=anyio.run, args=(self._serve, listener, ready), name="codemode-egress", daemon=True
        )
        self._thread.start()
        ready.wait(_STOP_WAIT)
        if self._stop is None:
            raise OSError("its event loop failed to start (see the log)")

    def stop(self) -> None:
        """Close the listener and every connection through it (blocking, briefly)."""
        if self._stop is not None:
            try:
                self._stop()
            except RuntimeError:
                pass  # its event loop has ended already
        if self._thread is not None:
            self._thread.join(_STOP_WAIT)

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        try:
            try:
                listener: SocketListener = await SocketListener.from_socket(sock)
            except BaseException:
                sock.close()
                raise
            with anyio.CancelScope() as scope:
                token = anyio.lowlevel.current_token()
                self._stop = lambda: anyio.from_thread.run_sync(scope.cancel, token=token)
                ready.set()
                async with listener, anyio.create_task_group() as connections:
                    while True:
                        try:
                            client = await listener.accept()
                        except (OSError, anyio.BrokenResourceError) as exc:  # EMFILE and the like: passing
                            logger.warning("egress proxy of session directory %s cannot accept: %s", self.label, exc)
                            await anyio.sleep(_ACCEPT_RETRY)
                            continue
                        connections.start_soon(self._handle, client)
        finally:
            ready.set()  # start() must not wait forever for a loop that failed

    async def _handle(self, client: SocketStream) -> None:
        async with client:
            full = self._too_many() if self._active >= self.limits.max_connections else _SERVER_TUNNELS.take()
            if full is not None:
                # Answered and closed at once: a flood of these must not hold descriptors of the server.
                await self._refuse(client, _Refused(503, "Service Unavailable", full), drain=False)
                return
            self._active += 1
            try:
                await self._proxy(client)
            except _Refused as refusal:
                await self._refuse(client, refusal)
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
                pass  # either end went away: nothing left to tell anyone
            except Exception:  # noqa: BLE001 - a bug must end this connection, not the session's proxy
                logger.exception("egress proxy of session directory %s failed on a connection", self.label)
            finally:
                self._active -= 1
                _SERVER_TUNNELS.give_back()

    def _too_many(self) -> str:
        return f"this session already has {self.limits.max_connections} connections through its proxy; close some"

    async def _proxy(self, client: SocketStream) -> None:
        head, rest = await self._read_head(client)
        lines = head.decode("latin-1").split("\r\n")
        if any(_CONTROL.search(line) for line in lines):  # a bare LF or CR would start a line of the code's own
            raise _Refused(400, "Bad Request", "control characters in the request head")
        parts = lines[0].split(" ")
        if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
            raise _Refused(400, "Bad Request", "not an HTTP/1.0 or HTTP/1.1 request line")
        method, target, version = parts
        if method.upper() == "CONNECT":
            upstream = await self._open(*_connect_target(target))
            async with upstream:
                await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    await upstream.send(rest)
                await self._pipe(client, upstream)
            return
        host, port, origin_form = _absolute_target(target)
        head_out = _forwarded_head(method, origin_form, version, lines[1:], target)
        upstream = await self._open(host, port)
        async with upstream:
            await upstream.send(head_out + rest)
            await self._pipe(client, upstream)

    async def _read_head(self, client: SocketStream) -> tuple[bytes, bytes]:
        data = b""
        with anyio.move_on_after(self.limits.header_timeout):
            while b"\r\n\r\n" not in data:
                if len(data) > self.limits.max_header_bytes:
                    raise _Refused(431, "Request Header Fields Too Large", self._too_large())
                data += await client.receive(_CHUNK)
            head, _, rest = data.partition(b"\r\n\r\n")
            if len(head) > self.limits.max_header_bytes:
                raise _Refused(431, "Request Header Fields Too Large", self._too_large())
            return head, rest
        raise _Refused(
            408, "Request Timeout", f"the request head did not arrive within {self.limits.header_timeout:g}s"
        )

    def _too_large(self) -> str:
        return f"the request head is larger than {self.limits.max_header_bytes} bytes"

    async def _open(self, host: str, port: int) -> SocketStream:
        """A connection to ``host:port`` if an entry allows it, to an address this proxy checked."""
        rule = allowing(self.rules, host, port)
        if rule is None:
            raise _Refused(403, "Forbidden", f"{_shown(host, port)} is not in --allow-host ({self._listed()})")
        literal = ip_literal(host)
        with anyio.move_on_after(self.limits.connect_timeout):
            # Only an entry naming this very address matches a literal: it is not checked further.
            addresses = [str(literal)] if literal is not None else await self._addresses(host, port)
            failure: OSError | None = None
            for address in addresses:
                try:
                    return await anyio.connect_tcp(address, port)
                except OSError as exc:
                    failure = exc
            raise _Refused(502, "Bad Gateway", f"could not connect to {_shown(host, port)}: {failure}")
        raise _Refused(
            504, "Gateway Timeout", f"{_shown(host, port)} did not answer within {self.limits.connect_timeout:g}s"
        )

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _Refused(502, "Bad Gateway", f"{host} does not resolve: {exc}") from None
        resolved = list(dict.fromkeys(str(info[4][0]) for info in found))
        public = [address for address in resolved if (ip := ip_literal(address)) is not None and is_public(ip)]
        if not public:
            raise _Refused(
                403,
                "Forbidden",
                f"{host} resolves to {', '.join(resolved)}: a loopback, private or link-local address is reached "
                "only through an --allow-host entry that is that IP address, requested as such",
            )
        return public

    def _listed(self) -> str:
        return "allowed: " + ", ".join(map(str, self.rules))

    async def _pipe(self, client: SocketStream, upstream: SocketStream) -> None:
        """Bytes both ways until the upstream ends, either end fails or nothing moves for ``idle_timeout``."""
        moved = [anyio.current_time()]
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_copy, client, upstream, moved, tasks.cancel_scope, False)
            tasks.start_soon(_copy, upstream, client, moved, tasks.cancel_scope, True)
            while True:  # the watchdog: cancelled with the task group when the upstream ends
                idle_for = anyio.current_time() - moved[0]
                if idle_for >= self.limits.idle_timeout:
                    tasks.cancel_scope.cancel()
                    return
                await anyio.sleep(self.limits.idle_timeout - idle_for)

    async def _refuse(self, client: SocketStream, refusal: _Refused, drain: bool = True) -> None:
        logger.debug("egress proxy of session directory %s refused: %s", self.label, refusal)
        body = f"codemode: {refusal}\n".encode()
        head = (
            f"HTTP/1.1 {refusal.status} {refusal.reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with anyio.move_on_after(_ANSWER_TIMEOUT):
            try:
                await client.send(head.encode() + body)
                await client.send_eof()
                if drain and refusal.status != 408:  # read what it sent: closing on unread bytes resets the connection
                    async for _ in client:
                        pass
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass


async def _copy(
    source: SocketStream, sink: SocketStream, moved: list[float], tunnel: anyio.CancelScope, ends_tunnel: bool
) -> None:
    """Copy until ``source`` ends; then half-close ``sink``, or end the tunnel if the upstream ended or failed."""
    try:
        async for chunk in source:
            moved[0] = anyio.current_time()
            await sink.send(chunk)
        if not ends_tunnel:  # the client has sent all: the answer may still be coming
            await sink.send_eof()
            return
    except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass
    tunnel.cancel()


def _connect_target(target: str) -> tuple[str, int]:
    host, port = split_authority(target)
    return _checked(host, port or "443")


def _absolute_target(target: str) -> tuple[str, int, str]:
    """``http://host[:port]/path?query`` as host, port and the origin-form ``/path?query``."""
    try:
        url = urlsplit(target)
    except ValueError:
        raise _Refused(400, "Bad Request", "the request's URL is malformed") from None
    if url.scheme.lower() != "http" or not url.netloc:
        raise _Refused(400, "Bad Request", "give an absolute http:// URL, or CONNECT host:port for anything else")
    host, port = split_authority(url.netloc.rpartition("@")[2])
    checked_host, checked_port = _checked(host, port or "80")
    origin_form = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return checked_host, checked_port, origin_form


def _checked(host: str | None, port: str) -> tuple[str, int]:
    name = normal_host(host) if host else None
    number = port_number(port)
    if name is None or number is None:
        raise _Refused(400, "Bad Request", f"{host!s:.100}:{port:.10} is not a host and port")
    return name, number


def _forwarded_head(method: str, origin_form: str, version: str, headers: list[str], target: str) -> bytes:
    """The request as the origin server gets it: origin-form, the URL's Host, no hop-by-hop headers, one request."""
    named: list[tuple[str, str, str]] = []
    for line in headers:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _Refused(400, "Bad Request", f"malformed header line {line[:80]!r}")
        named.append((name.lower(), value, line))
    listed = {token.strip().lower() for name, value, _ in named if name == "connection" for token in value.split(",")}
    kept = [line for name, _, line in named if name not in _DROPPED and name not in listed]
    host = f"Host: {urlsplit(target).netloc.rpartition('@')[2]}"  # target parsed already: cannot raise
    lines = [f"{method} {origin_form} {version}", host, *kept, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
