"""Named sessions at rest: each one's record, last snapshot and files, in a storage backend.

A named session is stored as three values under one key: its record (name, owner,
times, metadata, labels, execution count, history) in ``sessions``, and the bytes
of its last snapshot and of its packed working directory in ``sessions/.state`` and
``sessions/.files`` (with file storage, all in one ``sessions/`` directory). The
record says how big those are, so listing sessions reads records only. The key is
derived from the owner and the name, so one principal's names never meet another's
and no user text reaches a path or a Redis key.

A session moves between servers as one JSON document (:class:`SessionDocument`):
the record with the snapshot and files inline, base64-encoded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import anyio.to_thread
from pydantic import Field, ValidationError

from codemode.encoding import from_base64, to_base64
from codemode.errors import InvalidArgument, SessionError, SessionNotFound, StorageError
from codemode.names import validate_name
from codemode.record import Record
from codemode.session.archive import check_archive
from codemode.session.history import HistoryEntry
from codemode.session.labels import has_labels, validate_labels
from codemode.storage.base import Storage
from codemode.workspace.quota import StorageQuota, check_room

RECORDS = "sessions"
SNAPSHOTS = "sessions/.state"
FILES = "sessions/.files"
LOCAL_OWNER = "local"
DOCUMENT_FORMAT = "codemode-session/1"


class NamedSessionInfo(Record):
    """A stored named session, without its history, snapshot or files (coda's ``SessionInfo``)."""

    name: str
    created_at: datetime
    updated_at: datetime = Field(description="When the session was last saved.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    execution_count: int = Field(default=0, ge=0)
    history_length: int = 0
    has_snapshot: bool = Field(default=False, description="True if resuming it restores its variables.")
    size_bytes: int = Field(default=0, description="Record, snapshot and files together, as stored.")

    @property
    def message_count(self) -> int:
        """coda's name: here, the runs in the history."""
        return self.history_length


class SessionRecord(Record):
    """What is stored about a named session besides its snapshot and files."""

    name: str
    owner: str = LOCAL_OWNER
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    execution_count: int = Field(default=0, ge=0)
    history: list[HistoryEntry] = Field(default_factory=list)
    snapshot_bytes: int | None = Field(default=None, description="Size of the stored snapshot; None if there is none.")
    files_bytes: int | None = Field(default=None, description="Size of the stored files; None if there are none.")

    @classmethod
    def new(cls, name: str, owner: str = LOCAL_OWNER, **fields: Any) -> SessionRecord:
        now = datetime.now(UTC)
        return cls(name=name, owner=owner, **{"created_at": now, "updated_at": now, **fields})

    def info(self, record_bytes: int) -> NamedSessionInfo:
        return NamedSessionInfo(
            name=self.name,
            created_at=self.created_at,
            updated_at=self.updated_at,
            metadata=self.metadata,
            labels=self.labels,
            execution_count=self.execution_count,
            history_length=len(self.history),
            has_snapshot=self.snapshot_bytes is not None,
            size_bytes=record_bytes + (self.snapshot_bytes or 0) + (self.files_bytes or 0),
        )


class SessionDocument(Record):
    """A whole session as one JSON document: export on one server, import on another."""

    format: Literal["codemode-session/1"] = Field(
        default=DOCUMENT_FORMAT, description="The document's format and version: import_session reads this one."
    )
    name: str = Field(description="The session's name.")
    created_at: datetime = Field(description="When the session was created (UTC).")
    updated_at: datetime = Field(description="When the session was last saved (UTC).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form data kept with the session.")
    labels: dict[str, str] = Field(default_factory=dict, description="The session's labels (key: value).")
    execution_count: int = Field(default=0, ge=0, description="Runs the session had made.")
    history: list[HistoryEntry] = Field(default_factory=list, description="The session's runs, oldest first.")
    snapshot: str | None = Field(default=None, description="The last snapshot of its variables, base64; or null.")
    files: str | None = Field(default=None, description="Its working directory, packed, base64; or null.")


class SessionStore:
    """The named sessions of one owner (a principal) in ``storage``."""

    def __init__(self, storage: Storage, owner: str = LOCAL_OWNER, quota: StorageQuota | None = None) -> None:
        self.storage = storage
        self.owner = owner
        self.quota = quota or StorageQuota()
        self._writing = anyio.Lock()  # one store per owner and process (NamedSessions keeps them)
        self._prefix = _digest(owner, 16) + "-"

    async def get(self, name: str) -> SessionRecord | None:
        """The record of ``name``, or None if there is none."""
        data = await self._read(RECORDS, name)
        return None if data is None else self._parse(name, data)

    async def require(self, name: str) -> SessionRecord:
        record = await self.get(name)
        if record is None:
            raise _not_found(name)
        return record

    async def info(self, name: str) -> NamedSessionInfo | None:
        """What ``name`` is, read from its record alone (its snapshot and files are not loaded)."""
        data = await self._read(RECORDS, name)
        return None if data is None else self._parse(name, data).info(len(data))

    async def infos(self, labels: Mapping[str, str] | None = None) -> list[NamedSessionInfo]:
        """This owner's stored sessions carrying every one of ``labels``, by name."""
        wanted = validate_labels(labels) if labels else None
        try:
            keys = [key for key in await self.storage.keys(RECORDS) if key.startswith(self._prefix)]
        except StorageError as exc:
            raise SessionError(f"could not list stored sessions: {exc}") from exc
        infos = []
        for key in keys:
            data = await self._guarded(self.storage.read(RECORDS, key), "read a stored session")
            if data is None:
                continue  # deleted meanwhile
            try:
                record = SessionRecord.model_validate_json(data)
            except ValidationError:
                continue  # a damaged record is reported when it is opened by name, never fails a listing
            if record.owner == self.owner and has_labels(record.labels, wanted):
                infos.append(record.info(len(data)))
        return sorted(infos, key=lambda info: info.name)

    async def put(
        self, record: SessionRecord, snapshot: bytes | None = None, files: bytes | None = None
    ) -> NamedSessionInfo:
        """Store ``record``, and ``snapshot`` / ``files`` if given (else the stored ones stay, as the record says).

        The blobs go first and the record last, so a failure midway leaves the old record
        in force, never one that points at state that is not there.
        """
        validate_name(record.name, "session name")
        record = record.model_copy(update={"owner": self.owner, "updated_at": datetime.now(UTC)})
        data = b""
        async with self._writing:  # a quota check and the writes it admits are one step
            await self._check_quota(record, snapshot, files)
            # Once started, the writes finish: a client that goes away must not leave blobs the record misstates.
            with anyio.CancelScope(shield=True):
                if snapshot is not None:
                    record.snapshot_bytes = await self._put_blob(SNAPSHOTS, record.name, snapshot)
                if files is not None:
                    record.files_bytes = await self._put_blob(FILES, record.name, files)
                data = record.model_dump_json().encode()
                await self._guarded(self.storage.write(RECORDS, self._key(record.name), data), "save the session")
        return record.info(len(data))

    async def snapshot(self, name: str) -> bytes | None:
        return await self._read(SNAPSHOTS, name)

    async def files(self, name: str) -> bytes | None:
        return await self._read(FILES, name)

    async def delete(self, name: str) -> None:
        """Remove ``name`` with its snapshot and files; ``SessionNotFound`` if there is none."""
        key = self._key(name)
        if not await self._guarded(self.storage.delete(RECORDS, key), "delete the session"):
            raise _not_found(name)
        for collection in (SNAPSHOTS, FILES):
            await self._guarded(self.storage.delete(collection, key), "delete the session's state")

    async def update_metadata(self, name: str, metadata: Mapping[str, Any]) -> NamedSessionInfo:
        """Merge ``metadata`` into the stored session's (coda's ``update_metadata``)."""
        if not isinstance(metadata, Mapping):
            raise InvalidArgument(f"metadata must be a dict, not {type(metadata).__name__}")
        record = await self.require(name)
        record.metadata = {**record.metadata, **metadata}
        return await self.put(record)

    async def export(self, name: str) -> SessionDocument:
        record = await self.require(name)
        return to_document(record, await self.snapshot(name), await self.files(name))

    async def import_document(self, document: object, name: str | None = None) -> NamedSessionInfo:
        """Store an exported session under its name (or ``name``); refuses a name that is taken."""
        parsed = parse_document(document)
        target = validate_name(name if name is not None else parsed.name, "session name")
        if await self.get(target) is not None:
            raise InvalidArgument(f"you already have a session named {target!r}: delete it or import under a new name")
        snapshot, files = _decode(parsed.snapshot, "snapshot"), _decode(parsed.files, "files")
        if files is not None:  # what could never be unpacked must not be stored under a name
            await anyio.to_thread.run_sync(check_archive, files)
        fields = parsed.model_dump(exclude={"format", "snapshot", "files", "name", "labels"})
        fields["labels"] = validate_labels(parsed.labels)
        return await self.put(SessionRecord(name=target, owner=self.owner, **fields), snapshot, files)

    async def _check_quota(self, record: SessionRecord, snapshot: bytes | None, files: bytes | None) -> None:
        snapshot_bytes = len(snapshot) if snapshot is not None else record.snapshot_bytes or 0
        files_bytes = len(files) if files is not None else record.files_bytes or 0
        check_room(
            "your named sessions",
            {info.name: info.size_bytes for info in await self.infos()},
            record.name,
            len(record.model_dump_json()) + snapshot_bytes + files_bytes,
            max_bytes=self.quota.sessions_bytes,
            max_count=self.quota.sessions_count,
            remedy="delete named sessions you no longer need (delete_session, list_sessions shows them)",
        )

    def _key(self, name: str) -> str:
        validate_name(name, "session name")
        return self._prefix + _digest(name, 32)

    async def _read(self, collection: str, name: str) -> bytes | None:
        return await self._guarded(self.storage.read(collection, self._key(name)), "read the session")

    async def _put_blob(self, collection: str, name: str, data: bytes) -> int:
        await self._guarded(self.storage.write(collection, self._key(name), data), "save the session")
        return len(data)

    def _parse(self, name: str, data: bytes) -> SessionRecord:
        try:
            record = SessionRecord.model_validate_json(data)
        except ValidationError as exc:
            raise SessionError(f"the stored session {name!r} is damaged and cannot be read: {exc}") from None
        if record.owner != self.owner or record.name != name:
            raise SessionError(f"the stored session {name!r} belongs to another record; it was left unchanged")
        return record

    @staticmethod
    async def _guarded(awaitable: Any, doing: str) -> Any:
        try:
            return await awaitable
        except StorageError as exc:
            raise SessionError(f"could not {doing}: {exc}") from exc


def to_document(record: SessionRecord, snapshot: bytes | None, files: bytes | None) -> SessionDocument:
    fields = record.model_dump(exclude={"owner", "snapshot_bytes", "files_bytes"})
    return SessionDocument(**fields, snapshot=_encode(snapshot), files=_encode(files))


def parse_document(document: object) -> SessionDocument:
    try:
        if isinstance(document, str | bytes):
            return SessionDocument.model_validate_json(document)
        return SessionDocument.model_validate(document)
    except ValidationError as exc:
        raise InvalidArgument(f"not a session document (export_session makes them): {exc}") from None


def _encode(data: bytes | None) -> str | None:
    return None if data is None else to_base64(data)


def _decode(text: str | None, what: str) -> bytes | None:
    return None if text is None else from_base64(text, f"the document's {what} is not valid base64")


def _not_found(name: str) -> SessionNotFound:
    return SessionNotFound(f"no stored session named {name!r}; list_sessions shows yours")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]
