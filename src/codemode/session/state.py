"""A session's snapshots, as one part of the session: its variables and directory, taken and put back.

Snapshots are taken and loaded in the session's worker only (eryx's ``snapshot_state`` /
``restore_state``); the session's directory travels with them, packed as an archive.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio.to_thread

from codemode.errors import CodemodeError, InvalidArgument, SnapshotError, Unavailable
from codemode.executors.base import Executor
from codemode.models import ExecutionLimits
from codemode.session.archive import StagedFiles, is_empty_archive
from codemode.session.directory import SessionDirectory
from codemode.workspace.snapshots import Snapshot, SnapshotStore, restore, take

SnapshotSource = Snapshot | bytes | bytearray | memoryview | str
"""What ``restore_state`` takes: a :class:`Snapshot`, its bytes, or the id of a stored one."""


class SessionSnapshots:
    """Takes and restores one session's snapshots; ``turn`` gives the worker to one operation at a time."""

    def __init__(
        self,
        executor: Executor,
        limits: ExecutionLimits,
        directory: SessionDirectory,
        turn: Callable[[], AbstractAsyncContextManager[None]],
    ) -> None:
        self._executor = executor
        self._limit = limits.max_snapshot_bytes
        self._directory = directory
        self._turn = turn

    async def take(self, timeout: float | None, files: bool) -> Snapshot:
        """The variables now, and the directory unless ``files`` is false (or there is none, or it is empty)."""
        async with self._turn():
            snapshot = await take(self._executor, self._limit, timeout)
        if files:
            snapshot.files = await self._packed_files()
        return snapshot

    async def restore(self, snapshot: Snapshot, timeout: float | None) -> tuple[dict[str, Any], int]:
        """What the worker reports of putting the variables back, and how many files were put back.

        All or nothing: the files are staged (and checked) first, the variables restored, and only then
        the files moved into place; a failure before that leaves both as they were.
        """
        async with self._turn(), self._directory.staged(snapshot.files, self._limit) as staged:
            outcome = await restore(self._executor, snapshot, self._limit, timeout)
            files = 0 if staged is None else await _apply_files(staged)
        return outcome, files

    async def _packed_files(self) -> bytes | None:
        try:
            packed = await self._directory.pack(self._limit)
        except Unavailable:  # an in-process session has no directory
            return None
        return None if is_empty_archive(packed) else packed


async def snapshot_of(source: SnapshotSource, store: SnapshotStore, owner: str) -> Snapshot:
    """The snapshot ``source`` names: itself, read from its bytes, or ``owner``'s stored one by id."""
    if isinstance(source, Snapshot):
        return source
    if isinstance(source, str):
        return await store.get(source, owner)
    if not isinstance(source, bytes | bytearray | memoryview):
        raise InvalidArgument(
            f"restore_state takes a Snapshot, its bytes or a snapshot id, not {type(source).__name__}"
        )
    return Snapshot.from_bytes(source)


async def _apply_files(staged: StagedFiles) -> int:
    moved = 0
    try:
        with anyio.CancelScope(shield=True):  # the variables are restored: the files follow, whatever comes
            moved = await anyio.to_thread.run_sync(staged.apply)
    except (OSError, CodemodeError) as exc:  # only a race with the session's own threads gets here
        raise SnapshotError(
            f"the variables were restored, but the snapshot's files could not all be moved into place: {exc}"
        ) from exc
    return moved
