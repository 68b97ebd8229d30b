"""Streamable HTTP: the SDK's app, with auth, Host/Origin checks, a body limit and /healthz.

Connections have read deadlines and a limit (``connections.py``), so slow or
silent clients cannot hold the server.

``codemode-mcp --transport http`` serves it with uvicorn. The MCP endpoint is
``/mcp``; both protocol eras are served (the SDK picks per request). When a
handshake-era client deletes its MCP session, the codemode session bound to it
ends too.
"""

from __future__ import annotations

import ipaddress
import logging
import signal

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codemode.errors import InvalidArgument
from codemode.server.connections import ConnectionLimits, guarded_protocol
from codemode.server.registry import SessionRegistry
from codemode.server.settings import ServerSettings

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
_LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: ServerSettings) -> None:
    """Refuse to listen beyond this machine without authentication."""
    if not is_loopback(settings.host) and not settings.auth_tokens:
        raise InvalidArgument(
            f"refusing to listen on {settings.host} without authentication: set --auth-token (or "
            "CODEMODE_AUTH_TOKEN) or --tokens-file, or listen on 127.0.0.1"
        )


def transport_security(settings: ServerSettings) -> TransportSecuritySettings | None:
    """Host/Origin allow-lists. Loopback: the local names plus any given; elsewhere: only if given."""
    if "*" in settings.allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if is_loopback(settings.host):
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    elif settings.allowed_hosts:
        hosts, origins = [], []
    else:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)  # the bearer token guards it
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts + settings.allowed_hosts,
        allowed_origins=origins + settings.allowed_origins,
    )


def http_app(server: MCPServer, settings: ServerSettings, registry: SessionRegistry) -> ASGIApp:
    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app: Starlette = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=transport_security(settings),
        max_request_body_size=settings.max_body_bytes,
        session_idle_timeout=settings.idle_timeout,
        host=settings.host,
    )
    return _EndSessionsWithTransport(app, registry)


async def serve_http(server: MCPServer, settings: ServerSettings, registry: SessionRegistry) -> None:
    config = uvicorn.Config(
        http_app(server, settings, registry),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=5,
        http=guarded_protocol(
            ConnectionLimits(
                header_timeout=settings.http_header_timeout,
                body_timeout=settings.http_body_timeout,
                max_connections=settings.http_max_connections,
            )
        ),
        timeout_keep_alive=settings.http_keep_alive,  # type: ignore[arg-type]  # declared int, used as a float
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to whatever handler
    # was there before; with the default one the process would die before the sessions are closed.
    # So the handler it finds is one that does nothing: serve() returns and the registry cleans up.
    previous = {signum: signal.signal(signum, _ignore) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        await uvicorn.Server(config).serve()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _ignore(signum: int, frame: object) -> None:
    logger.info("received %s: closing every session", signal.Signals(signum).name)


class _EndSessionsWithTransport:
    """A successful ``DELETE /mcp`` ends the handshake-era MCP session: close the codemode session bound to it."""

    def __init__(self, app: ASGIApp, registry: SessionRegistry) -> None:
        self._app = app
        self._registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "DELETE" or scope["path"].rstrip("/") != MCP_PATH:
            await self._app(scope, receive, send)
            return
        key = dict(scope["headers"]).get(b"mcp-session-id")
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self._app(scope, receive, watch)
        if key is not None and status and 200 <= status[0] < 300:
            await self._registry.close_transport(key.decode("latin-1"))
