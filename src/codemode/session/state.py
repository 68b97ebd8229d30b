"""What a session keeps about itself, as ``Session`` methods: snapshots, labels, history, pictures.

Snapshots are the worker's variables, taken and put back in the worker (eryx's
``snapshot_state`` / ``restore_state``); labels, history and the originals of shrunk
pictures live in the session object.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import anyio.to_thread

from codemode.errors import CodemodeError, InvalidArgument, NotFound, SnapshotError, Unavailable
from codemode.executors.base import ExecutionLimits, Executor
from codemode.images import Image, ImageStore, image_uri, parse_image_uri
from codemode.models import ExecutionResult
from codemode.session.archive import StagedFiles, is_empty_archive, pack_files, staged_files
from codemode.session.history import History, HistoryEntry
from codemode.session.labels import validate_labels
from codemode.workspace.snapshots import RestoreResult, Snapshot, SnapshotInfo, restore, take
from codemode.workspace.workspace import Workspace


class StateMethods:
    """Snapshots, labels, history and kept pictures of a session (a mixin of ``Session``)."""

    workspace: Workspace
    session_id: str
    name: str | None
    owner: str  # whose stored snapshots this session saves and restores
    default_timeout: float | None
    labels: dict[str, str]
    history: History
    images: ImageStore
    _executor: Executor
    _limits: ExecutionLimits

    if TYPE_CHECKING:

        def _turn(self) -> AbstractAsyncContextManager[None]: ...

    # -- snapshots (eryx) --------------------------------------------------------------

    async def snapshot_state(self, save: bool = False, files: bool = True) -> Snapshot:
        """The variables, functions, classes and imported modules' names of the session, as a :class:`Snapshot`.

        ``len(snapshot)`` is its size. Names that cannot be saved (open files, sockets, generators, locks)
        are left out and listed in ``snapshot.info.skipped`` with the reason. ``save=True`` also stores it
        in the workspace's storage (``snapshot.snapshot_id``), to restore later, elsewhere. The session's
        directory travels with it (``snapshot.files``, within the snapshot size limit) unless ``files=False``.
        """
        async with self._turn():
            snapshot = await take(self._executor, self._limits.max_snapshot_bytes, self.default_timeout)
        if files:
            snapshot.files = await self._packed_files()
        snapshot.info.session_id, snapshot.info.session_name = self.session_id, self.name
        if save:
            await self.workspace.snapshots.save(snapshot, self.owner)
        return snapshot

    async def restore_state(self, snapshot: Snapshot | bytes | bytearray | memoryview | str) -> RestoreResult:
        """Replace the session's variables with a snapshot's: a :class:`Snapshot`, its bytes, or a stored id.

        It may come from this session or another, of this process or another (same Python version). It is
        loaded in the session's worker only. ``execution_count`` is unchanged.
        """
        if isinstance(snapshot, str):
            snapshot = await self.workspace.snapshots.get(snapshot, self.owner)
        elif not isinstance(snapshot, Snapshot):
            if not isinstance(snapshot, bytes | bytearray | memoryview):
                raise InvalidArgument(
                    f"restore_state takes a Snapshot, its bytes or a snapshot id, not {type(snapshot).__name__}"
                )
            snapshot = Snapshot.from_bytes(snapshot)
        limit = self._limits.max_snapshot_bytes
        # All or nothing: the files are staged (and checked) first, the variables restored, and only then
        # the files moved into place; a failure before that leaves both as they were.
        async with self._turn(), staged_files(self, snapshot.files, limit) as staged:  # type: ignore[arg-type]
            outcome = await restore(self._executor, snapshot, limit, self.default_timeout)
            files = 0 if staged is None else await self._apply_files(staged)
        return RestoreResult(session_id=self.session_id, snapshot_id=snapshot.snapshot_id, files=files, **outcome)

    async def _apply_files(self, staged: StagedFiles) -> int:
        moved = 0
        try:
            with anyio.CancelScope(shield=True):  # the variables are restored: the files follow, whatever comes
                moved = await anyio.to_thread.run_sync(staged.apply)
        except (OSError, CodemodeError) as exc:  # only a race with the session's own threads gets here
            raise SnapshotError(
                f"the variables were restored, but the snapshot's files could not all be moved into place: {exc}"
            ) from exc
        return moved

    async def _packed_files(self) -> bytes | None:
        """The session directory for a snapshot to carry; None when it is empty or there is none (in-process)."""
        try:
            packed = await pack_files(self, self._limits.max_snapshot_bytes)  # type: ignore[arg-type]
        except Unavailable:
            return None
        return None if is_empty_archive(packed) else packed

    async def list_snapshots(self) -> list[SnapshotInfo]:
        """The stored snapshots of this session's owner, oldest first."""
        return await self.workspace.snapshots.list(self.owner)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self.workspace.snapshots.delete(snapshot_id, self.owner)

    # -- labels and history ----------------------------------------------------------

    def set_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Replace the session's labels (validated as a whole: a bad set changes nothing)."""
        self.labels = validate_labels(labels)
        return dict(self.labels)

    def get_labels(self) -> dict[str, str]:
        return dict(self.labels)

    def get_history(self, limit: int | None = None) -> list[HistoryEntry]:
        """The last ``limit`` runs (all kept if None), oldest first."""
        return self.history.entries(limit)

    def truncate_history(self, keep: int) -> int:
        """Keep the last ``keep`` runs; returns how many were dropped."""
        return self.history.truncate(keep)

    def clear_history(self) -> None:
        self.history.clear()

    def get_token_count(self) -> int:
        """Approximate tokens in the history (characters / 4), coda's measure of a session's size."""
        return self.history.token_count()

    # -- pictures --------------------------------------------------------------------

    def get_image(self, uri: str) -> Image:
        """The full-size original of a run's picture, by its ``full_size_uri`` (the newest few are kept)."""
        session_id, image_id = parse_image_uri(uri)
        if session_id != self.session_id:
            raise NotFound(f"{uri!r} names a picture of another session")
        return self.images.get(image_id)

    def _keep_originals(self, result: ExecutionResult) -> None:
        """Pictures that were shrunk link to their original, which the session keeps for a while."""
        for image in result.images:
            if image.full is not None:
                image.full_size_uri = image_uri(self.session_id, self.images.keep(image.full))
                if image.data is None:
                    result.notes.append(f"a picture too large to send is at {image.full_size_uri}")
