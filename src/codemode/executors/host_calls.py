"""Serving a worker while a request runs: its calls to the host, its live output, then the reply.

Code in a session calls the host (``tools``, ``artifacts`` ...) over the same socket
its run's reply comes on. :func:`serve_calls` answers those calls concurrently
until the reply arrives, and bounds how many are under way (each may start a
process on the host). Every call received gets an answer, even if the serving is
cut short (a timeout, a cancellation): code waiting for one would otherwise wait
forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
from anyio.abc import TaskGroup

from codemode.errors import CodemodeError, LimitExceeded
from codemode.executors.base import HostHandler
from codemode.executors.process import WorkerExited, WorkerProcess
from codemode.worker import protocol

logger = logging.getLogger(__name__)

MAX_CALLS_UNLIMITED = 1024
"""Calls under way at once for a session without a process limit."""

EmitOutput = Callable[[str, str], Awaitable[None]]


async def serve_calls(
    worker: WorkerProcess,
    request_id: int,
    replies: dict[int, dict[str, Any]],
    *,
    handler: HostHandler | None,
    max_calls: int,
    emit_output: EmitOutput,
) -> None:
    """Serve ``worker`` until the reply to ``request_id`` is in ``replies``; ``WorkerExited`` if it dies.

    The reply is parked rather than returned so that a cancellation landing right after it
    arrived cannot lose it. ``handler`` None refuses every call (the run is being interrupted).
    Most runs make no calls, so the task group that serves them is only opened for the first.
    """
    exited = False
    unanswered: set[int] = set()
    try:
        async with AsyncExitStack() as stack:
            calls: TaskGroup | None = None
            while request_id not in replies:
                try:
                    message = await worker.receive()
                except WorkerExited:
                    exited = True  # raised below, outside the task group, so it is not wrapped in a group
                    break
                if message.get("op") == "call":
                    if len(unanswered) >= max_calls:  # each may start a host process: bound them
                        await _send_reply(worker, {"op": "reply", "id": message["id"], "error": _too_many(max_calls)})
                        continue
                    if calls is None:
                        calls = await stack.enter_async_context(anyio.create_task_group())
                    unanswered.add(message["id"])
                    calls.start_soon(_answer, worker, message, handler, unanswered)
                elif message.get("op") == "output":
                    await emit_output("stdout", message.get("stdout", ""))
                    await emit_output("stderr", message.get("stderr", ""))
                elif message.get("id") == request_id:
                    replies[request_id] = message
                else:
                    logger.debug("ignoring stale %r message from worker %s", message.get("op"), worker.pid)
            if calls is not None:
                calls.cancel_scope.cancel()  # calls still open come from threads that outlived the run
    finally:
        with anyio.CancelScope(shield=True):
            for call_id in list(unanswered):  # a task cancelled before it ran never replied
                await _send_reply(worker, {"op": "reply", "id": call_id, "error": call_error(_Interrupted())})
    if exited:
        raise WorkerExited()


async def _answer(
    worker: WorkerProcess, call: dict[str, Any], handler: HostHandler | None, unanswered: set[int]
) -> None:
    reply: dict[str, Any] = {"op": "reply", "id": call["id"]}
    try:
        if handler is None:
            raise _Interrupted()
        result = await handler(str(call.get("method")), protocol.from_wire(call.get("params") or {}))
        reply["result"] = protocol.to_wire(result)
    except anyio.get_cancelled_exc_class():
        raise  # serve_calls answers it
    except Exception as exc:  # noqa: BLE001 - every failure must reach the waiting code as an error
        if not isinstance(exc, CodemodeError):
            logger.exception("host call %s failed", call.get("method"))
        reply["error"] = call_error(exc)
    with anyio.CancelScope(shield=True):  # cancelled half-way, the reply would be lost
        await _send_reply(worker, reply)
    unanswered.discard(call["id"])


class _Interrupted(CodemodeError):
    """The run is being interrupted: the worker turns this reply into KeyboardInterrupt."""

    kind = "interrupt"

    def __str__(self) -> str:
        return "the run that made this call was interrupted; the call was not carried out"


def _too_many(max_calls: int) -> dict[str, str]:
    return call_error(
        LimitExceeded(
            f"this session already has {max_calls} calls to the host under way (its process limit); "
            "wait for some to finish"
        )
    )


def call_error(exc: Exception) -> dict[str, str]:
    """The error of a reply, as the worker raises it in the code that called."""
    if isinstance(exc, CodemodeError):
        return {"type": type(exc).__name__.lstrip("_"), "message": str(exc), "kind": exc.kind}
    return {"type": "HostError", "message": f"the session host failed: {type(exc).__name__}: {exc}", "kind": ""}


async def _send_reply(worker: WorkerProcess, reply: dict[str, Any]) -> None:
    try:
        await worker.send(reply)
    except protocol.FrameError as exc:
        error = LimitExceeded(f"the result is too large to hand to the session's code: {exc}")
        await _send_reply(worker, {"op": "reply", "id": reply["id"], "error": call_error(error)})
    except WorkerExited:
        pass  # the run's own path reports the dead worker
