"""What every executor provides, and the limits they enforce.

An executor owns one interpreter namespace and runs code in it. It is shaped
like a kernel provisioner: start, run, reset, restart, close. Everything else
(storage, tools, deps) belongs to the session; code reaches it through the
``HostHandler`` the session passes to :meth:`Executor.start`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from codemode.models import ExecutionResult, RuntimeInfo

HostHandler = Callable[[str, dict[str, Any]], Coroutine[Any, Any, Any]]
"""``await handler(method, params)``: serves a call from user code (``artifacts.save`` ...)."""


class Capability(StrEnum):
    """What an executor can do. One is reported only if it really works."""

    TIMEOUT = "timeout"
    PROCESS_ISOLATION = "process_isolation"
    CONTAINER_ISOLATION = "container_isolation"
    NETWORK_ISOLATION = "network_isolation"
    RESET = "reset"
    DEPS_INSTALL = "deps_install"


class ExecutionLimits(BaseModel):
    """Caps that keep one run from hurting the host. Every one has a CLI flag."""

    output_cap: int = Field(
        default=1024 * 1024, gt=0, description="Characters kept per stream (stdout, stderr) per run."
    )
    value_cap: int = Field(default=64 * 1024, gt=0, description="Characters kept of the last expression's repr().")
    traceback_cap: int = Field(default=64 * 1024, gt=0, description="Characters kept of a traceback (head and tail).")
    interrupt_grace: float = Field(
        default=2.0,
        gt=0,
        description="Seconds an interrupted run gets to stop before its worker is killed and replaced.",
    )
    start_timeout: float = Field(default=60.0, gt=0, description="Seconds a new worker gets to report ready.")
    max_frame_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="Largest message between host and worker.")


class Executor(Protocol):
    """Runs code for one session, one operation at a time (the session serializes calls)."""

    name: str
    capabilities: frozenset[Capability]

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

    async def run(self, code: str, *, count: int, timeout: float | None) -> ExecutionResult:
        """Run ``code`` as run number ``count``; ``timeout=None`` means no limit."""
        ...

    async def reset(self) -> None:
        """Drop user variables, keep the predefined namespaces and the interpreter."""
        ...

    async def restart(self) -> None:
        """Start over with a fresh interpreter (for the subprocess executor, a new process)."""
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

    async def run(self, code: str, *, count: int, timeout: float | None) -> ExecutionResult:
        started = time.perf_counter()
        result = await self._run(code, count, timeout)
        result.execution_count = count
        result.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return result

    async def _run(self, code: str, count: int, timeout: float | None) -> ExecutionResult:
        raise NotImplementedError
