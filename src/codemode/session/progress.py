"""Progress of long calls, as the server reports it: a run's elapsed time and output, uv's lines.

Nothing here knows MCP: ``report(progress, message)`` is whatever the caller sends
progress with (``ctx.report_progress`` in the server). A call shorter than one
interval reports nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

from codemode.executors.base import LIVE_OUTPUT_INTERVAL, OutputCallback

Report = Callable[[float, str], Awaitable[None]]
"""``await report(progress, message)``: progress only grows (seconds elapsed, or lines seen)."""

TAIL_CHARS = 400
"""Characters of the latest output a progress message carries."""


class OutputTail:
    """The last ``limit`` characters of a run's output, both streams as they came."""

    def __init__(self, limit: int = TAIL_CHARS) -> None:
        self._limit = limit
        self.text = ""

    def add(self, stream: str, text: str) -> None:
        self.text = (self.text + text)[-self._limit :]


@asynccontextmanager
async def run_progress(report: Report, interval: float = LIVE_OUTPUT_INTERVAL) -> AsyncIterator[OutputCallback]:
    """Report elapsed seconds and the output's tail every ``interval`` while the body runs.

    Yields the ``on_output`` callback to pass to ``Session.run``.
    """
    tail = OutputTail()
    started = time.monotonic()

    async def tick() -> None:
        while True:
            await anyio.sleep(interval)
            elapsed = round(time.monotonic() - started, 1)
            message = f"running for {elapsed:g} s"
            if tail.text:
                message += f"; latest output:\n{tail.text}"
            await report(elapsed, message)

    async with anyio.create_task_group() as ticking:
        ticking.start_soon(tick)
        try:
            yield tail.add
        finally:
            ticking.cancel_scope.cancel()


class LineProgress:
    """uv's output lines as progress: each line is a step; warnings also go to ``warn``."""

    def __init__(self, report: Report, warn: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._report = report
        self._warn = warn
        self.lines = 0

    async def __call__(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        self.lines += 1
        if self._warn is not None and text.lower().startswith("warning"):
            await self._warn(text)
        await self._report(self.lines, text)
