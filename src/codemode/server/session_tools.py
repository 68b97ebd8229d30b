"""MCP tools that act on the caller's sessions: run_code, reset_session, session_info, open/close/list_sessions."""

from __future__ import annotations

import math
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from codemode.errors import InvalidArgument
from codemode.models import ExecutionResult, SessionInfo
from codemode.server import render
from codemode.server.context import (
    SessionId,
    principal,
    progress_reporter,
    rendered,
    result,
    session,
    state,
    tool_errors,
)
from codemode.server.registry import SessionSummary
from codemode.server.settings import ServerSettings
from codemode.server.toolset import CREATE, DESTROY, READ, ToolDef, without_parameters
from codemode.session.javascript import Language
from codemode.session.progress import run_progress
from codemode.session.session import DEFAULT


class ClosedSession(BaseModel):
    session_id: str = Field(description="The session that was asked to close.")
    closed: bool = Field(description="True: the session is closed (an unknown id is an error).")


class SessionList(BaseModel):
    sessions: list[SessionSummary] = Field(
        description="Your open sessions, oldest first, then your saved named sessions that do not run now."
    )


class ResetResult(BaseModel):
    session_id: str = Field(description="The session that was reset.")
    hard: bool = Field(description="True if the worker process was replaced; False if only the variables were cleared.")
    message: str = Field(description="What the reset did, in words.")


def _effective_timeout(settings: ServerSettings, requested: float | None) -> float | None:
    """None means: use the session's default."""
    maximum = settings.limits.max_timeout
    if requested is None:
        return requested
    if not 0 < requested <= (math.inf if maximum is None else maximum):  # NaN fails this too
        allowed = "positive and finite" if maximum is None else f"over 0 and at most {maximum:g} s (--max-timeout)"
        raise InvalidArgument(f"timeout {requested!r} is not allowed: it must be {allowed}")
    return requested


@tool_errors
async def run_code(
    code: Annotated[str, Field(description="Python source to run in the persistent session.")],
    ctx: Context,
    timeout: Annotated[
        float | None,
        Field(
            description="Seconds before the run is interrupted (up to the server's --max-timeout); omit for "
            "the server's default."
        ),
    ] = None,
    session_id: SessionId = None,
    language: Annotated[
        Language,
        Field(description="'python', or 'javascript': a persistent Node.js context of the session's own."),
    ] = "python",
) -> Annotated[CallToolResult, ExecutionResult]:
    """Run Python code in your session; returns stdout, stderr, the last expression's value and any error.

    Variables, imports and definitions persist between calls, and top-level await works.
    Predefined in the code:
    - `tools`: the CLI/HTTP/MCP tools of tools/*.yaml: tools.list(), tools.<name>.<recipe>(**args)
    - `workflows` (alias `skills`): saved Python: workflows.list(), workflows.invoke(name, **args)
    - `artifacts`: persistent data: artifacts.save(name, data, description=...), artifacts.load(name)
    - `deps`: packages: deps.add("pandas"), deps.list()
    Example:
        page = tools.curl.get(url="https://example.org")
        artifacts.save("page", page, description="example.org's home page")
    On a timeout the code is interrupted and the variables survive; state_lost in the result says
    when they did not. language="javascript" runs JavaScript instead (when Node.js is installed).
    """
    return await _run(ctx, code, timeout, session_id, language)


@tool_errors
async def run_code_compact(
    code: Annotated[str, Field(description="Python source.")],
    ctx: Context,
    timeout: Annotated[float | None, Field(description="Seconds; omit for the default.")] = None,
    session_id: Annotated[str | None, Field(description="From open_session; omit for your default session.")] = None,
    language: Annotated[Language, Field(description="Or 'javascript' (Node.js).")] = "python",
) -> Annotated[CallToolResult, ExecutionResult]:
    """Run Python in your persistent session: variables, imports and top-level await persist.
    Predefined: tools, workflows, artifacts, deps, session; help(x) on any; search finds what exists.
    Returns output, the last expression's value, or the error."""
    return await _run(ctx, code, timeout, session_id, language)


async def _run(
    ctx: Context, code: str, timeout: float | None, session_id: str | None, language: Language
) -> CallToolResult:
    limit = _effective_timeout(state(ctx).settings, timeout)
    current = await session(ctx, session_id)
    limit_or_default = DEFAULT if limit is None else limit
    report = progress_reporter(ctx)
    if report is None:
        outcome = await current.run(code, limit_or_default, language=language)
    else:  # the client asked for progress: elapsed time and the latest output, while the code runs
        async with run_progress(report) as on_output:
            outcome = await current.run(code, limit_or_default, on_output=on_output, language=language)
    # Code that raised is a failed call for the model (isError), with the full result attached.
    several = state(ctx).settings.transport == "http" and session_id is None  # which session answered?
    text = render.execution(outcome, name_session=several)
    return rendered(outcome, text, is_error=not outcome.is_ok, extra=render.pictures(outcome))


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
    return result(output)


@tool_errors
async def session_info(ctx: Context, session_id: SessionId = None) -> Annotated[CallToolResult, SessionInfo]:
    """Facts about your session: id, name, times, runs so far, executor, sandbox and limits, worker memory
    and CPU, Python and venv, labels, history length and approximate tokens."""
    info = (await session(ctx, session_id)).info()
    return result(info)


@tool_errors
async def open_session(
    ctx: Context,
    name: Annotated[
        str | None,
        Field(description="Your session of this name: attached if it runs, resumed if it was saved, else new."),
    ] = None,
    labels: Annotated[
        dict[str, str] | None,
        Field(description="Labels (key: value) for the session; list_sessions filters on them."),
    ] = None,
) -> Annotated[CallToolResult, SessionInfo]:
    """Open a session and return its session_id; pass it to run_code and the other tools.

    Without a name, a new separate session. With a name, your session of that name: the running one,
    else one resumed from its last save (variables, files, history), else a new one. Only you can use it.
    A named session is saved when it closes (close_session, the idle timeout, a session limit, a server
    shutdown) and comes back when you open its name again; delete_session forgets it.
    """
    opened = await state(ctx).registry.open(principal(), name, labels)
    info = opened.info()
    return result(info)


@tool_errors
async def close_session(
    session_id: Annotated[str, Field(description="The session to close (from open_session).")], ctx: Context
) -> Annotated[CallToolResult, ClosedSession]:
    """Close a session: its worker ends and its variables are gone (workflows and artifacts stay)."""
    await state(ctx).registry.close(principal(), session_id)
    closed = ClosedSession(session_id=session_id, closed=True)
    return result(closed)


@tool_errors
async def list_sessions(
    ctx: Context,
    labels: Annotated[
        dict[str, str] | None,
        Field(description="Only sessions that carry every one of these labels (key: value)."),
    ] = None,
) -> Annotated[CallToolResult, SessionList]:
    """Your open sessions, oldest first, then your saved named sessions that do not run now (live: false).

    When a session limit is reached, the least recently used idle one is closed to make room.
    """
    listed = SessionList(sessions=await state(ctx).registry.sessions(principal(), labels))
    return result(listed)


_RUN = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)

SESSION_TOOLS = (
    ToolDef(run_code, title="Run Python code", annotations=_RUN),
    ToolDef(
        reset_session,
        title="Reset the session",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
    ),
    ToolDef(session_info, title="Describe the session", annotations=READ),
)


CODE_RUN_TOOLS = {
    False: (ToolDef(without_parameters(run_code_compact, "session_id"), "Run Python code", _RUN, name="run_code"),),
    True: (ToolDef(run_code_compact, "Run Python code", _RUN, name="run_code"),),
}
"""The code profile's run_code, by whether it serves HTTP: over stdio there is one session, so no session_id."""

CODE_HANDLE_TOOLS = (
    ToolDef(
        without_parameters(open_session, "labels"),
        "Open a session",
        CREATE,
        name="open_session",
        description="Open a session; pass its session_id to run_code. With a name: your session of that name "
        "(running, else resumed from its last save, else new).",
    ),
    ToolDef(close_session, "Close a session", DESTROY, description="Close a session (a named one is saved first)."),
)
"""The code profile's session handles (HTTP only): labels and the rest are reached from code (session.*)."""

SESSION_HANDLE_TOOLS = (
    ToolDef(open_session, title="Open a session", annotations=CREATE),
    ToolDef(close_session, title="Close a session", annotations=DESTROY),
    ToolDef(list_sessions, title="List your sessions", annotations=READ),
)
