"""Snapshots of a session's variables (eryx's ``snapshot_state`` / ``restore_state``), and where they are kept.

A snapshot is taken by the worker (:mod:`codemode.worker.snapshot_ops`), which
writes it as a file into the directory it shares with the host; the host reads the
bytes and never unpickles them: it only reads the JSON header. Restoring writes
the bytes back into a worker's directory for that worker to load, so a snapshot
is deserialized only in a worker process, confined like any code of the session.

Stored, a snapshot is three values under one key (derived from its owner and id,
so another principal's id never reaches it): its info in ``snapshots/.meta``, the
namespace in ``snapshots`` and, optionally, the session's files in ``snapshots/.files``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from pydantic import Field, ValidationError

from codemode.errors import (
    InvalidArgument,
    LimitExceeded,
    OperationFailed,
    SnapshotError,
    SnapshotNotFound,
    SnapshotUnavailable,
    StorageError,
)
from codemode.executors._results import from_worker
from codemode.executors.base import Exchange, Executor
from codemode.offload import run_sized
from codemode.record import Record
from codemode.storage.base import Storage
from codemode.units import format_bytes
from codemode.worker.snapshot_ops import MAGIC
from codemode.workspace.quota import StorageQuota, check_room

DATA = "snapshots"
META = "snapshots/.meta"
FILES = "snapshots/.files"
_ID = re.compile(r"^[0-9a-f]{32}$")
_HEADER_CAP = 16 * 1024 * 1024
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class SkippedName(Record):
    """A name a snapshot left out, or a restore could not bring back, and why."""

    name: str = Field(description="The variable's name.")
    reason: str = Field(description="Why it was left out (e.g. it cannot be pickled).")


class SnapshotInfo(Record):
    """What a snapshot holds, without its bytes."""

    snapshot_id: str | None = Field(default=None, description="Its id once stored; None for one kept in memory.")
    size: int = Field(description="Bytes of the namespace (the files, if any, are counted in files_size).")
    saved: list[str] = Field(default_factory=list, description="The names it brings back, modules included.")
    skipped: list[SkippedName] = Field(default_factory=list, description="Names that could not be saved, and why.")
    modules: dict[str, str] = Field(default_factory=dict, description="Names bound to modules: re-imported.")
    python: str = Field(description="The Python version it was taken with (major.minor): restored only there.")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC), description="When it was taken (UTC).")
    session_id: str | None = Field(default=None, description="The session it was taken of.")
    session_name: str | None = Field(default=None, description="That session's name, if it is a named session.")
    files_size: int | None = Field(default=None, description="Bytes of the session's files stored with it, if any.")


class _StoredSnapshot(SnapshotInfo):
    owner: str


class RestoreResult(Record):
    """What ``restore_state`` brought back."""

    session_id: str = Field(description="The session the snapshot was restored into.")
    snapshot_id: str | None = Field(default=None, description="The snapshot restored.")
    restored: list[str] = Field(default_factory=list, description="The names the session has back.")
    failed: list[SkippedName] = Field(default_factory=list, description="Modules that could not be imported here.")
    files: int = Field(default=0, description="Files of the session directory put back from the snapshot.")


@dataclass(eq=False)
class Snapshot:
    """A snapshot: bytes-like (``len(snapshot)`` is its size, ``bytes(snapshot)`` its data) with its ``info``.

    ``files`` is the session's working directory, packed, when it travels with the snapshot.
    """

    data: bytes
    info: SnapshotInfo
    files: bytes | None = None

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Snapshot:
        """A snapshot from its bytes (``bytes(snapshot)``); ``InvalidArgument`` if they are not one."""
        raw = bytes(data)
        header = parse_header(raw)
        modules = header.get("modules") or {}
        return cls(
            raw,
            SnapshotInfo(
                size=len(raw),
                saved=sorted([*header.get("names", []), *modules]),
                skipped=header.get("skipped") or [],
                modules=modules,
                python=str(header.get("python")),
            ),
        )

    @property
    def snapshot_id(self) -> str | None:
        return self.info.snapshot_id

    @property
    def size(self) -> int:
        return len(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __bytes__(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        where = self.info.snapshot_id or "(not stored)"
        return f"<Snapshot {where} {len(self.data):,} bytes, {len(self.info.saved)} names>"


def parse_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a snapshot's bytes (never unpickled here); ``InvalidArgument`` if it has none."""
    if not data.startswith(MAGIC):
        raise InvalidArgument("not a snapshot: pass what snapshot_state() returned, its bytes, or a snapshot id")
    end = data.find(b"\n", len(MAGIC), _HEADER_CAP)
    try:
        header = json.loads(data[len(MAGIC) : end]) if end > 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise InvalidArgument("not a snapshot: its header is damaged")
    return header


# -- taking and restoring, through an executor ---------------------------------------------


async def take(executor: Executor, max_bytes: int, timeout: float | None) -> Snapshot:
    """The executor's user namespace as a snapshot (not stored)."""
    exchange = await _exchange(executor)
    name = f".codemode-snapshot-{secrets.token_hex(8)}"
    params = {"path": f"{exchange.worker_dir}/{name}", "serializer": exchange.serializer, "max_bytes": max_bytes}
    try:
        result = await executor.request("snapshot_save", params, timeout)
        data = await anyio.to_thread.run_sync(_read_file, exchange.host_dir / name, max_bytes)
    except OperationFailed as exc:
        raise _translate(exc, "taken", max_bytes) from None
    finally:
        await anyio.to_thread.run_sync(_remove, exchange.host_dir / name)
    header = await run_sized(len(data), parse_header, data)
    info = from_worker(
        "snapshot",
        lambda: SnapshotInfo(
            size=len(data),
            saved=result["saved"],
            skipped=result["skipped"],
            modules=result["modules"],
            python=str(header.get("python")),
        ),
    )
    return Snapshot(data, info)


async def restore(executor: Executor, snapshot: Snapshot, max_bytes: int, timeout: float | None) -> dict[str, Any]:
    """Load ``snapshot`` into the executor's namespace (replacing it); ``{restored, failed}``."""
    if len(snapshot.data) > max_bytes:
        raise LimitExceeded(
            f"the snapshot has {format_bytes(len(snapshot.data))}, more than this session's limit of "
            f"{format_bytes(max_bytes)} (--max-snapshot-size)"
        )
    await run_sized(len(snapshot.data), parse_header, snapshot.data)
    exchange = await _exchange(executor)
    if not exchange.separate_process:
        raise SnapshotUnavailable(
            "snapshots are loaded only in a worker process, and the in-process executor runs code inside the "
            "server: restore it into a session with the subprocess executor"
        )
    name = f".codemode-restore-{secrets.token_hex(8)}"
    params = {"path": f"{exchange.worker_dir}/{name}", "serializer": exchange.serializer}
    try:
        await anyio.to_thread.run_sync(_write_file, exchange.host_dir / name, snapshot.data)
        return await executor.request("snapshot_load", params, timeout)
    except OperationFailed as exc:
        raise _translate(exc, "restored", max_bytes) from None
    finally:
        await anyio.to_thread.run_sync(_remove, exchange.host_dir / name)


async def _exchange(executor: Executor) -> Exchange:
    exchange = await executor.exchange()
    if exchange.problem is not None:
        raise SnapshotUnavailable(f"snapshots are unavailable in this session: {exchange.problem}")
    return exchange


def _translate(exc: OperationFailed, doing: str, max_bytes: int) -> Exception:
    message = str(exc).removeprefix(f"{exc.error_type}: ")
    if exc.error_type == "SnapshotTooLarge":
        return LimitExceeded(
            f"the snapshot is larger than this session's limit of {format_bytes(max_bytes)} "
            "(--max-snapshot-size, ExecutionLimits.max_snapshot_bytes): delete large variables first"
        )
    if exc.error_type == "SnapshotUnavailable":
        return SnapshotUnavailable(message)
    if exc.error_type == "SnapshotIncompatible":
        return SnapshotError(f"the snapshot cannot be {doing}: {message}")
    return SnapshotError(
        f"the snapshot could not be {doing} ({exc.error_type}: {message}); the session's variables are unchanged"
    )


def _read_file(path: Path, max_bytes: int) -> bytes:
    """The worker's file, refusing links and anything but a regular file (the worker could plant them)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        raise SnapshotError(f"the worker's snapshot file could not be read: {exc}") from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SnapshotError("the worker's snapshot file is not a regular file")
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LimitExceeded(f"the snapshot is larger than this session's limit of {format_bytes(max_bytes)}")
    return data


def _write_file(path: Path, data: bytes) -> None:
    with os.fdopen(os.open(path, _NEW_FLAGS, 0o600), "wb") as file:
        file.write(data)


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- storage --------------------------------------------------------------------------------


class SnapshotStore:
    """Stored snapshots, each belonging to one owner (a principal): nobody else can list, get or delete it."""

    def __init__(self, storage: Storage, quota: StorageQuota | None = None) -> None:
        self.storage = storage
        self.quota = quota or StorageQuota()
        self._writing = anyio.Lock()  # a quota check and the writes it admits are one step

    async def save(self, snapshot: Snapshot, owner: str, snapshot_id: str | None = None) -> SnapshotInfo:
        """Store ``snapshot`` (with its ``files``, if any) under a new id, or ``snapshot_id`` chosen by
        :func:`new_snapshot_id` beforehand; its ``info`` gets the id."""
        snapshot_id = snapshot_id or new_snapshot_id()
        key = _key(owner, snapshot_id)
        info = snapshot.info.model_copy(
            update={
                "snapshot_id": snapshot_id,
                "size": len(snapshot.data),
                "files_size": None if snapshot.files is None else len(snapshot.files),
            }
        )
        record = _StoredSnapshot(**info.model_dump(), owner=owner).model_dump_json().encode()
        async with self._writing:
            check_room(
                "your stored snapshots",
                {stored.snapshot_id or "": size for stored, size in await self._records(owner)},
                snapshot_id,
                len(snapshot.data) + len(snapshot.files or b"") + len(record),  # the worker's lists count too
                max_bytes=self.quota.snapshots_bytes,
                max_count=self.quota.snapshots_count,
                remedy="delete snapshots you no longer need (delete_snapshot, list_snapshots shows them)",
            )
            # Once started, the writes finish: a client that goes away must not leave data no record counts.
            with anyio.CancelScope(shield=True):
                await _guarded(self.storage.write(DATA, key, snapshot.data), "store the snapshot")
                if snapshot.files is not None:
                    await _guarded(self.storage.write(FILES, key, snapshot.files), "store the snapshot's files")
                await _guarded(self.storage.write(META, key, record), "store the snapshot")
        snapshot.info = info
        return info

    async def info(self, snapshot_id: str, owner: str) -> SnapshotInfo:
        """What ``snapshot_id`` holds; ``SnapshotNotFound`` unless ``owner`` has it."""
        key = _key(owner, _check_id(snapshot_id))
        data = await _guarded(self.storage.read(META, key), "read the snapshot")
        record = _parse(data) if data is not None else None
        if record is None or record.owner != owner:
            raise SnapshotNotFound(f"you have no snapshot {snapshot_id!r}; list_snapshots shows yours")
        return SnapshotInfo(**record.model_dump(exclude={"owner"}))

    async def get(self, snapshot_id: str, owner: str) -> Snapshot:
        """The snapshot ``snapshot_id`` with its bytes (and files); ``SnapshotNotFound`` unless ``owner`` has it."""
        info = await self.info(snapshot_id, owner)
        key = _key(owner, snapshot_id)
        data = await _guarded(self.storage.read(DATA, key), "read the snapshot")
        if data is None:
            raise SnapshotNotFound(f"the data of snapshot {snapshot_id!r} is gone")
        files = await _guarded(self.storage.read(FILES, key), "read the snapshot") if info.files_size else None
        return Snapshot(data, info, files)

    async def list(self, owner: str) -> list[SnapshotInfo]:
        """``owner``'s snapshots, oldest first (only their infos are read)."""
        infos = [SnapshotInfo(**record.model_dump(exclude={"owner"})) for record, _ in await self._records(owner)]
        return sorted(infos, key=lambda info: info.created_at)

    async def _records(self, owner: str) -> list[tuple[_StoredSnapshot, int]]:
        """``owner``'s records, each with the bytes its snapshot takes (data, files and the record)."""
        prefix = _owner_prefix(owner)
        records = []
        for key in await _guarded(self.storage.keys(META), "list snapshots"):
            if not key.startswith(prefix):
                continue
            data = await _guarded(self.storage.read(META, key), "list snapshots")
            record = _parse(data) if data is not None else None
            if data is not None and record is not None and record.owner == owner:
                records.append((record, record.size + (record.files_size or 0) + len(data)))
        return records

    async def delete(self, snapshot_id: str, owner: str) -> None:
        """Forget ``snapshot_id``; ``SnapshotNotFound`` unless ``owner`` has it."""
        await self.info(snapshot_id, owner)
        key = _key(owner, snapshot_id)
        await _guarded(self.storage.delete(META, key), "delete the snapshot")  # first: it is gone from listings
        await _guarded(self.storage.delete(DATA, key), "delete the snapshot")
        await _guarded(self.storage.delete(FILES, key), "delete the snapshot")


def _check_id(snapshot_id: object) -> str:
    if not isinstance(snapshot_id, str) or not _ID.fullmatch(snapshot_id):
        raise InvalidArgument(
            f"{snapshot_id!r} is not a snapshot id: ids are 32 hexadecimal characters, as snapshot_session and "
            "list_snapshots return them"
        )
    return snapshot_id


def _owner_prefix(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:16] + "-"


def _key(owner: str, snapshot_id: str) -> str:
    return _owner_prefix(owner) + snapshot_id


def _parse(data: bytes) -> _StoredSnapshot | None:
    try:
        return _StoredSnapshot.model_validate_json(data)
    except ValidationError:
        return None


async def _guarded(awaitable: Any, doing: str) -> Any:
    try:
        return await awaitable
    except StorageError as exc:
        raise SnapshotError(f"could not {doing}: {exc}") from exc


def new_snapshot_id() -> str:
    """An id for a snapshot to be stored (code learns it before the snapshot is taken, at the run's end)."""
    return secrets.token_hex(16)
