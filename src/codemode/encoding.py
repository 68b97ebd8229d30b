"""Bytes as base64 text, where JSON carries them: tool arguments and results, exported sessions."""

from __future__ import annotations

import base64
import binascii

from codemode.errors import InvalidArgument


def to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def from_base64(text: str, error: str) -> bytes:
    """The bytes ``text`` encodes; :class:`InvalidArgument` saying ``error`` if it is not strict base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(error) from None
