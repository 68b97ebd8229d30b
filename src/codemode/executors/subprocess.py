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
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from codemode.errors import CodemodeError, InvalidArgument, LimitExceeded, WorkerError
from codemode.executors import protocol
from codemode.executors._results import from_outcome, interrupted, lost, timeout_note
from codemode.executors.base import Capability, ExecutionLimits, ExecutorBase, HostHandler
from codemode.executors.process import WorkerExited, WorkerProcess
from codemode.models import ExecutionResult, RuntimeInfo

logger = logging.getLogger(__name__)


class SubprocessExecutor(ExecutorBase):
    """Runs a session's code in a child process (see :mod:`codemode.executors.worker`)."""

    name = "subprocess"

    def __init__(
        self,
        *,
        python: str | None = None,
        limits: ExecutionLimits | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(limits)
        # An explicit interpreter is used as given; otherwise the session puts the worker in its venv.
        self.python = python or sys.executable
        base = {Capability.TIMEOUT, Capability.PROCESS_ISOLATION, Capability.RESET}
        self.capabilities = frozenset(base if python else base | {Capability.DEPS_INSTALL})
        self._cwd = cwd
        self._env = env
        self._worker: WorkerProcess | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        self._closed = False

    @property
    def runtime(self) -> RuntimeInfo | None:
        return self._worker.runtime if self._worker else None

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
        return await WorkerProcess.spawn(self.python, self.limits, cwd=self._cwd, env=self._env)

    async def _current(self) -> WorkerProcess:
        if self._worker is None or not self._worker.alive:
            if self._worker is not None:
                await self._worker.kill()
            self._worker = await self._spawn()
        return self._worker

    async def _run(self, code: str, count: int, timeout: float | None) -> ExecutionResult:
        worker = await self._current()
        request_id = next(self._ids)
        try:
            await worker.send({"op": "execute", "id": request_id, "code": code, "count": count})
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
        """Answer the worker's calls until the reply to ``request_id`` is in ``self._replies``.

        The reply is parked rather than returned so that a cancellation landing
        right after it arrived cannot lose it. Most runs make no calls, so the
        task group that serves calls concurrently is only opened for the first one.
        Every call received gets a reply, even if the serving is cut short: code
        waiting for one would otherwise wait forever.
        """
        exited = False
        unanswered: set[int] = set()
        try:
            async with AsyncExitStack() as stack:
                calls: TaskGroup | None = None
                while request_id not in self._replies:
                    try:
                        message = await worker.receive()
                    except WorkerExited:
                        exited = True  # raised below, outside the task group, so it is not wrapped in a group
                        break
                    if message.get("op") == "call":
                        if calls is None:
                            calls = await stack.enter_async_context(anyio.create_task_group())
                        unanswered.add(message["id"])
                        calls.start_soon(self._answer, worker, message, refuse_calls, unanswered)
                    elif message.get("id") == request_id:
                        self._replies[request_id] = message
                    else:
                        logger.debug("ignoring stale %r message from worker %s", message.get("op"), worker.pid)
                if calls is not None:
                    calls.cancel_scope.cancel()  # calls still open come from threads that outlived the run
        finally:
            with anyio.CancelScope(shield=True):
                for call_id in list(unanswered):  # a task cancelled before it ran never replied
                    await _send_reply(worker, {"op": "reply", "id": call_id, "error": _call_error(_Interrupted())})
        if exited:
            raise WorkerExited()

    async def _answer(self, worker: WorkerProcess, call: dict[str, Any], refuse: bool, unanswered: set[int]) -> None:
        reply: dict[str, Any] = {"op": "reply", "id": call["id"]}
        try:
            if refuse or self._handler is None:
                raise _Interrupted()
            result = await self._handler(str(call.get("method")), protocol.from_wire(call.get("params") or {}))
            reply["result"] = protocol.to_wire(result)
        except anyio.get_cancelled_exc_class():
            raise  # _serve answers it
        except Exception as exc:  # noqa: BLE001 - every failure must reach the waiting code as an error
            if not isinstance(exc, CodemodeError):
                logger.exception("host call %s failed", call.get("method"))
            reply["error"] = _call_error(exc)
        with anyio.CancelScope(shield=True):  # cancelled half-way, the reply would be lost
            await _send_reply(worker, reply)
        unanswered.discard(call["id"])

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
        await worker.kill()
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


class _Interrupted(CodemodeError):
    """The run is being interrupted: the worker turns this reply into KeyboardInterrupt."""

    kind = "interrupt"

    def __str__(self) -> str:
        return "the run that made this call was interrupted; the call was not carried out"


def _call_error(exc: Exception) -> dict[str, str]:
    if isinstance(exc, CodemodeError):
        return {"type": type(exc).__name__.lstrip("_"), "message": str(exc), "kind": exc.kind}
    return {"type": "HostError", "message": f"the session host failed: {type(exc).__name__}: {exc}", "kind": ""}


async def _send_reply(worker: WorkerProcess, reply: dict[str, Any]) -> None:
    try:
        await worker.send(reply)
    except protocol.FrameError as exc:
        error = LimitExceeded(f"the result is too large to hand to the session's code: {exc}")
        await _send_reply(worker, {"op": "reply", "id": reply["id"], "error": _call_error(error)})
    except WorkerExited:
        pass  # the run's own path reports the dead worker
