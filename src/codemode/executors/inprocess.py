"""Run code inside the host process: fastest, and not isolated at all.

Unsafe by design: the code can read and change anything the server can,
``os._exit`` ends the server, and memory is shared. Use it for trusted code in a
library or in tests. Differences from the subprocess executor, by necessity:

- only Python-level output is captured (``print``, ``sys.stdout``); what C code
  or child processes write to fd 1/2 goes to the host's own streams;
- a timeout raises KeyboardInterrupt in the running thread when it next runs
  Python bytecode; code blocked in C (``time.sleep``) cannot be stopped, so after
  the grace period its thread is abandoned and the session gets a fresh namespace.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import json
import math
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from codemode.config import InProcessConfig
from codemode.errors import DepsError, OperationFailed
from codemode.executors._results import from_outcome, interrupted, lost, timeout_note
from codemode.executors.base import LIVE_OUTPUT_INTERVAL, Exchange, ExecutorBase, HostHandler
from codemode.models import Capability, Confinement, ExecutionLimits, ExecutionResult, RuntimeInfo
from codemode.worker import display, interpreter, namespaces, ops, protocol, session_api


class InProcessExecutor(ExecutorBase):
    """Runs a session's code in a thread of the host process."""

    name = "inprocess"
    capabilities = frozenset({Capability.TIMEOUT, Capability.RESET})

    def __init__(self, *, limits: ExecutionLimits | None = None, config: InProcessConfig | None = None) -> None:
        super().__init__(limits)
        self.config = config  # py-code-mode's options: the Session builds its workspace from them
        self._interp: interpreter.Interpreter | None = None
        self._loop_token: anyio.lowlevel.EventLoopToken | None = None
        self._exchange_dir: Path | None = None

    @property
    def confinement(self) -> Confinement:
        # Nothing is enforced: no limit but the timeout applies to code running inside the server.
        unlimited = self.limits.model_copy(
            update={
                "memory_bytes": None,
                "max_processes": None,
                "max_open_files": None,
                "max_file_bytes": None,
                "cpu_seconds": None,
                "max_workdir_bytes": None,
            }
        )
        reason = "the in-process executor runs code inside the server: nothing is confined"
        return Confinement(sandbox="none", network="on", cgroup=False, limits=unlimited, not_confined=[reason])

    @property
    def runtime(self) -> RuntimeInfo | None:
        version = ".".join(map(str, sys.version_info[:3]))
        return RuntimeInfo(pid=None, python_version=version, executable=sys.executable, prefix=sys.prefix)

    def use_python(self, python: str) -> None:
        raise DepsError("the in-process executor runs in the server's interpreter and cannot switch to a venv")

    async def start(self, handler: HostHandler) -> None:
        self._handler = handler
        # Threads that session code starts itself are not anyio's: they reach the loop by its token.
        self._loop_token = anyio.lowlevel.current_token()
        if self._interp is None:
            self._interp = self._new_interpreter()

    def _new_interpreter(self) -> interpreter.Interpreter:
        limits = self.limits
        self._display = display.Display(limits.image_max_edge, limits.image_max_bytes, limits.max_frame_bytes // 4)
        return interpreter.Interpreter(
            {
                **namespaces.build(self._call_host, self._display.display),
                **session_api.build(self._call_host),
                **self._display.names(),
            },
            value_cap=self.limits.value_cap,
            traceback_cap=self.limits.traceback_cap,
            module_name="__codemode__",
        )

    def _call_host(self, method: str, params: dict[str, Any]) -> Any:
        """Called from the code's thread: run the host handler on the event loop."""
        if self._handler is None:
            raise namespaces.RemoteError("the session is not started")
        # A JSON round trip gives the same semantics (and limits) as the worker's socket.
        frame = protocol.encode_frame({"op": "call", "params": protocol.to_wire(params)}, self.limits.max_frame_bytes)
        wire_params = protocol.from_wire(json.loads(frame[protocol.HEADER.size :])["params"])
        try:
            result = anyio.from_thread.run(self._handler, method, wire_params, token=self._loop_token)
        except Exception as exc:  # noqa: BLE001 - becomes the same exception the worker would raise
            kind = getattr(exc, "kind", "")
            raise namespaces.remote_error({"type": type(exc).__name__, "message": str(exc), "kind": kind}) from None
        return protocol.from_wire(json.loads(json.dumps(protocol.to_wire(result))))

    async def _run(self, code: str, count: int, timeout: float | None) -> ExecutionResult:
        if self._interp is None:
            self._interp = self._new_interpreter()
        job = _Job(self._interp, self._display, code, count, self.limits.output_cap)
        if self._on_output is None:
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                await anyio.to_thread.run_sync(job.run, abandon_on_cancel=True)
        else:
            async with anyio.create_task_group() as streaming:
                streaming.start_soon(self._stream_output, job)
                with anyio.move_on_after(math.inf if timeout is None else timeout):
                    await anyio.to_thread.run_sync(job.run, abandon_on_cancel=True)
                streaming.cancel_scope.cancel()
        if job.finished.is_set():
            return job.result()
        job.interrupt()
        if await anyio.to_thread.run_sync(job.finished.wait, self.limits.interrupt_grace):
            return interrupted(job.result(), "TimeoutError", timeout_note(timeout))
        self._interp = self._new_interpreter()  # the old one stays with the abandoned thread
        return lost(
            "TimeoutError",
            f"{timeout_note(timeout)}, but it did not stop (blocked in C code); its thread was abandoned",
        )

    async def _stream_output(self, job: _Job) -> None:
        while True:
            await anyio.sleep(LIVE_OUTPUT_INTERVAL)
            await self._emit_output("stdout", job.stdout.live())
            await self._emit_output("stderr", job.stderr.live())

    async def reset(self) -> None:
        if self._interp is not None:
            self._interp.reset()

    async def request(self, op: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        if self._interp is None:
            self._interp = self._new_interpreter()
        handlers = ops.collect(lambda name: importlib.import_module(f"codemode.worker.{name}"))
        reply = await anyio.to_thread.run_sync(ops.run, handlers, self._interp, op, params or {})
        if "error" in reply:
            raise OperationFailed(reply["error"]["type"], reply["error"]["message"])
        return reply["result"]

    async def restart(self) -> None:
        self._interp = self._new_interpreter()

    async def exchange(self) -> Exchange:
        """A private temporary directory; the server's own cloudpickle; and never a load (this is the server)."""
        if self._exchange_dir is None:
            self._exchange_dir = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp, "", "codemode-exchange-"))
        return Exchange(self._exchange_dir, str(self._exchange_dir), separate_process=False)

    async def close(self) -> None:
        self._interp = None
        if self._exchange_dir is not None:
            await anyio.to_thread.run_sync(shutil.rmtree, self._exchange_dir, True)
            self._exchange_dir = None


class _Job:
    """One run on a worker thread, with its output routed to its own sinks."""

    def __init__(
        self, interp: interpreter.Interpreter, pictures: display.Display, code: str, count: int, output_cap: int
    ) -> None:
        self._interp = interp
        self._pictures = pictures
        self._code = code
        self._count = count
        self.stdout = OutputStream(output_cap)
        self.stderr = OutputStream(output_cap)
        self._outcome: dict[str, Any] = {}
        self._thread_id: int | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        self._thread_id = threading.get_ident()
        _install_router()
        _routes.sinks = (self.stdout, self.stderr)
        try:
            self._outcome = self._interp.execute(self._code, self._count)
            self._draw_pictures()
        except KeyboardInterrupt:  # landed outside the user's code
            self._outcome = {"value": None, "error": {"type": "KeyboardInterrupt", "message": ""}}
        finally:
            _routes.sinks = None
            self.finished.set()

    def _draw_pictures(self) -> None:
        value = self._interp.namespace.get("_") if self._outcome["value"] is not None else None
        try:
            self._outcome["images"], self._outcome["image_notes"] = self._pictures.finish(value)
        except Exception as exc:  # noqa: BLE001 - a picture that fails to draw must not lose the run's result
            self._outcome["image_notes"] = [f"the run's pictures could not be drawn: {type(exc).__name__}: {exc}"]

    def interrupt(self) -> None:
        if self._thread_id is not None and not self.finished.is_set():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(KeyboardInterrupt)
            )

    def result(self) -> ExecutionResult:
        stdout, stdout_cut = self.stdout.take()
        stderr, stderr_cut = self.stderr.take()
        truncated = bool(self._outcome.get("truncated")) or stdout_cut or stderr_cut
        return from_outcome({**self._outcome, "stdout": stdout, "stderr": stderr, "truncated": truncated})


class OutputStream:
    """A text stream (``sys.stdout``/``sys.stderr``) that keeps at most ``cap`` characters.

    Writers are the session's code and threads it started. ``list.append`` is atomic
    under the GIL, so there is no lock: the worst a race does is let the size count
    run a write late. ``write`` is on the path of every
    ``print``, so its common case is kept to a handful of operations.
    """

    encoding = "utf-8"
    errors = "replace"
    newlines = None
    closed = False

    def __init__(self, cap: int, name: str = "<stdout>") -> None:
        self.cap = cap
        self.name = name
        self._parts: list[str] = []
        self._append = self._parts.append
        self._size = 0
        self.truncated = False
        self._live_sent = 0

    def write(self, text: str) -> int:
        n = len(text)
        size = self._size + n
        if size <= self.cap and text.__class__ is str:
            self._size = size
            self._append(text)
            return n
        return self._write_capped(text)

    def _write_capped(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.cap - self._size
        self.truncated = True
        if room > 0:
            self._append(text[:room])
            self._size += room
        return len(text)

    @property
    def full(self) -> bool:
        return self._size >= self.cap

    def take(self) -> tuple[str, bool]:
        """Return what was collected and whether some was dropped, and start afresh."""
        count = len(self._parts)
        text = "".join(self._parts[:count])
        del self._parts[:count]  # a write racing in after the join stays for next time
        truncated = self.truncated
        self._size, self.truncated, self._live_sent = 0, False, 0
        return text, truncated

    def live(self) -> str:
        """What was written since the last call; it stays for :meth:`take` too (read from the event loop)."""
        count = len(self._parts)
        text = "".join(self._parts[self._live_sent : count])
        self._live_sent = count
        return text

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation(f"{self.name} has no file descriptor in the in-process executor")


class _Routes(threading.local):
    sinks: tuple[OutputStream, OutputStream] | None = None


_routes = _Routes()
_router_lock = threading.Lock()


class _RoutedStream:
    """Stands in for sys.stdout/stderr: a thread running session code writes to its sink."""

    def __init__(self, original: Any, index: int) -> None:
        self._original = original
        self._index = index

    def write(self, text: str) -> int:
        sinks = _routes.sinks
        if sinks is None:
            return self._original.write(text)
        sinks[self._index].write(text)
        return len(text)

    def flush(self) -> None:
        if _routes.sinks is None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def _install_router() -> None:
    with _router_lock:
        if not isinstance(sys.stdout, _RoutedStream):
            sys.stdout = _RoutedStream(sys.stdout, 0)  # type: ignore[assignment]
        if not isinstance(sys.stderr, _RoutedStream):
            sys.stderr = _RoutedStream(sys.stderr, 1)  # type: ignore[assignment]
