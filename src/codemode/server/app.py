"""``create_server(settings)``: the MCPServer, its tools, and the lifespan that owns the sessions.

Tools translate between MCP and :class:`~codemode.Session`; they hold no logic of
their own. Every tool returns a pydantic model as structured content (its schema is
the tool's output schema) plus a short text for the model. A ``CodemodeError``
becomes a tool error with its message; anything else is logged as a bug.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar, cast

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from codemode import __version__
from codemode.errors import CodemodeError, InvalidArgument
from codemode.models import ExecutionResult, SessionInfo
from codemode.server import render
from codemode.server.registry import SessionRegistry
from codemode.server.settings import LOCAL_PRINCIPAL, ServerSettings
from codemode.session import Session

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
A persistent Python session. run_code executes Python; variables, imports and functions \
persist between calls. The last expression's value is returned like in a REPL, and top-level \
await works. Predefined in the code: tools (CLI/HTTP/MCP tools: tools.list(), tools.<name>.<recipe>(...)), \
workflows (saved Python: workflows.invoke(name, **args)), artifacts (persistent data: artifacts.save/load), \
deps (packages: deps.add("name")). Prefer doing several steps in one run_code call."""

P = ParamSpec("P")
R = TypeVar("R")

SessionId = Annotated[
    str | None,
    Field(description="Run in this session (from open_session). Omit to use your default session."),
]


class ResetResult(BaseModel):
    session_id: str
    hard: bool
    message: str


@dataclass
class AppState:
    settings: ServerSettings
    registry: SessionRegistry


def _tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn anticipated failures into tool errors the model can read."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except CodemodeError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


def _result(model: BaseModel, text: str, is_error: bool = False) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json"),
        is_error=is_error,
    )


def _principal() -> str:
    token = get_access_token()
    return token.client_id if token is not None else LOCAL_PRINCIPAL


async def _session(ctx: Context, session_id: str | None) -> Session:
    state = cast(AppState, ctx.request_context.lifespan_context)
    headers = ctx.headers
    transport_key = headers.get("mcp-session-id") if headers is not None else None
    return await state.registry.resolve(_principal(), session_id, transport_key)


def create_server(settings: ServerSettings | None = None, registry: SessionRegistry | None = None) -> MCPServer:
    """Build the MCP server for ``settings``.

    Its sessions live in ``registry`` if one is given (the caller owns and closes
    it), else in a registry that the server's lifespan opens and closes.
    """
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[AppState]:
        if registry is not None:
            yield AppState(settings=settings, registry=registry)
            return
        async with SessionRegistry(settings.new_session) as owned:
            if settings.eager_start:
                owned.prestart_default(LOCAL_PRINCIPAL)
            yield AppState(settings=settings, registry=owned)

    server = MCPServer(
        "codemode-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
    )
    _add_session_tools(server, settings)
    return server


def _add_session_tools(server: MCPServer, settings: ServerSettings) -> None:
    @server.tool(
        title="Run Python code",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True),
    )
    @_tool_errors
    async def run_code(
        code: Annotated[str, Field(description="Python source to run in the persistent session.")],
        ctx: Context,
        timeout: Annotated[
            float | None,
            Field(gt=0, description="Seconds before the run is interrupted; omit for the server's default."),
        ] = None,
        session_id: SessionId = None,
    ) -> Annotated[CallToolResult, ExecutionResult]:
        """Run Python code in your session and return its output, last value and any error.

        Variables, imports and definitions persist between calls. On a timeout the code is
        interrupted and the variables survive; state_lost in the result says when they did not.
        """
        limit = _effective_timeout(settings, timeout)
        session = await _session(ctx, session_id)
        result = await (session.run(code) if limit is None else session.run(code, timeout=limit))
        # Code that raised is a failed call for the model (isError), with the full result attached.
        return _result(result, render.execution(result), is_error=not result.is_ok)

    @server.tool(
        title="Reset the session",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    @_tool_errors
    async def reset_session(
        ctx: Context,
        hard: Annotated[
            bool, Field(description="False: clear variables, keep the interpreter. True: start a fresh worker.")
        ] = False,
        session_id: SessionId = None,
    ) -> Annotated[CallToolResult, ResetResult]:
        """Clear every variable of your session (the tools/workflows/artifacts/deps namespaces stay)."""
        session = await _session(ctx, session_id)
        await session.reset(hard=hard)
        what = "started a fresh worker" if hard else "cleared all variables"
        output = ResetResult(session_id=session.session_id, hard=hard, message=f"session {what}")
        return _result(output, output.message)

    @server.tool(title="Describe the session", annotations=ToolAnnotations(read_only_hint=True))
    @_tool_errors
    async def session_info(ctx: Context, session_id: SessionId = None) -> Annotated[CallToolResult, SessionInfo]:
        """Facts about your session: id, runs so far, executor, Python version, capabilities."""
        info = (await _session(ctx, session_id)).info()
        return _result(info, render.session_info(info))


def _effective_timeout(settings: ServerSettings, requested: float | None) -> float | None:
    """None means: use the session's default."""
    if requested is None or settings.max_timeout is None:
        return requested
    if requested > settings.max_timeout:
        raise InvalidArgument(f"timeout {requested:g}s exceeds this server's maximum of {settings.max_timeout:g}s")
    return requested


__all__ = ["LOCAL_PRINCIPAL", "AppState", "create_server"]
