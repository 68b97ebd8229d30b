"""HTTP connections that cannot be held hostage: read deadlines and a connection limit.

uvicorn closes a connection that idles between requests (``timeout_keep_alive``)
but puts no deadline on reading a request: a client that opens a connection and
says nothing, or sends its headers or body a byte a second, holds it for ever.
Its ``limit_concurrency`` answers 503 to *new* requests once enough connections are
open, so 300 such connections would lock real clients out rather than protect them.

``guarded_protocol`` is uvicorn's h11 protocol with what is missing:

- the request's headers must arrive within ``header_timeout`` seconds of the
  connection opening (or of their first byte, on a kept-alive connection);
- its body must arrive within ``body_timeout`` seconds of the headers;
- at most ``max_connections`` connections are open. One more makes room by closing
  the oldest connection that is not serving a request (still reading headers, or
  idle between requests); only if every one is busy is the new one turned away.

A connection cut off this way is logged at WARNING with the client's address.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 512


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol class (``uvicorn.Config(http=...)``) that enforces ``limits``."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"limits": limits})


class _GuardedH11Protocol(H11Protocol):
    limits: ConnectionLimits

    _deadline: asyncio.TimerHandle | None = None
    _deadline_for: str | None = None
    _since: float = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        self._expect("request headers", self.limits.header_timeout)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._since = self.loop.time()
        self._follow_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _follow_request(self) -> None:
        """Arm the deadline for what the connection is waiting for from the client, or none."""
        state = self.conn.their_state
        if state is h11.IDLE and self.timeout_keep_alive_task is None:
            self._expect("request headers", self.limits.header_timeout)  # bytes of a request have come
        elif state is h11.SEND_BODY:
            self._expect("request body", self.limits.body_timeout)
        else:
            self._cancel_deadline()  # a whole request is in (or idle: uvicorn's keep-alive timeout applies)

    def _expect(self, what: str, seconds: float) -> None:
        if self._deadline_for == what:
            return
        self._cancel_deadline()
        self._deadline_for = what
        self._deadline = self.loop.call_later(seconds, self._cut_off, what, seconds)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._deadline_for = None

    def _cut_off(self, what: str, seconds: float) -> None:
        logger.warning("closed the connection from %s: %s not received within %g s", self._peer(), what, seconds)
        self._close()

    def _waiting(self) -> bool:
        """Not serving a request: reading one's headers, or idle between requests."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _make_room(self) -> None:
        idle = [
            other
            for other in self.connections
            if isinstance(other, _GuardedH11Protocol) and other is not self and other._waiting()
        ]
        if idle:
            oldest = min(idle, key=lambda other: other._since)
            logger.warning(
                "%d connections open (the limit is %d): closed the oldest idle one, from %s",
                len(self.connections),
                self.limits.max_connections,
                oldest._peer(),
            )
            oldest._close()
        else:
            logger.warning(
                "%d connections open (the limit is %d), all serving requests: turned away %s",
                len(self.connections),
                self.limits.max_connections,
                self._peer(),
            )
            self._close()

    def _close(self) -> None:
        self._cancel_deadline()
        self.connections.discard(self)  # counted out now, not when the transport gets round to it
        if not self.transport.is_closing():
            self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "an unknown client"
