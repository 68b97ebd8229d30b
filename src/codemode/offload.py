"""Work on big inputs runs in a thread, so one large call does not stall every other session.

The event loop serves all sessions of a server; parsing 16 MB of JSON on it holds
every other client for a tenth of a second. Small inputs stay inline, where a
thread hop would cost more than the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

INLINE_BYTES = 1 << 20
"""Inputs up to this size are handled on the event loop (about a millisecond of parsing or hashing)."""

T = TypeVar("T")


async def run_sized(size: int, func: Callable[..., T], *args: object) -> T:
    """``func(*args)``: inline for inputs of at most :data:`INLINE_BYTES`, else in a worker thread."""
    if size <= INLINE_BYTES:
        return func(*args)
    return await anyio.to_thread.run_sync(func, *args)
