"""Artifacts: named data that outlives a session (text, bytes or JSON data).

Each artifact is two values in storage: the data, under its name in
``artifacts``, and a JSON record beside it in ``artifacts/.meta``. The data is
written first, so a reader never finds a record without its data.
"""

from __future__ import annotations

import json
import mimetypes
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from codemode.errors import ArtifactNotFound, InvalidArgument, LimitExceeded
from codemode.names import validate_name
from codemode.storage.base import Storage

DATA = "artifacts"
META = "artifacts/.meta"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

Kind = Literal["text", "json", "bytes"]


class ArtifactInfo(BaseModel):
    """What is known about an artifact without loading it."""

    name: str
    path: str = Field(description="Where the data is stored: a file path, or a Redis location.")
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    size: int = Field(description="Size of the stored data in bytes.")
    kind: Kind = Field(description="How the data round-trips: 'text' (str), 'json' (any JSON value) or 'bytes'.")
    mime_type: str


class ArtifactStore:
    """Save, load, list and delete artifacts in a storage backend."""

    def __init__(self, storage: Storage, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._storage = storage
        self.max_bytes = max_bytes

    async def save(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> ArtifactInfo:
        validate_name(name, "artifact name")
        payload, kind = _encode(data)
        if len(payload) > self.max_bytes:
            raise LimitExceeded(f"artifact {name!r} is {len(payload):,} bytes; the limit is {self.max_bytes:,} bytes")
        _check_metadata(metadata)
        now = datetime.now(UTC)
        previous = await self._info(name)
        info = ArtifactInfo(
            name=name,
            path=f"{self._storage.location}/{DATA}/{name}",
            description=str(description or ""),
            metadata=metadata or {},
            created_at=previous.created_at if previous else now,
            updated_at=now,
            size=len(payload),
            kind=kind,
            mime_type=_mime_type(name, kind),
        )
        await self._storage.write(DATA, name, payload)
        await self._storage.write(META, f"{name}.json", info.model_dump_json().encode())
        return info

    async def load(self, name: str) -> Any:
        payload, info = await self.load_raw(name)
        return _decode(payload, info.kind)

    async def load_raw(self, name: str) -> tuple[bytes, ArtifactInfo]:
        """The stored bytes and the record, for callers that serve them as they are (MCP resources)."""
        validate_name(name, "artifact name")
        payload = await self._storage.read(DATA, name)
        if payload is None:
            raise ArtifactNotFound(f"no artifact named {name!r}")
        info = await self._info(name) or self._bare_info(name, payload)
        return payload, info

    async def list(self) -> list[ArtifactInfo]:
        names = await self._storage.keys(DATA)
        records = await self._storage.read_all(META)
        infos = []
        for name in names:
            info = _parse_info(records.get(f"{name}.json"))
            if info is None:  # put there by hand: look at the data itself
                info = self._bare_info(name, await self._storage.read(DATA, name) or b"")
            infos.append(info)
        return infos

    async def delete(self, name: str) -> bool:
        validate_name(name, "artifact name")
        removed = await self._storage.delete(DATA, name)
        await self._storage.delete(META, f"{name}.json")
        return removed

    async def _info(self, name: str) -> ArtifactInfo | None:
        return _parse_info(await self._storage.read(META, f"{name}.json"))

    def _bare_info(self, name: str, payload: bytes) -> ArtifactInfo:
        """A record for data put in the directory by hand: bytes unless it decodes as text."""
        kind: Kind = "bytes"
        try:
            payload.decode("utf-8")
            kind = "text"
        except UnicodeDecodeError:
            pass
        epoch = datetime.fromtimestamp(0, UTC)
        return ArtifactInfo(
            name=name,
            path=f"{self._storage.location}/{DATA}/{name}",
            created_at=epoch,
            updated_at=epoch,
            size=len(payload),
            kind=kind,
            mime_type=_mime_type(name, kind),
        )


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
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"artifact metadata must be JSON data: {exc}") from None


def _parse_info(raw: bytes | None) -> ArtifactInfo | None:
    if raw is None:
        return None
    try:
        return ArtifactInfo.model_validate_json(raw)
    except ValidationError:
        return None


def _mime_type(name: str, kind: Kind) -> str:
    if kind == "json":
        return "application/json"
    guessed, _ = mimetypes.guess_type(name)
    if guessed:
        return guessed
    return "text/plain" if kind == "text" else "application/octet-stream"
