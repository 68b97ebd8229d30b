"""Running code, as one part of the session: one operation at a time in the session's interpreter.

Code, commands, resets and snapshots all need the worker to themselves; :meth:`Runner.turn`
gives it to one of them at a time, started first. The runner counts runs and carries
what the next result must say (a replaced worker's lost state).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

from codemode.errors import InvalidArgument
from codemode.executors.base import Executor, OutputCallback
from codemode.models import ExecutionResult
from codemode.session import javascript
from codemode.session.callbacks import CallbackSet
from codemode.session.javascript import Language
from codemode.tools.middleware import Approver, ToolChain


class Runner:
    """Drives one session's executor; ``start`` starts the session, ``touch`` notes activity, ``check_open``
    raises once it is closed."""

    def __init__(
        self,
        executor: Executor,
        callbacks: CallbackSet,
        start: Callable[[], Awaitable[None]],
        touch: Callable[[], None],
        check_open: Callable[[], None],
        tool_chain: ToolChain,
    ) -> None:
        self._executor = executor
        self._tool_chain = tool_chain
        self._callbacks = callbacks
        self._start = start
        self._touch = touch
        self._check_open = check_open
        self._lock = anyio.Lock()
        self._lost_before: str | None = None  # why the next run starts from nothing
        self.execution_count = 0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """The started worker to oneself: no run, reset or command runs meanwhile."""
        await self._start()
        async with self._lock:
            self._check_open()
            self._touch()
            try:
                yield
            finally:
                self._touch()

    @property
    def busy(self) -> bool:
        """True while code runs (or a reset, command or snapshot is under way)."""
        return self._lock.locked()

    async def run(
        self,
        code: str,
        timeout: float | None,
        on_output: OutputCallback | None,
        language: Language,
        approver: Approver | None = None,
    ) -> ExecutionResult:
        """Run ``code`` (``timeout`` checked already); the result says if the state was lost before it.

        ``approver`` answers the approvals of this run's tool calls: it is set once the run has the
        worker (not while it waits for another run's turn), and unset as the run ends.
        """
        if not isinstance(code, str):
            raise InvalidArgument(f"code must be a string, not {type(code).__name__}")
        javascript.check_language(language)
        async with self.turn():
            with self._tool_chain.approving(approver):
                result = await self._run_turn(code, timeout, on_output, language)
        if self._lost_before is not None:
            result.state_lost = True
            result.notes.append(self._lost_before)
            self._lost_before = None
        return result

    async def _run_turn(
        self, code: str, timeout: float | None, on_output: OutputCallback | None, language: Language
    ) -> ExecutionResult:
        self.execution_count += 1
        count = self.execution_count
        if language == "javascript":
            return await javascript.run(self._executor, code, count=count, timeout=timeout)
        streaming = {"on_output": on_output} if on_output is not None else {}
        await self._callbacks.install(self._executor)
        return await self._executor.run(code, count=count, timeout=timeout, **streaming)

    def lost_before_start(self, note: str) -> None:
        """The next run says that the state is gone (``state_lost`` and ``note``)."""
        self._lost_before = note

    async def reset(self, hard: bool, javascript_too: bool) -> None:
        """Clear the code's names (and the JavaScript context's), or with ``hard`` start a fresh interpreter."""
        async with self.turn():
            if hard:
                await self._executor.restart()
                self.execution_count = 0
            else:
                await self._executor.reset()
                if javascript_too:
                    await javascript.reset(self._executor)
