"""The default executor: code runs in a worker process, one per session.

Policy lives here: runs are serialized; a run that exceeds its timeout is
interrupted (KeyboardInterrupt in the worker) and keeps its variables; a worker
that does not stop within the grace period, or dies, is replaced by a fresh one
and the result says ``state_lost``. While code runs, its calls to the host
(``artifacts.save`` ...) are served concurrently.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from codemode.config import SubprocessConfig
from codemode.errors import InvalidArgument, OperationFailed, WorkerError
from codemode.executors import serializer
from codemode.executors._results import from_outcome, interrupted, lost, timeout_note
from codemode.executors.base import LIVE_OUTPUT_INTERVAL, Exchange, ExecutorBase, HostHandler
from codemode.executors.host_calls import MAX_CALLS_UNLIMITED, serve_calls
from codemode.executors.process import WorkerExited, WorkerProcess
from codemode.models import Capability, Confinement, ErrorInfo, ExecutionLimits, ExecutionResult, RuntimeInfo
from codemode.sandbox.egress import EgressProxy
from codemode.sandbox.launcher import Launcher, SandboxConfig, bwrap_status, resolve_mode, warn_unconfined
from codemode.sandbox.workdir import WorkerDir
from codemode.units import format_bytes
from codemode.worker import js_ops, protocol

logger = logging.getLogger(__name__)


class SubprocessExecutor(ExecutorBase):
    """Runs a session's code in a child process (see :mod:`codemode.worker.worker`)."""

    name = "subprocess"

    def __init__(
        self,
        *,
        python: str | None = None,
        limits: ExecutionLimits | None = None,
        sandbox: SandboxConfig | None = None,
        config: SubprocessConfig | None = None,
    ) -> None:
        super().__init__(limits)
        self.config = config  # py-code-mode's options: the Session builds its workspace from them
        # An explicit interpreter is used as given; otherwise the session puts the worker in its venv.
        self.python = python or sys.executable
        self._own_python = python is not None
        self.sandbox = sandbox or SandboxConfig()
        self._launcher: Launcher | None = None
        self._egress: EgressProxy | None = None
        self._serializer = serializer.Serializer(None, "the worker has not started")
        self._worker: WorkerProcess | None = None
        self._lost_between_runs: str | None = None
        self._workdir_checked_at = -math.inf
        self._workdir_over = False
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        self._closed = False

    @property
    def runtime(self) -> RuntimeInfo | None:
        return self._worker.runtime if self._worker else None

    @property
    def capabilities(self) -> frozenset[Capability]:  # type: ignore[override]
        """What is enforced for this executor's workers; the confinement is known once it has started."""
        found = {Capability.TIMEOUT, Capability.PROCESS_ISOLATION, Capability.RESET}
        if not self._own_python:
            found |= {Capability.DEPS_INSTALL, Capability.DEPS_UNINSTALL}
        launch = self._worker.launch if self._worker else None
        if self._launcher is not None and self._launcher.sandboxed:
            found |= {Capability.CONTAINER_ISOLATION, Capability.FILESYSTEM_ISOLATION}
            if not self._launcher.network:
                found.add(Capability.NETWORK_ISOLATION)
            if self._egress is not None:  # the proxy to the allow_hosts runs: those hosts, and only those
                found.add(Capability.NETWORK_FILTERING)
        if (
            self.limits.memory_bytes
            and launch is not None
            and launch.cgroup is not None
            and launch.cgroup.limits_memory
        ):
            found.add(Capability.MEMORY_LIMIT)  # RLIMIT_DATA alone misses shared memory: not claimed on its own
        if self.limits.cpu_seconds:
            found.add(Capability.CPU_LIMIT)
        if self.limits.max_processes and launch is not None and launch.process_limit:
            found.add(Capability.PROCESS_LIMIT)
        return frozenset(found)

    @property
    def confinement(self) -> Confinement:
        """The sandbox, network and limits in force (for ``session_info``)."""
        launch = self._worker.launch if self._worker else None
        sandboxed = self._launcher is not None and self._launcher.sandboxed
        return Confinement(
            sandbox="bwrap" if sandboxed else "none",
            network="on" if self._launcher is None or self._launcher.network else "off",
            cgroup=launch is not None and launch.cgroup is not None,
            syscall_filter=launch is not None and launch.syscall_filter,
            workdir=str(self._launcher.workdir.home) if self._launcher else None,
            allow_hosts=list(self.sandbox.allow_hosts) if self._egress is not None else [],
            limits=self.limits,
            not_confined=[]
            if sandboxed
            else [bwrap_status().reason if self.sandbox.mode != "none" else "--sandbox none"],
        )

    def use_python(self, python: str) -> None:
        """Run future workers with another interpreter (the session's venv); takes effect on restart."""
        self.python = python

    async def start(self, handler: HostHandler) -> None:
        self._handler = handler
        if self._worker is None:
            self._worker = await self._spawn()

    async def _spawn(self) -> WorkerProcess:
        if self._closed:
            raise WorkerError("the executor is closed")
        if self._launcher is None:
            mode = await anyio.to_thread.run_sync(resolve_mode, self.sandbox)
            if mode == "none":
                warn_unconfined(self.sandbox)
            workdir = await anyio.to_thread.run_sync(WorkerDir.create, self.sandbox.state_dir)
            self._serializer = await anyio.to_thread.run_sync(serializer.install, self.sandbox.state_dir)
            shown = (self._serializer.path, *js_ops.node_binds(str(workdir.root.parent)))  # JavaScript runs node
            libraries = tuple(Path(path) for path in shown if path)
            if self.sandbox.allow_hosts:
                await self._start_egress(workdir)
            self._launcher = Launcher(self.sandbox, mode, workdir, libraries)
        return await WorkerProcess.spawn(self.python, self.limits, self._launcher)

    async def _start_egress(self, workdir: WorkerDir) -> None:
        """The proxy to the ``--allow-host`` hosts: one per executor, outliving its workers."""
        proxy = EgressProxy(self.sandbox.allow_hosts, workdir.egress, self.sandbox.egress, workdir.root.name)
        try:
            await anyio.to_thread.run_sync(proxy.start)
        except OSError as exc:
            await anyio.to_thread.run_sync(workdir.remove)
            raise WorkerError(f"cannot start the session's --allow-host proxy: {exc}") from exc
        self._egress = proxy

    async def _current(self) -> WorkerProcess:
        """The live worker; one that died since the last run is replaced, and the next result says so."""
        if self._worker is None or not self._worker.alive:
            if self._worker is not None:
                await self._worker.reap()
                self._lost_between_runs = f"its worker died after the previous run ({self._worker.describe_exit()})"
            self._worker = await self._spawn()
        return self._worker

    async def _run(self, code: str, count: int, timeout: float | None) -> ExecutionResult:
        result = await self._run_on_worker(code, count, timeout)
        lost_reason, self._lost_between_runs = self._lost_between_runs, None
        if lost_reason is not None and not result.state_lost:
            result.state_lost = True
            result.notes.append(
                f"the session's state was lost before this run: {lost_reason}; this run started in a fresh "
                "worker, so every variable and import of the session was gone"
            )
        await self.check_after_run(result)
        return result

    async def check_after_run(self, result: ExecutionResult) -> None:
        """Measure the session directory after a run: at most once a second (a walk of a big tree costs), and
        after every run while it is over its limit."""
        budget = self.limits.max_workdir_bytes
        now = time.monotonic()
        if budget is None or self._launcher is None:
            return
        if not self._workdir_over and now - self._workdir_checked_at < _WORKDIR_CHECK_INTERVAL:
            return
        self._workdir_checked_at = now
        used = await anyio.to_thread.run_sync(self._launcher.workdir.size, budget)
        self._workdir_over = used > budget
        if self._workdir_over:
            result.notes.append(
                f"the session's directory holds more than its limit of {format_bytes(budget)}: delete files "
                "(writes may start to fail)"
            )
            if result.error_info is None:
                result.error_info = ErrorInfo(
                    type="DiskLimitExceeded",
                    message=f"the session directory is over its limit of {format_bytes(budget)}; delete files",
                )

    async def _run_on_worker(self, code: str, count: int, timeout: float | None) -> ExecutionResult:
        worker = await self._current()
        request_id = next(self._ids)
        try:
            request = {"op": "execute", "id": request_id, "code": code, "count": count}
            if self._on_output is not None:
                request["live"] = LIVE_OUTPUT_INTERVAL  # the worker streams output frames while the code runs
            await worker.send(request)
        except protocol.FrameError as exc:
            raise InvalidArgument(f"the code is too large to run: {exc}") from None
        except WorkerExited:
            return await self._replace_dead(worker)
        try:
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await self._serve(worker, request_id)
            if request_id in self._replies:  # it finished, perhaps just as the timeout fired
                return from_outcome(self._replies.pop(request_id))
            return await self._interrupt(worker, request_id, "TimeoutError", timeout_note(timeout))
        except WorkerExited:
            return await self._replace_dead(worker)
        except anyio.get_cancelled_exc_class():
            # The caller gave up (MCP cancellation): stop the code so the session stays usable.
            with anyio.CancelScope(shield=True):
                await self._interrupt(worker, request_id, "Cancelled", "the run was cancelled by the client")
            raise

    async def _serve(self, worker: WorkerProcess, request_id: int, refuse_calls: bool = False) -> None:
        """Answer the worker's calls (and pass on its live output) until the reply to ``request_id`` is parked."""
        await serve_calls(
            worker,
            request_id,
            self._replies,
            handler=None if refuse_calls else self._handler,
            max_calls=self.limits.max_processes or MAX_CALLS_UNLIMITED,
            emit_output=self._emit_output,
        )

    async def _interrupt(self, worker: WorkerProcess, request_id: int, error_type: str, note: str) -> ExecutionResult:
        """Interrupt the running code; replace the worker if it does not stop in time."""
        try:
            worker.interrupt()
            with anyio.move_on_after(self.limits.interrupt_grace):
                await self._serve(worker, request_id, refuse_calls=True)
            if request_id in self._replies:
                return interrupted(from_outcome(self._replies.pop(request_id)), error_type, note)
        except WorkerExited:
            return await self._replace_dead(worker)
        await self._replace(worker)
        return lost(
            error_type,
            f"{note}, but the code did not stop within {self.limits.interrupt_grace:g}s "
            "(stuck in C code or ignoring KeyboardInterrupt), so its worker was killed and a fresh one started",
        )

    async def _replace_dead(self, worker: WorkerProcess) -> ExecutionResult:
        await worker.reap()
        reason = worker.describe_exit()
        await self._replace(worker)
        return lost("WorkerDied", f"the worker process running this code died ({reason}); a fresh one was started")

    async def _replace(self, worker: WorkerProcess) -> None:
        await worker.kill()
        self._worker = None
        self._worker = await self._spawn()

    async def reset(self) -> None:
        worker = await self._current()
        request_id = next(self._ids)
        try:
            await worker.send({"op": "reset", "id": request_id})
            await self._serve(worker, request_id, refuse_calls=True)
            self._replies.pop(request_id, None)
        except WorkerExited:
            await self._replace(worker)

    async def request(self, op: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Ask the worker for operation ``op`` (see :mod:`codemode.worker.ops`) and return its result."""
        worker = await self._current()
        request_id = next(self._ids)
        try:
            await worker.send({"op": op, "id": request_id, "params": protocol.to_wire(params or {})})
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await self._serve(worker, request_id)
            if request_id not in self._replies:
                stopped = await self._interrupt(worker, request_id, "TimeoutError", f"{op} timed out")
                self._replies.pop(request_id, None)
                message = f"{op} did not finish within {timeout:g}s and was interrupted"
                if stopped.state_lost:  # the next run must say so too: nothing is lost silently
                    self._lost_between_runs = f"{op} timed out and did not stop, so its worker was replaced"
                    message += "; it did not stop, so its worker was replaced and the session's state is lost"
                raise OperationFailed("TimeoutError", message)
        except protocol.FrameError as exc:
            raise InvalidArgument(f"the request is too large to send to the worker: {exc}") from None
        except WorkerExited:
            died = await self._replace_dead(worker)
            self._lost_between_runs = f"its worker died during {op}"
            raise WorkerError(f"{died.error}; it happened during {op}") from None
        reply = self._replies.pop(request_id)
        error = reply.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise WorkerError(f"the worker sent a malformed answer to {op}")
            raise OperationFailed(str(error.get("type", "Error")), str(error.get("message", "")))
        return protocol.from_wire(reply.get("result"))

    async def exchange(self) -> Exchange:
        """The worker's ``/tmp`` (its private tmp directory on the host) and the serializer's directory."""
        await self._current()
        assert self._launcher is not None
        tmp = self._launcher.workdir.tmp
        path = self._serializer.path
        return Exchange(
            host_dir=tmp,
            worker_dir="/tmp" if self._launcher.sandboxed else str(tmp),
            serializer=str(path) if path else None,
            problem=self._serializer.problem,
        )

    async def restart(self) -> None:
        if self._worker is not None:
            await self._replace(self._worker)
        else:
            self._worker = await self._spawn()

    async def close(self) -> None:
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()
        if self._egress is not None:
            await anyio.to_thread.run_sync(self._egress.stop)
        if self._launcher is not None:
            await anyio.to_thread.run_sync(self._launcher.workdir.remove)


_WORKDIR_CHECK_INTERVAL = 1.0
