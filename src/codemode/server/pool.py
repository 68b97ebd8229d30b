"""Pre-started workers, so that a new client's first run_code pays no process start.

The pool keeps ``size`` started executors in the session venv. A new session takes
one (or starts its own if the pool is empty), and the pool starts a replacement in
the background. Executors left in the pool at shutdown are closed with it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from codemode.errors import CodemodeError
from codemode.executors.base import Executor

logger = logging.getLogger(__name__)

ExecutorFactory = Callable[[], Awaitable[Executor]]
"""Makes a started executor (with no session yet)."""


async def _no_calls(method: str, params: dict[str, Any]) -> Any:
    raise CodemodeError("this worker has no session yet")


class WorkerPool:
    def __init__(self, size: int, make: ExecutorFactory) -> None:
        self.size = size
        self._make = make
        self._ready: list[Executor] = []
        self._wanted = anyio.Event()
        self._closed = False

    def take(self) -> Executor | None:
        """A started executor, or None if none is ready; a replacement is started in the background."""
        executor = self._ready.pop() if self._ready else None
        self._wanted.set()
        return executor

    async def fill(self) -> None:
        """Keep the pool full until cancelled (run it in a task group)."""
        while not self._closed:
            while len(self._ready) < self.size and not self._closed:
                try:
                    self._ready.append(await self._make())
                except CodemodeError as exc:
                    logger.warning("could not pre-start a worker: %s", exc)
                    await anyio.sleep(5)
            self._wanted = anyio.Event()
            await self._wanted.wait()

    def start(self, tasks: TaskGroup) -> None:
        if self.size > 0:
            tasks.start_soon(self.fill)

    async def close(self) -> None:
        self._closed = True
        self._wanted.set()
        ready, self._ready = self._ready, []
        with anyio.CancelScope(shield=True):
            for executor in ready:
                await executor.close()


async def started(executor: Executor, python: str | None) -> Executor:
    """Start ``executor`` without a session (its host calls are refused until one adopts it)."""
    if python is not None:
        executor.use_python(python)
    await executor.start(_no_calls)
    return executor
