"""Framing of messages between the host and a worker process.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON
holding one object. Both sides use this module: the host imports it as
``codemode.worker.protocol``; the worker, which must not import ``codemode``
(it may run in another venv), loads this file by path under a private name.
So this module is stdlib-only and holds no state.

Message objects carry an ``op`` field:

host -> worker
    ``execute`` {id, code, count}, ``reset`` {id}, ``reply`` {id, result | error}
worker -> host
    ``ready`` {pid, python, executable}, ``result`` {id, ...}, ``call`` {id, method, params}

Bytes do not exist in JSON, so values that cross the boundary go through
:func:`to_wire` / :func:`from_wire`, which tag them as base64.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

HEADER = struct.Struct("!I")
DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024
BYTES_TAG = "__codemode_bytes__"
MAX_OBJECTS = 1_000_000
"""Objects and arrays one message may hold: JSON decodes each into a Python object many times its size."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class FrameError(Exception):
    """The peer sent something that is not a valid frame."""


def encode_frame(message: dict[str, Any], max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> bytes:
    """Serialize one message to a frame; raise ``FrameError`` if it exceeds ``max_bytes``."""
    # Lone surrogates (from surrogateescape-decoded text) are not valid UTF-8; replace them.
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    if len(body) > max_bytes:
        raise FrameError(f"message of {len(body):,} bytes exceeds the {max_bytes:,}-byte frame limit")
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get whole messages back."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max_bytes = max_bytes

    @property
    def buffered(self) -> int:
        """Bytes received and not yet decoded."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self._max_bytes:
                raise FrameError(f"peer announced a {length:,}-byte frame; the limit is {self._max_bytes:,}")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            messages.append(_decode_body(body))
        return messages


def _decode_body(body: bytes) -> dict[str, Any]:
    _check_object_count(body)
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:  # the peer may be hostile code: nesting too deep is a bad frame
        raise FrameError(f"frame is not valid JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(message, dict) or "op" not in message:
        raise FrameError("frame is not a message object with an 'op' field")
    return message


_FROM_WORKER = {"ready", "result", "done", "call", "output"}


def check_from_worker(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` if it is one the worker may send, with an integer id where it needs one; else ``FrameError``.

    Code in the worker can reach its socket, so the host treats what comes from it as untrusted.
    """
    op = message.get("op")
    if op not in _FROM_WORKER:
        raise FrameError(f"the worker sent an unknown message {str(op)[:40]!r}")
    if op in ("result", "done", "call") and type(message.get("id")) is not int:
        raise FrameError(f"the worker sent a {op!r} message without an integer id")
    return message


def _check_object_count(body: bytes) -> None:
    """Refuse a message of more than ``MAX_OBJECTS`` objects before decoding it (braces in strings don't count)."""
    if body.count(b"{") + body.count(b"[") <= MAX_OBJECTS:
        return
    bare = _STRING.sub(b"", body)
    if bare.count(b"{") + bare.count(b"[") > MAX_OBJECTS:
        raise FrameError(
            f"a message holds more than {MAX_OBJECTS:,} objects and arrays; send such data as bytes "
            "(e.g. json.dumps(...)) instead"
        )


def to_wire(value: Any) -> Any:
    """Make ``value`` JSON-safe, tagging bytes so that :func:`from_wire` restores them."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {BYTES_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {_wire_key(key): to_wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    return value


def from_wire(value: Any) -> Any:
    """Inverse of :func:`to_wire`."""
    if isinstance(value, dict):
        if len(value) == 1 and BYTES_TAG in value:
            return base64.b64decode(value[BYTES_TAG])
        return {key: from_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    return value


def _wire_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int | float | bool) or key is None:
        return json.dumps(key)
    raise TypeError(f"dictionary keys must be str, int, float, bool or None, not {type(key).__name__}")
