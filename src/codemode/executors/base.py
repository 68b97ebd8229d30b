"""What every executor provides, and the limits they enforce.

An executor owns one interpreter namespace and runs code in it. It is shaped
like a kernel provisioner: start, run, reset, restart, close. Everything else
(storage, tools, deps) belongs to the session; code reaches it through the
``HostHandler`` the session passes to :meth:`Executor.start`.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from codemode.models import Capability, Confinement, ExecutionLimits, ExecutionResult, RuntimeInfo

logger = logging.getLogger(__name__)


HostHandler = Callable[[str, dict[str, Any]], Coroutine[Any, Any, Any]]
"""``await handler(method, params)``: serves a call from user code (``artifacts.save`` ...)."""

OutputCallback = Callable[[str, str], Any]
"""``callback(stream, text)``: what a run writes ("stdout" or "stderr"), while it runs; may be async."""

LIVE_OUTPUT_INTERVAL = 0.5
"""Seconds between chunks of live output; a run shorter than this streams nothing (its result has it all)."""


@dataclass(frozen=True)
class Exchange:
    """A directory both the host and the interpreter see: large payloads (snapshots) travel as files there."""

    host_dir: Path
    worker_dir: str
    """The same directory as the interpreter names it (``/tmp`` inside a sandbox)."""
    serializer: str | None = None
    """A ``sys.path`` entry where the interpreter finds cloudpickle; None: it imports its own."""
    problem: str | None = None
    """Why snapshots cannot be taken here, if they cannot."""
    separate_process: bool = True
    """False for the in-process executor: snapshots are never loaded into the server's own process."""


class Executor(Protocol):
    """Runs code for one session, one operation at a time (the session serializes calls)."""

    name: str

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What is enforced for this executor (known in full once it has started)."""
        ...

    @property
    def confinement(self) -> Confinement:
        """The sandbox, network and limits in force."""
        ...

    @property
    def runtime(self) -> RuntimeInfo | None:
        """The interpreter in use, once started."""
        ...

    def use_python(self, python: str) -> None:
        """Run the interpreter with ``python`` (the session's venv) from the next start or restart on.

        Only executors with ``Capability.DEPS_INSTALL`` can; the others raise ``DepsError``.
        """
        ...

    async def start(self, handler: HostHandler) -> None:
        """Get ready to run code; calls from user code go to ``handler``."""
        ...

    async def run(
        self, code: str, *, count: int, timeout: float | None, on_output: OutputCallback | None = None
    ) -> ExecutionResult:
        """Run ``code`` as run number ``count``; ``timeout=None`` means no limit.

        ``on_output`` gets the output while the code runs, in chunks (the result still has all of it).
        """
        ...

    async def reset(self) -> None:
        """Drop user variables, keep the predefined namespaces and the interpreter."""
        ...

    async def request(self, op: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Run operation ``op`` (:mod:`codemode.worker.ops`) in the interpreter; ``OperationFailed`` if it raises."""
        ...

    async def check_after_run(self, result: ExecutionResult) -> None:
        """Add to ``result`` what a run of code made the session exceed (its directory's size limit).

        ``run`` does it; a run that takes another path (JavaScript, through ``request``) calls it.
        """
        ...

    async def restart(self) -> None:
        """Start over with a fresh interpreter (for the subprocess executor, a new process)."""
        ...

    async def exchange(self) -> Exchange:
        """A directory the interpreter shares with the host, for payloads too big for a message (snapshots)."""
        ...

    async def close(self) -> None:
        """Release everything; no process may outlive this."""
        ...


class ExecutorBase:
    """What both executors do the same way: count and time each run.

    An executor serves one session and is not safe for concurrent use: the
    :class:`~codemode.Session` that owns it runs one operation at a time.
    """

    def __init__(self, limits: ExecutionLimits | None) -> None:
        self.limits = limits or ExecutionLimits()
        self._handler: HostHandler | None = None
        self._on_output: OutputCallback | None = None

    async def _emit_output(self, stream: str, text: str) -> None:
        """Hand a chunk of live output to the run's callback; a failing callback is logged, the run goes on."""
        if self._on_output is None or not text:
            return
        try:
            delivered = self._on_output(stream, text)
            if inspect.isawaitable(delivered):
                await delivered
        except Exception:  # noqa: BLE001 - the caller's callback must not break the run
            logger.exception("the on_output callback failed")

    async def run(
        self, code: str, *, count: int, timeout: float | None, on_output: OutputCallback | None = None
    ) -> ExecutionResult:
        started = time.perf_counter()
        self._on_output = on_output  # one run at a time: the session serializes them
        try:
            result = await self._run(code, count, timeout)
        finally:
            self._on_output = None
        result.execution_count = count
        result.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return result

    async def _run(self, code: str, count: int, timeout: float | None) -> ExecutionResult:
        raise NotImplementedError

    async def check_after_run(self, result: ExecutionResult) -> None:
        """Nothing to measure unless the executor has a session directory (see the subprocess executor)."""
