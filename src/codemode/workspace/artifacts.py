"""Artifacts: named data that outlives a session (text, bytes or JSON data).

Each artifact is two values in storage: the data, under its name in
``artifacts`` (so a workspace stays readable by hand), and a JSON record beside
it in ``artifacts/.meta``. Storage writes one value atomically, not two, so the
record is its own journal. A save writes, in order:

1. the new record marked ``saving``, carrying the SHA-256 of the new data and the
   record it replaces (with that data's digest);
2. the data;
3. the new record again, unmarked.

Whatever point a crash interrupts this at, a reader finds either the old data with
a record whose ``previous`` matches it, or the new data with the new record: a
load returns the old artifact or the new one, each with its own record, never one
with the other's. A record not marked ``saving`` is trusted when its size matches;
a marked one is checked against the data's digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import mimetypes
import time
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import anyio.to_thread
from pydantic import Field, ValidationError

from codemode.errors import ArtifactNotFound, CodemodeError, InvalidArgument, LimitExceeded
from codemode.names import validate_name
from codemode.offload import INLINE_BYTES, run_sized
from codemode.record import Record
from codemode.search.index import Document, rank
from codemode.storage.base import Storage, skip_entry
from codemode.workspace.quota import MAX_METADATA_BYTES, StorageQuota, check_description, check_room

logger = logging.getLogger(__name__)

DATA = "artifacts"
META = "artifacts/.meta"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# Files a workspace keeps in artifacts/ to explain the folder: not artifacts unless saved as one.
_PLACEHOLDERS = frozenset({"README"})
_RECORD_OVERHEAD = 512  # a record's fields besides description and metadata, as JSON
_USAGE_REFRESH = 5.0  # seconds the artifacts' sizes are trusted before they are read again
_READ_ATTEMPTS = 3  # a save in another process may change data and record between our two reads

Kind = Literal["text", "json", "bytes"]


class ArtifactInfo(Record):
    """What is known about an artifact without loading it."""

    name: str = Field(description="The artifact's name: artifacts.load(name).")
    path: str = Field(description="Where the data is stored: a file path, or a Redis location.")
    description: str = Field(default="", description="What it holds, as given when it was saved.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object saved with it.")
    created_at: datetime = Field(description="When it was first saved (UTC).")
    updated_at: datetime = Field(description="When it was last saved (UTC).")
    size: int = Field(description="Size of the stored data in bytes.")
    kind: Kind = Field(description="How the data round-trips: 'text' (str), 'json' (any JSON value) or 'bytes'.")
    mime_type: str = Field(description="Its media type, guessed from its name and kind.")


class _StoredRecord(ArtifactInfo):
    """What is stored in ``artifacts/.meta``: the info, the data's digest and, during a save, what it replaces."""

    sha256: str | None = None
    saving: bool = False
    previous: _StoredRecord | None = None

    def info(self) -> ArtifactInfo:
        return ArtifactInfo.model_validate(self.model_dump(include=set(ArtifactInfo.model_fields)))

    def matches(self, payload: bytes, digest: str | None) -> bool:
        """Whether this record describes ``payload`` (records from before digests: by size alone)."""
        return self.size == len(payload) and (self.sha256 is None or digest is None or self.sha256 == digest)


class ArtifactStore:
    """Save, load, list and delete artifacts in a storage backend."""

    def __init__(self, storage: Storage, max_bytes: int = DEFAULT_MAX_BYTES, quota: StorageQuota | None = None) -> None:
        self._storage = storage
        self.max_bytes = max_bytes
        self.quota = quota or StorageQuota()
        self._writing = anyio.Lock()  # saves and deletes of this process, one at a time: steps never interleave
        self._usage: dict[str, int] | None = None  # name -> bytes it takes, for the quota
        self._usage_read_at = -math.inf

    async def save(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> ArtifactInfo:
        validate_name(name, "artifact name")
        # JSON data's encoded size is unknown before encoding it: containers always go to a thread.
        payload, kind = await run_sized(INLINE_BYTES + 1 if isinstance(data, dict | list) else 0, _encode, data)
        if len(payload) > self.max_bytes:
            raise LimitExceeded(f"artifact {name!r} is {len(payload):,} bytes; the limit is {self.max_bytes:,} bytes")
        _check_metadata(metadata)
        description = check_description(description, f"artifact {name!r}")
        digest = await _sha256(payload)
        async with self._writing:
            # The record is stored too (with the replaced one's during the save): it counts, twice over.
            extra = 2 * (len(description) + len(json.dumps(metadata or {})) + _RECORD_OVERHEAD)
            await self._check_quota(name, len(payload) + extra)
            previous = await self._current(name)
            now = datetime.now(UTC)
            record = _StoredRecord(
                name=name,
                path=self._path(name),
                description=description,
                metadata=metadata or {},
                created_at=previous.created_at if previous else now,
                updated_at=now,
                size=len(payload),
                kind=kind,
                mime_type=_mime_type(name, kind),
                sha256=digest,
            )
            await self._write_record(record.model_copy(update={"saving": True, "previous": previous}))
            await self._storage.write(DATA, name, payload)
            await self._write_record(record)
            if self._usage is not None:
                self._usage[name] = len(payload) + extra // 2
        return record.info()

    async def load(self, name: str) -> Any:
        payload, info = await self.load_raw(name)
        return await run_sized(len(payload), _decode, payload, info.kind)

    async def load_raw(self, name: str) -> tuple[bytes, ArtifactInfo]:
        """The stored bytes and the record, for callers that serve them as they are (MCP resources)."""
        validate_name(name, "artifact name")
        payload = b""
        for _ in range(_READ_ATTEMPTS):
            payload = await self._storage.read(DATA, name)
            if payload is None:
                raise ArtifactNotFound(f"no artifact named {name!r}")
            record = await self._record(name)
            if record is None:
                break
            matching = await _resolve(record, payload)
            if matching is not None:
                return payload, matching.info()
        # No record, or none that describes this data (edited by hand): describe the data itself.
        return payload, self._bare_record(name, payload).info()

    async def search(self, query: str, limit: int = 10) -> list[ArtifactInfo]:
        """The artifacts that best match ``query`` by name, description and metadata keys, best first."""
        infos = {info.name: info for info in await self.list()}
        documents = [
            Document(name, [(name, 3.0), (info.description, 1.0), (" ".join(info.metadata), 0.5)])
            for name, info in infos.items()
        ]
        return [infos[name] for name, _ in await rank(query, documents, limit)]

    async def list(self) -> list[ArtifactInfo]:
        """Every artifact; an entry that cannot be described is left out with a warning, never an error."""
        records = await self._storage.read_all(META)
        infos = []
        for name in await self._storage.keys(DATA):
            raw = records.get(f"{name}.json")
            if raw is None and name.split(".")[0].upper() in _PLACEHOLDERS:
                continue  # a README explaining the folder (hidden names like .gitkeep are never keys)
            try:
                validate_name(name, "artifact name")
                info = await self._listed(name, _parse_record(name, raw))
            except CodemodeError as exc:
                skip_entry(f"{self._storage.location} {DATA}", name, str(exc))
                continue
            if info is not None:
                infos.append(info)
        return infos

    async def delete(self, name: str) -> bool:
        validate_name(name, "artifact name")
        async with self._writing:
            removed = await self._storage.delete(DATA, name)  # data first: a crash leaves no artifact, not a stale one
            await self._storage.delete(META, f"{name}.json")
            if self._usage is not None:
                self._usage.pop(name, None)
        return removed

    async def _listed(self, name: str, record: _StoredRecord | None) -> ArtifactInfo | None:
        if record is not None and not record.saving:
            return record.info()  # a finished save: trusted without reading the data
        try:
            return (await self.load_raw(name))[1]
        except ArtifactNotFound:
            return None  # deleted meanwhile, or a first save that never wrote its data

    async def _current(self, name: str) -> _StoredRecord | None:
        """The record of what is stored now, with its digest: what a save replaces."""
        record = await self._record(name)
        if record is not None and not record.saving:
            return record
        payload = await self._storage.read(DATA, name)
        if payload is None:
            return None
        current = (await _resolve(record, payload) if record else None) or self._bare_record(name, payload)
        return current.model_copy(update={"saving": False, "previous": None})  # one level of history, never a chain

    async def _check_quota(self, name: str, size: int) -> None:
        # Reading every record costs with thousands of artifacts: the sizes are kept, kept current by this
        # store's own saves and deletes, and read again a few seconds on (other servers write too).
        now = time.monotonic()
        if self._usage is None or now - self._usage_read_at > _USAGE_REFRESH:
            records = await self._storage.read_all(META)
            self._usage = {key.removesuffix(".json"): _recorded_size(raw) for key, raw in records.items()}
            self._usage_read_at = now
        check_room(
            "the workspace's artifacts",
            self._usage,
            name,
            size,
            max_bytes=self.quota.artifacts_bytes,
            max_count=self.quota.artifacts_count,
            remedy="delete artifacts that are no longer needed (artifacts.delete(name) or delete_artifact)",
        )

    async def _record(self, name: str) -> _StoredRecord | None:
        return _parse_record(name, await self._storage.read(META, f"{name}.json"))

    async def _write_record(self, record: _StoredRecord) -> None:
        await self._storage.write(META, f"{record.name}.json", record.model_dump_json(exclude_none=True).encode())

    def _path(self, name: str) -> str:
        return f"{self._storage.location}/{DATA}/{name}"

    def _bare_record(self, name: str, payload: bytes) -> _StoredRecord:
        """A record for data put in the directory by hand: bytes unless it decodes as text."""
        kind: Kind = "bytes"
        try:
            payload.decode("utf-8")
            kind = "text"
        except UnicodeDecodeError:
            pass
        epoch = datetime.fromtimestamp(0, UTC)
        return _StoredRecord(
            name=name,
            path=self._path(name),
            created_at=epoch,
            updated_at=epoch,
            size=len(payload),
            kind=kind,
            mime_type=_mime_type(name, kind),
            sha256=hashlib.sha256(payload).hexdigest(),
        )


async def _resolve(record: _StoredRecord, payload: bytes) -> _StoredRecord | None:
    """The record that describes ``payload``: this one, or during a save the one it replaces; None if neither."""
    if not record.saving:
        return record if record.matches(payload, None) else None
    digest = await _sha256(payload)
    for candidate in (record, record.previous):
        if candidate is not None and candidate.matches(payload, digest):
            return candidate
    return None


async def _sha256(payload: bytes) -> str:
    return await run_sized(len(payload), lambda: hashlib.sha256(payload).hexdigest())  # releases the GIL


def _recorded_size(raw: bytes) -> int:
    """What an artifact takes: the size its record states, and the record itself."""
    try:
        size = json.loads(raw).get("size")
    except (ValueError, AttributeError):
        size = 0
    return len(raw) + (size if isinstance(size, int) and size > 0 else 0)


def _encode(data: Any) -> tuple[bytes, Kind]:
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass"), "text"
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), "bytes"
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8"), "json"
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"artifact data must be str, bytes or JSON data (dict, list, numbers, bool, None): {exc}"
        ) from None


def _decode(payload: bytes, kind: Kind) -> Any:
    if kind == "bytes":
        return payload
    text = payload.decode("utf-8", "surrogatepass")
    return json.loads(text) if kind == "json" else text


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise InvalidArgument(f"artifact metadata must be a dict, not {type(metadata).__name__}")
    try:
        size = len(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"artifact metadata must be JSON data: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise LimitExceeded(f"artifact metadata is {size:,} bytes as JSON; the limit is {MAX_METADATA_BYTES:,}")


def _parse_record(name: str, raw: bytes | None) -> _StoredRecord | None:
    """The stored record, or None (with a warning) if it is not one of ours: the data is then described as is."""
    if raw is None:
        return None
    try:
        record = _StoredRecord.model_validate_json(raw)
    except ValidationError as exc:
        logger.warning("ignored the record of artifact %r: not a valid record (%d errors)", name, exc.error_count())
        return None
    if record.name != name:
        logger.warning("ignored the record of artifact %r: it names %r", name, record.name)
        return None
    return record


def _mime_type(name: str, kind: Kind) -> str:
    if kind == "json":
        return "application/json"
    guessed, _ = mimetypes.guess_type(name)
    if guessed:
        return guessed
    return "text/plain" if kind == "text" else "application/octet-stream"
