"""MCP tools that act on the caller's session: run_code, reset_session, session_info."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from codemode.errors import InvalidArgument
from codemode.models import ExecutionResult, SessionInfo
from codemode.names import validate_name
from codemode.server import render
from codemode.server.context import SessionId, principal, result, session, state, tool_errors
from codemode.server.settings import ServerSettings


class ClosedSession(BaseModel):
    session_id: str
    closed: bool


class ResetResult(BaseModel):
    session_id: str
    hard: bool
    message: str


def add_session_tools(server: MCPServer, settings: ServerSettings) -> None:
    @server.tool(
        title="Run Python code",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True),
    )
    @tool_errors
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
        current = await session(ctx, session_id)
        outcome = await (current.run(code) if limit is None else current.run(code, timeout=limit))
        # Code that raised is a failed call for the model (isError), with the full result attached.
        return result(outcome, render.execution(outcome), is_error=not outcome.is_ok)

    @server.tool(
        title="Reset the session",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    )
    @tool_errors
    async def reset_session(
        ctx: Context,
        hard: Annotated[
            bool, Field(description="False: clear variables, keep the interpreter. True: start a fresh worker.")
        ] = False,
        session_id: SessionId = None,
    ) -> Annotated[CallToolResult, ResetResult]:
        """Clear every variable of your session (the tools/workflows/artifacts/deps namespaces stay)."""
        current = await session(ctx, session_id)
        await current.reset(hard=hard)
        what = "started a fresh worker" if hard else "cleared all variables"
        output = ResetResult(session_id=current.session_id, hard=hard, message=f"session {what}")
        return result(output, output.message)

    @server.tool(title="Describe the session", annotations=ToolAnnotations(read_only_hint=True))
    @tool_errors
    async def session_info(ctx: Context, session_id: SessionId = None) -> Annotated[CallToolResult, SessionInfo]:
        """Facts about your session: id, runs so far, executor, Python version, capabilities."""
        info = (await session(ctx, session_id)).info()
        return result(info, render.session_info(info))


def add_session_handle_tools(server: MCPServer) -> None:
    @server.tool(title="Open a session", annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    @tool_errors
    async def open_session(
        ctx: Context,
        name: Annotated[str | None, Field(description="A label for the session, shown in session_info.")] = None,
    ) -> Annotated[CallToolResult, SessionInfo]:
        """Open a new, separate session and return its session_id; pass it to run_code and the other tools.

        Only you can use it. It ends with close_session, or after being idle for the server's idle timeout.
        """
        if name is not None:
            validate_name(name, "session name")
        opened = await state(ctx).registry.open(principal(), name)
        info = opened.info()
        return result(info, f"opened session {info.session_id}; pass session_id={info.session_id!r} to use it")

    @server.tool(title="Close a session", annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    @tool_errors
    async def close_session(
        session_id: Annotated[str, Field(description="The session to close (from open_session).")], ctx: Context
    ) -> Annotated[CallToolResult, ClosedSession]:
        """Close a session: its worker ends and its variables are gone (workflows and artifacts stay)."""
        await state(ctx).registry.close(principal(), session_id)
        closed = ClosedSession(session_id=session_id, closed=True)
        return result(closed, f"closed session {session_id}")


def _effective_timeout(settings: ServerSettings, requested: float | None) -> float | None:
    """None means: use the session's default."""
    if requested is None or settings.max_timeout is None:
        return requested
    if requested > settings.max_timeout:
        raise InvalidArgument(f"timeout {requested:g}s exceeds this server's maximum of {settings.max_timeout:g}s")
    return requested
