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
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from codemode.models import Confinement, ExecutionResult, RuntimeInfo

HostHandler = Callable[[str, dict[str, Any]], Coroutine[Any, Any, Any]]
"""``await handler(method, params)``: serves a call from user code (``artifacts.save`` ...)."""

OutputCallback = Callable[[str, str], Any]
"""``callback(stream, text)``: what a run writes ("stdout" or "stderr"), while it runs; may be async."""

LIVE_OUTPUT_INTERVAL = 0.5
"""Seconds between chunks of live output; a run shorter than this streams nothing (its result has it all)."""


class Capability(StrEnum):
    """What an executor can do. One is reported only if it really works."""

    TIMEOUT = "timeout"
    PROCESS_ISOLATION = "process_isolation"
    """Code runs in a process of its own (not in the server)."""
    CONTAINER_ISOLATION = "container_isolation"
    """Own user, PID, IPC and mount namespaces (bubblewrap): other processes and sessions are out of sight."""
    FILESYSTEM_ISOLATION = "filesystem_isolation"
    """Only the system (read-only), the venv (read-only) and the session's own directory are visible."""
    NETWORK_ISOLATION = "network_isolation"
    """An empty network namespace: no network, except the allow_hosts of NETWORK_FILTERING."""
    NETWORK_FILTERING = "network_filtering"
    """With the network off, the listed hosts (allow_hosts, --allow-host) stay reachable through the host's proxy."""
    MEMORY_LIMIT = "memory_limit"
    PROCESS_LIMIT = "process_limit"
    CPU_LIMIT = "cpu_limit"
    RESET = "reset"
    DEPS_INSTALL = "deps_install"
    DEPS_UNINSTALL = "deps_uninstall"
    """Packages can be removed: wherever they can be installed."""
    COMMANDS = "commands"
    """run_command and the session file operations: the session has a working directory of its own."""
    JAVASCRIPT = "javascript"
    """run(code, language="javascript"): Node.js is installed (a persistent context per session)."""

    @classmethod
    def all(cls) -> set[Capability]:
        """Every capability there is (py-code-mode's ``Capability.all()``); ``supports()`` says which hold."""
        return set(cls)


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
    max_timeout: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Largest timeout a run may ask for, in seconds; None = no cap, and runs may ask for no limit "
        "(the seeds' contract for the library; the server sets 600).",
    )
    memory_bytes: int | None = Field(
        default=2 * 1024**3,
        gt=0,
        description="Memory of the worker: per process, and for all of them where cgroups work.",
    )
    max_processes: int | None = Field(
        default=256, gt=0, description="Processes and threads the worker may have at once."
    )
    max_open_files: int | None = Field(default=1024, gt=0, description="Open files per worker process.")
    max_file_bytes: int | None = Field(default=1024**3, gt=0, description="Largest file a worker process may write.")
    cpu_seconds: int | None = Field(
        default=3600,
        gt=0,
        description="CPU seconds each worker process may use in its life; a hard reset starts a fresh budget.",
    )
    max_workdir_bytes: int | None = Field(
        default=1024**3, gt=0, description="Size of the session's working directory, checked after every run."
    )
    max_snapshot_bytes: int = Field(
        default=256 * 1024**2, gt=0, description="Largest snapshot of a session's variables, in bytes."
    )
    image_max_edge: int = Field(
        default=1568, ge=16, description="Longest side, in pixels, of a picture returned by a run (larger ones shrink)."
    )
    image_max_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Bytes of a picture returned by a run (larger ones shrink)."
    )
    max_transfer_bytes: int = Field(
        default=64 * 1024**2,
        gt=0,
        description="Largest file read_file / write_file move at once between the host and the session directory.",
    )


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
