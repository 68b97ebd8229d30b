"""What every tool handler needs: the app state, the caller's session, and result shaping."""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar, cast

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ContentBlock, InputRequiredResult, TextContent
from pydantic import BaseModel, Field

from codemode.errors import CodemodeError
from codemode.models import ExecutionResult
from codemode.server.approvals import eliciting, uses_input_required
from codemode.server.paused_runs import PausedRuns
from codemode.server.registry import SessionRegistry
from codemode.server.settings import LOCAL_PRINCIPAL, ServerSettings
from codemode.session.javascript import Language
from codemode.session.progress import LineProgress, Report, run_progress
from codemode.session.session import Session
from codemode.workspace.workspace import Workspace

P = ParamSpec("P")
R = TypeVar("R")

SessionId = Annotated[
    str | None,
    Field(description="Run in this session (from open_session). Omit to use your default session."),
]


@dataclass
class AppState:
    settings: ServerSettings
    registry: SessionRegistry
    workspace: Workspace
    paused_runs: PausedRuns = field(default_factory=PausedRuns)
    """Runs of 2026-07-28 clients, kept across the calls that carry their approvals."""


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn anticipated failures into tool errors the model can read; anything else is a logged bug."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except CodemodeError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


def result(model: BaseModel, *, is_error: bool = False) -> CallToolResult:
    """Structured content (the model's schema is the tool's output schema) and, as text, its compact JSON.

    The MCP spec: a tool that returns structured content SHOULD also return it serialized in a
    text block, so clients that read only text lose nothing.
    """
    structured = model.model_dump(mode="json", by_alias=True)
    text = json.dumps(structured, ensure_ascii=False, separators=(",", ":"))
    return _call_result(structured, text, is_error)


def rendered(
    model: BaseModel, text: str, *, is_error: bool = False, extra: Sequence[ContentBlock] = ()
) -> CallToolResult:
    """Structured content plus a readable ``text`` that carries every field (run_code's rendering).

    ``extra`` content follows the text: a run's pictures, and links to their originals.
    """
    return _call_result(model.model_dump(mode="json", by_alias=True), text, is_error, extra)


def _call_result(
    structured: dict[str, Any], text: str, is_error: bool, extra: Sequence[ContentBlock] = ()
) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extra], structured_content=structured, is_error=is_error
    )


def progress_reporter(ctx: Context) -> Report | None:
    """``report(progress, message)`` sending MCP progress for this call; None if the client asked for none.

    Knowing costs nothing: a call without a progress token starts no reporting at all.
    """
    if not _progress_requested(ctx):
        return None

    async def report(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    return report


def _progress_requested(ctx: Context) -> bool:
    meta = ctx.request_context.meta or {}
    if meta.get("progressToken") is not None or meta.get("progress_token") is not None:
        return True
    # The SDK's in-memory dispatcher hands over a callback instead of a token, visible only on its context.
    outbound = getattr(ctx.request_context.session, "_request_outbound", None)
    dispatch = getattr(outbound, "_inner", outbound)
    return getattr(dispatch, "_on_progress", None) is not None or getattr(dispatch, "_progress_token", None) is not None


async def run_asking(
    ctx: Context, current: Session, code: str, timeout: Any, language: Language, report: Report | None
) -> ExecutionResult | InputRequiredResult:
    """Run ``code`` for this request, its tool calls' approvals asked of this request's client.

    Handshake era: asked mid-call by elicitation. 2026-07-28: the run waits in the server's task
    group, and a question ends this call with an ``InputRequiredResult`` (see ``paused_runs``).
    ``report``: progress for the run (elapsed time, latest output), if the client asked for it.
    """
    app = state(ctx)
    if uses_input_required(ctx):
        return await app.paused_runs.run(ctx, current, code, timeout, language, report, app.registry.start_soon)
    if report is None:
        return await current.run(code, timeout, language=language, approver=eliciting(ctx))
    async with run_progress(report) as on_output:
        return await current.run(code, timeout, on_output=on_output, language=language, approver=eliciting(ctx))


def uv_progress(ctx: Context) -> LineProgress:
    """The ``progress`` callback of add_dep/sync_deps: uv's lines as MCP progress, its warnings as MCP log entries."""
    report = progress_reporter(ctx) or _no_progress

    async def warn(message: str) -> None:
        await log_warning(ctx, message)

    return LineProgress(report, warn)


async def _no_progress(progress: float, message: str) -> None:
    return None


async def log_warning(ctx: Context, message: str) -> None:
    """A warning for the client's log (MCP logging; deprecated by protocol 2026-07-28, which may drop it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK's MCPDeprecationWarning: nothing for the operator to act on
        await ctx.warning(message, logger_name="codemode.workspace.deps")


def state(ctx: Context) -> AppState:
    return cast(AppState, ctx.request_context.lifespan_context)


def principal() -> str:
    """Who is calling: the authenticated client, or the local user when nobody authenticates."""
    token = get_access_token()
    return token.client_id if token is not None else LOCAL_PRINCIPAL


async def session(ctx: Context, session_id: str | None) -> Session:
    """The caller's session: ``session_id`` if given, else the one bound to the caller (see registry)."""
    headers = ctx.headers
    transport_key = headers.get("mcp-session-id") if headers is not None else None
    return await state(ctx).registry.resolve(principal(), session_id, transport_key)
