"""Sizes as people read them, in messages that name a limit."""

from __future__ import annotations


def format_bytes(size: int) -> str:
    """``2 GiB``, ``300 MiB``, ``4 KiB`` or ``512 bytes`` (three significant digits)."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"
