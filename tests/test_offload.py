"""Work on big inputs leaves the event loop; small inputs stay on it."""

from __future__ import annotations

import threading

import pytest

from codemode.offload import INLINE_BYTES, run_sized

pytestmark = pytest.mark.anyio


async def test_small_inputs_run_on_the_event_loop_thread():
    assert await run_sized(INLINE_BYTES, threading.get_ident) == threading.get_ident()


async def test_big_inputs_run_in_another_thread():
    assert await run_sized(INLINE_BYTES + 1, threading.get_ident) != threading.get_ident()


async def test_errors_reach_the_caller_either_way():
    for size in (0, INLINE_BYTES + 1):
        with pytest.raises(ValueError, match="bad"):
            await run_sized(size, int, "bad")
