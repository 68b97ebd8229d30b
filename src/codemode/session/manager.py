"""``SessionManager``: named sessions over a storage backend (coda's SessionManager, for live interpreters).

A named session outlives its worker: saving it stores its record, history and
labels with a snapshot of its variables and its working directory
(:mod:`codemode.session.store`); loading it starts a fresh worker and restores
all of that. A branch is a new name that starts from another session's saved
state and history. The MCP server's registry uses the same :func:`save` and
:func:`resume` for the sessions its clients name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from codemode.errors import CodemodeError, InvalidArgument, Unavailable
from codemode.names import validate_name
from codemode.session.labels import validate_labels
from codemode.session.session import Session
from codemode.session.store import (
    LOCAL_OWNER,
    NamedSessionInfo,
    SessionDocument,
    SessionRecord,
    SessionStore,
    to_document,
)
from codemode.storage.base import Storage
from codemode.workspace.quota import StorageQuota

logger = logging.getLogger(__name__)

SessionFactory = Callable[[str], Session]
"""``factory(name)``: a new, not yet started session called ``name``."""


async def save(
    store: SessionStore, session: Session, name: str | None = None, metadata: Mapping[str, Any] | None = None
) -> NamedSessionInfo:
    """Store the named ``session`` (or any session, under ``name``: a fork) with ``metadata`` added.

    The record and history, a snapshot of its variables and its files are stored. A snapshot
    that cannot be taken now (the worker died, no serializer) keeps the last stored one, so
    saving never loses what was saved before.
    """
    name = name or session.name
    if name is None:
        raise InvalidArgument("only a named session can be saved: open it with a name")
    previous = await store.get(name)
    record = _record_of(session, name, store.owner, metadata)
    if previous is not None:  # what is not taken anew below stays as it was saved
        record.created_at = previous.created_at
        record.snapshot_bytes, record.files_bytes = previous.snapshot_bytes, previous.files_bytes
    snapshot, files = await _capture(session)
    return await store.put(record, snapshot, files)


async def document_of(session: Session, owner: str = LOCAL_OWNER) -> SessionDocument:
    """The running ``session`` as an export document, taken now (a named one is better saved, then exported)."""
    snapshot, files = await _capture(session)
    return to_document(_record_of(session, session.name or "session", owner), snapshot, files)


async def resume(store: SessionStore, session: Session, record: SessionRecord) -> None:
    """Bring ``record``'s saved state into ``session`` (started): variables, files, history, labels."""
    snapshot = await store.snapshot(record.name) if record.snapshot_bytes is not None else None
    files = await store.files(record.name) if record.files_bytes is not None else None
    notes = await _apply(session, snapshot, files)
    for note in notes:
        logger.warning("session %r resumed, but %s", record.name, note)
    session.notes = [
        f"resumed from its save of {record.updated_at:%Y-%m-%d %H:%M:%S} UTC, but {note}" for note in notes
    ]
    session.created_at = record.created_at  # the named session's, not this worker's
    session.labels = dict(record.labels)
    session.metadata = dict(record.metadata)
    session.execution_count = record.execution_count
    session.history.replace(record.history)


async def branch(store: SessionStore, source: str, name: str) -> NamedSessionInfo:
    """Store ``name`` as a copy of the saved session ``source``: its snapshot, files and history."""
    origin = await store.require(source)
    if await store.get(name) is not None:
        raise InvalidArgument(f"a session named {name!r} already exists: branch under a new name")
    record = SessionRecord.new(
        name,
        store.owner,
        metadata={**origin.metadata, "branched_from": source},
        labels=origin.labels,
        execution_count=origin.execution_count,
        history=origin.history,
    )
    return await store.put(record, await store.snapshot(source), await store.files(source))


class SessionManager:
    """Create, load, save, branch, list, export and import named sessions in ``storage``.

    Sessions it returns are started; close them when done (``save_session`` first to keep
    what they did). ``owner`` keeps several users' names apart in one storage; ``quota`` bounds
    how many sessions and bytes that owner may store (:class:`~codemode.workspace.quota.StorageQuota`).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        factory: SessionFactory | None = None,
        owner: str = LOCAL_OWNER,
        quota: StorageQuota | None = None,
    ) -> None:
        self.store = SessionStore(storage, owner, quota)
        self._factory = factory or (lambda name: Session(storage=storage, name=name, quota=quota))

    async def create_session(
        self,
        name: str,
        branch_from: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session:
        """The session ``name``: loaded if it is stored, else new; or a new branch of ``branch_from``."""
        validate_name(name, "session name")
        if branch_from is not None:
            await branch(self.store, branch_from, name)
        elif await self.store.get(name) is None:
            fields = {"labels": validate_labels(labels or {}), "metadata": dict(metadata or {})}
            await self.store.put(SessionRecord.new(name, self.store.owner, **fields))
            return await self.load_session(name)
        session = await self.load_session(name)
        if labels is not None:
            session.set_labels(labels)
        if metadata is not None:
            session.metadata.update(metadata)
        return session

    async def load_session(self, name: str) -> Session:
        """A started session resumed from what ``name`` last saved; ``SessionNotFound`` if nothing."""
        record = await self.store.require(name)
        session = self._factory(name)
        session.owner = self.store.owner  # snapshots it saves itself are this owner's too
        await session.start()
        try:
            await resume(self.store, session, record)
        except BaseException:
            await session.close()
            raise
        return session

    async def save_session(self, session: Session) -> NamedSessionInfo:
        return await save(self.store, session)

    async def delete_session(self, name: str) -> None:
        """Forget ``name`` and its saved state; ``SessionNotFound`` if there is none."""
        await self.store.delete(name)

    async def list_sessions(self, labels: Mapping[str, str] | None = None) -> list[NamedSessionInfo]:
        return await self.store.infos(labels)

    async def get_session_info(self, name: str) -> NamedSessionInfo | None:
        """What is stored about ``name`` without loading it; None if nothing."""
        return await self.store.info(name)

    async def update_metadata(self, name: str, metadata: Mapping[str, Any]) -> NamedSessionInfo:
        return await self.store.update_metadata(name, metadata)

    async def export_session(self, name: str) -> SessionDocument:
        """The saved session ``name`` as one JSON document (``.model_dump_json()`` to write it out)."""
        return await self.store.export(name)

    async def import_session(self, document: object, name: str | None = None) -> NamedSessionInfo:
        """Store an exported session (a document, its dict or its JSON) under its name or ``name``."""
        return await self.store.import_document(document, name)


async def _capture(session: Session) -> tuple[bytes | None, bytes | None]:
    """The session's snapshot and packed files now; None for what cannot be had (logged)."""
    snapshot = files = None
    try:
        snapshot = bytes(await session.snapshot_state(files=False))  # the files are kept beside it
    except CodemodeError as exc:
        logger.warning("session %r saved without a new snapshot of its variables: %s", session.name, exc)
    try:
        files = await session.directory.pack()
    except Unavailable:
        pass  # an in-process session has no directory of its own
    except CodemodeError as exc:
        logger.warning("session %r saved without a new copy of its files: %s", session.name, exc)
    return snapshot, files


async def _apply(session: Session, snapshot: bytes | None, files: bytes | None) -> list[str]:
    """Restore what can be restored; what cannot (another Python, no serializer) is said, not fatal."""
    notes = []
    if files is not None:
        try:
            await session.directory.unpack(files)
        except CodemodeError as exc:
            notes.append(f"its files could not be restored: {exc}")
    if snapshot is not None:
        try:
            await session.restore_state(snapshot)
        except CodemodeError as exc:
            notes.append(f"its variables could not be restored: {exc}")
    return notes


def _record_of(session: Session, name: str, owner: str, metadata: Mapping[str, Any] | None = None) -> SessionRecord:
    created = {"created_at": session.created_at} if name == session.name else {}  # a fork is new
    return SessionRecord.new(
        name,
        owner,
        **created,
        metadata={**session.metadata, **(metadata or {})},
        labels=dict(session.labels),
        execution_count=session.execution_count,
        history=session.history.entries(),
    )
