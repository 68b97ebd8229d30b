"""What every tool handler needs: the app state, the caller's session, and result shaping."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar, cast

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from codemode.errors import CodemodeError
from codemode.server.registry import SessionRegistry
from codemode.server.settings import LOCAL_PRINCIPAL, ServerSettings
from codemode.session import Session
from codemode.workspace import Workspace

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


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn anticipated failures into tool errors the model can read; anything else is a logged bug."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except CodemodeError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


def result(model: BaseModel, text: str, is_error: bool = False) -> CallToolResult:
    """Structured content (the model's schema is the tool's output schema) plus a text for the model."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json", by_alias=True),
        is_error=is_error,
    )


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
