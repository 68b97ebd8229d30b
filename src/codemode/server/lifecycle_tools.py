"""MCP tools over a session's life beyond one run: labels, history, forks, export and import, deletion."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from codemode.models import SessionInfo
from codemode.names import validate_name
from codemode.server.context import SessionId, principal, result, session, state, tool_errors
from codemode.server.session_calls import export_named
from codemode.server.toolset import CREATE, DESTROY, READ, ToolDef
from codemode.session.history import HistoryEntry
from codemode.session.manager import document_of
from codemode.session.store import SessionDocument

SessionName = Annotated[str, Field(description="The name of one of your sessions (as list_sessions shows it).")]


class LabelsResult(BaseModel):
    session_id: str = Field(description="The session whose labels these are.")
    labels: dict[str, str] = Field(description="All the session's labels (key: value).")


class HistoryResult(BaseModel):
    session_id: str = Field(description="The session whose history this is.")
    entries: list[HistoryEntry] = Field(description="The latest runs, oldest first.")
    history_length: int = Field(description="Runs the session keeps in all.")
    history_tokens: int = Field(description="Approximate tokens of the whole history (characters / 4).")


class DeletedSession(BaseModel):
    name: str = Field(description="The named session asked for.")
    deleted: bool = Field(description="True: nothing of it is left (an unknown name is an error).")


async def _export(ctx: Context, name: str | None, session_id: str | None) -> SessionDocument:
    registry, owner = state(ctx).registry, principal()
    if name is None:
        current = await session(ctx, session_id)
        if current.name is None:
            return await document_of(current, owner)
        name = current.name
    return await export_named(registry, owner, name)


@tool_errors
async def set_labels(
    labels: Annotated[
        dict[str, str],
        Field(description="All the session's labels (replacing the old): up to 64 non-empty strings."),
    ],
    ctx: Context,
    session_id: SessionId = None,
) -> Annotated[CallToolResult, LabelsResult]:
    """Replace your session's labels (key: value); list_sessions(labels=...) finds sessions by them."""
    current = await session(ctx, session_id)
    return result(LabelsResult(session_id=current.session_id, labels=current.set_labels(labels)))


@tool_errors
async def get_labels(ctx: Context, session_id: SessionId = None) -> Annotated[CallToolResult, LabelsResult]:
    """Your session's labels."""
    current = await session(ctx, session_id)
    return result(LabelsResult(session_id=current.session_id, labels=current.get_labels()))


@tool_errors
async def get_history(
    ctx: Context,
    limit: Annotated[int | None, Field(ge=0, description="At most this many of the latest runs; null: all.")] = 20,
    session_id: SessionId = None,
) -> Annotated[CallToolResult, HistoryResult]:
    """The latest runs of your session: number, code, ok, value or error, duration, time."""
    current = await session(ctx, session_id)
    history = HistoryResult(
        session_id=current.session_id,
        entries=current.get_history(limit),
        history_length=len(current.history),
        history_tokens=current.get_token_count(),
    )
    return result(history)


@tool_errors
async def fork_session(
    name: Annotated[str, Field(description="The new session's name (unused among your sessions).")],
    ctx: Context,
    session_id: SessionId = None,
) -> Annotated[CallToolResult, SessionInfo]:
    """Open a new named session that starts as a copy of yours: variables, files, history, labels.

    Both then go their own way. Returns the new session's session_id.
    """
    source = await session(ctx, session_id)
    forked = await state(ctx).registry.fork(principal(), source, name)
    return result(forked.info())


@tool_errors
async def export_session(
    ctx: Context,
    name: Annotated[
        str | None, Field(description="One of your named sessions (running or saved); omit for this session.")
    ] = None,
    session_id: SessionId = None,
) -> Annotated[CallToolResult, SessionDocument]:
    """Your session as one JSON document: name, metadata, labels, history, files and a snapshot of its
    variables. import_session on this or another server makes an equal session from it."""
    return result(await _export(ctx, name, session_id))


@tool_errors
async def import_session(
    document: Annotated[dict[str, Any], Field(description="A document that export_session returned.")],
    ctx: Context,
    name: Annotated[str | None, Field(description="Import under this name instead of the document's.")] = None,
) -> Annotated[CallToolResult, SessionInfo]:
    """Store an exported session as one of your named sessions and open it (its session_id is returned)."""
    registry = state(ctx).registry
    imported = await registry.named.store(principal()).import_document(document, name)
    opened = await registry.open(principal(), imported.name)
    return result(opened.info())


@tool_errors
async def delete_session(name: SessionName, ctx: Context) -> Annotated[CallToolResult, DeletedSession]:
    """Close your named session if it runs and forget everything saved of it: variables, files, history."""
    await state(ctx).registry.delete(principal(), validate_name(name, "session name"))
    return result(DeletedSession(name=name, deleted=True))


LIFECYCLE_TOOLS = (
    ToolDef(set_labels, title="Set the session's labels", annotations=ToolAnnotations(read_only_hint=False)),
    ToolDef(get_labels, title="Get the session's labels", annotations=READ),
    ToolDef(get_history, title="Get the run history", annotations=READ),
    ToolDef(
        fork_session,
        title="Fork the session",
        annotations=CREATE,
    ),
    ToolDef(
        export_session,
        title="Export a session",
        annotations=CREATE,
    ),
    ToolDef(
        import_session,
        title="Import a session",
        annotations=CREATE,
    ),
    ToolDef(
        delete_session,
        title="Delete a session",
        annotations=DESTROY,
    ),
)
