"""MCP tools for snapshots of a session's variables: take, restore, list, delete (the caller's own only)."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from codemode.server.context import SessionId, principal, result, session, state, tool_errors
from codemode.server.toolset import CREATE, DESTROY, READ, ToolDef
from codemode.workspace.snapshots import RestoreResult, SkippedName, SnapshotInfo

SnapshotId = Annotated[str, Field(description="The id snapshot_session returned (list_snapshots shows yours).")]


class SnapshotTaken(BaseModel):
    session_id: str = Field(description="The session the snapshot was taken of.")
    snapshot_id: str = Field(description="The snapshot's id: give it to restore_session.")
    size: int = Field(description="Bytes stored.")
    saved: list[str] = Field(description="The names it brings back (modules are re-imported).")
    skipped: list[SkippedName] = Field(description="Names that could not be saved, and why.")


class SnapshotList(BaseModel):
    snapshots: list[SnapshotInfo] = Field(description="Your stored snapshots.")


class DeletedSnapshot(BaseModel):
    snapshot_id: str = Field(description="The snapshot asked for.")
    deleted: bool = Field(description="True: the snapshot is gone (an unknown id is an error).")


@tool_errors
async def snapshot_session(ctx: Context, session_id: SessionId = None) -> Annotated[CallToolResult, SnapshotTaken]:
    """Save your session's variables, functions, classes and imports as a stored snapshot; returns its id.

    restore_session(snapshot_id) brings them back, into this session or another of yours, also after a
    server restart. Open files, sockets, generators and locks cannot be saved: they are listed in skipped.
    """
    current = await session(ctx, session_id)
    snapshot = await current.snapshot_state()
    info = await state(ctx).workspace.snapshots.save(snapshot, principal())
    assert info.snapshot_id is not None
    taken = SnapshotTaken(
        session_id=current.session_id,
        snapshot_id=info.snapshot_id,
        size=info.size,
        saved=info.saved,
        skipped=info.skipped,
    )
    return result(taken)


@tool_errors
async def restore_session(
    snapshot_id: SnapshotId, ctx: Context, session_id: SessionId = None
) -> Annotated[CallToolResult, RestoreResult]:
    """Replace your session's variables with those of one of your snapshots (the others are dropped)."""
    current = await session(ctx, session_id)
    snapshot = await state(ctx).workspace.snapshots.get(snapshot_id, principal())
    restored = await current.restore_state(snapshot)
    return result(restored)


@tool_errors
async def list_snapshots(ctx: Context) -> Annotated[CallToolResult, SnapshotList]:
    """Your stored snapshots, oldest first: id, size, names saved and skipped, session, time."""
    listed = SnapshotList(snapshots=await state(ctx).workspace.snapshots.list(principal()))
    return result(listed)


@tool_errors
async def delete_snapshot(snapshot_id: SnapshotId, ctx: Context) -> Annotated[CallToolResult, DeletedSnapshot]:
    """Delete one of your stored snapshots."""
    await state(ctx).workspace.snapshots.delete(snapshot_id, principal())
    return result(DeletedSnapshot(snapshot_id=snapshot_id, deleted=True))


SNAPSHOT_TOOLS = (
    ToolDef(
        snapshot_session,
        title="Snapshot the session",
        annotations=CREATE,
    ),
    ToolDef(
        restore_session,
        title="Restore a snapshot",
        annotations=DESTROY,
    ),
    ToolDef(list_snapshots, title="List your snapshots", annotations=READ),
    ToolDef(
        delete_snapshot,
        title="Delete a snapshot",
        annotations=DESTROY,
    ),
)
