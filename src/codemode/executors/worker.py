"""The worker: a child process that runs a session's code in one persistent namespace.

Started by :mod:`codemode.executors.subprocess` as ``python worker.py CONFIG_JSON``
with a connected socket inherited on the descriptor that CONFIG names. It may run
under another interpreter than the host (the session's venv), so it uses the
standard library only and loads its sibling modules by path, under private names:
putting this directory on ``sys.path`` would let ``executors/subprocess.py``
shadow the stdlib ``subprocess`` for user code.

Descriptors: fd 0 is the null device; fd 1 and fd 2 are pipes drained by threads
into the output sinks, so ``print``, C extensions and child processes all land in
the result; the protocol socket is a separate descriptor user output cannot reach.
"""

from __future__ import annotations

import collections
import faulthandler
import importlib.util
import io
import itertools
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    del sys.path[0]

_READ_CHUNK = 1 << 16
_STREAM_BUFFER = 1 << 16


def _load_sibling(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_codemode_{name}", os.path.join(_HERE, f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


protocol = _load_sibling("protocol")
interpreter = _load_sibling("interpreter")
namespaces = _load_sibling("namespaces")


class Channel:
    """Framed messages over the socket, shared by the main loop and RPC callers in any thread.

    Whichever thread needs a message next reads the socket; messages it was not
    waiting for are parked for their owner. Requests from the host go to the
    main loop, replies go to the caller whose id they carry.
    """

    def __init__(self, sock: socket.socket, max_frame: int) -> None:
        self._sock = sock
        self._max_frame = max_frame
        self._decoder = protocol.FrameDecoder(max_frame)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._reading = False
        self._closed = False
        self._replies: dict[int, dict[str, Any]] = {}
        self._requests: collections.deque[dict[str, Any]] = collections.deque()
        self._ids = itertools.count(1)
        # SIGINT that arrives while the main thread waits for a reply is held until the
        # reply is in; raising mid-read would leave half a frame in the socket.
        self.protected = False
        self.interrupt_pending = False

    def send(self, message: dict[str, Any]) -> None:
        data = protocol.encode_frame(message, self._max_frame)
        with self._send_lock:
            self._sock.sendall(data)

    def next_request(self) -> dict[str, Any] | None:
        """Wait for the host's next request; ``None`` once the host has gone."""
        try:
            self._pump_until(lambda: bool(self._requests))
        except EOFError:
            return None
        return self._requests.popleft()

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """Ask the host to run ``method``; block until it answers."""
        call_id = next(self._ids)
        on_main = threading.current_thread() is threading.main_thread()
        if on_main:
            self.protected = True
        try:
            self._send_call(call_id, method, params)
            self._pump_until(lambda: call_id in self._replies)
            reply = self._replies.pop(call_id)
        except EOFError:
            raise namespaces.RemoteError("the session host has gone away") from None
        finally:
            if on_main:
                self.protected = False
                if self.interrupt_pending:
                    self.interrupt_pending = False
                    raise KeyboardInterrupt
        if "error" in reply:
            if reply["error"].get("kind") == "interrupt":  # the host is stopping this run
                raise KeyboardInterrupt
            raise namespaces.remote_error(reply["error"])
        return protocol.from_wire(reply.get("result"))

    def _send_call(self, call_id: int, method: str, params: dict[str, Any]) -> None:
        try:
            self.send({"op": "call", "id": call_id, "method": method, "params": protocol.to_wire(params)})
        except protocol.FrameError as exc:
            raise ValueError(f"{method}(): {exc}") from None
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{method}(): {exc}; values sent to the host must be JSON data or bytes") from None

    def _pump_until(self, ready: Callable[[], bool]) -> None:
        with self._cond:
            while not ready():
                if self._closed:
                    raise EOFError
                if self._reading:
                    self._cond.wait()
                    continue
                self._reading = True
                self._cond.release()
                try:
                    data = self._sock.recv(_READ_CHUNK)
                    messages = self._decoder.feed(data) if data else []
                finally:
                    self._cond.acquire()
                    self._reading = False
                    self._cond.notify_all()
                if not data:
                    self._closed = True
                for message in messages:
                    if message["op"] == "reply":
                        self._replies[message["id"]] = message
                    else:
                        self._requests.append(message)


class FdDrain:
    """Turns fd 1 or 2 into a pipe, and keeps the first ``cap`` bytes that arrive on it.

    Everything written to the descriptor lands here: Python's ``sys.stdout`` (a
    buffered stream on fd 1), C code and child processes; the pipe's back-pressure
    bounds memory however much is printed. A thread empties the pipe while code
    runs, so a writer never blocks on a full pipe; at the end of a run the main
    thread empties it itself (:meth:`collect`), so no thread hand-off is on the
    path of every run. Both read under one lock, which keeps the bytes in order.
    """

    def __init__(self, fd: int, cap: int) -> None:
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        os.set_blocking(read_end, False)
        self._read_end = read_end
        self._cap = cap
        self._parts: list[bytes] = []
        self._size = 0
        self._truncated = False
        self._lock = threading.Lock()
        threading.Thread(target=self._drain, name=f"codemode-fd{fd}", daemon=True).start()

    def collect(self) -> tuple[str, bool]:
        """Everything written so far that is not yet collected, as text, and whether some was dropped."""
        with self._lock:
            self._read_available()
            data = b"".join(self._parts)
            self._parts.clear()
            truncated, self._truncated, self._size = self._truncated, False, 0
        return data.decode("utf-8", "replace"), truncated

    def _drain(self) -> None:
        poller = select.poll()
        poller.register(self._read_end, select.POLLIN)
        while True:
            poller.poll()
            with self._lock:
                self._read_available()

    def _read_available(self) -> None:
        while True:
            try:
                data = os.read(self._read_end, _READ_CHUNK)
            except BlockingIOError:
                return
            if not data:
                return
            room = self._cap - self._size
            if len(data) > room:
                self._truncated = True
                data = data[: max(room, 0)]
            if data:
                self._parts.append(data)
                self._size += len(data)


def _buffered_text(fd: int) -> io.TextIOWrapper:
    # Block-buffered like any Python writing to a pipe: C speed per print. Flushed at the
    # end of every run and before a child process starts, so output keeps its order.
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(io.BufferedWriter(raw, _STREAM_BUFFER), encoding="utf-8", errors="replace")


class NoStdin:
    """``sys.stdin`` for code without a terminal: reading says why instead of hanging."""

    encoding = "utf-8"
    closed = False

    def read(self, size: int = -1) -> str:
        raise EOFError(interpreter._NO_INPUT)

    readline = read

    def readlines(self, hint: int = -1) -> list[str]:
        raise EOFError(interpreter._NO_INPUT)

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 0


class Worker:
    """The main loop: take a request, run it, answer."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        sock = socket.socket(fileno=config["fd"])
        sock.setblocking(True)
        self.channel = Channel(sock, config["max_frame"])
        self.stdout = FdDrain(1, config["output_cap"])
        self.stderr = FdDrain(2, config["output_cap"])
        self.streams = (_buffered_text(1), _buffered_text(2), NoStdin())
        self._restore_streams()
        _flush_before_children(self._flush_streams)
        self.interp = interpreter.Interpreter(
            namespaces.build(self.channel.call),
            value_cap=config["value_cap"],
            traceback_cap=config["traceback_cap"],
        )
        sys.modules["__main__"] = self.interp.module  # so pickle finds classes defined in cells
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if not self.interp.running_user_code:
            return  # the host only interrupts running code; a late signal must not break the loop
        if self.channel.protected:
            self.channel.interrupt_pending = True
            return
        raise KeyboardInterrupt

    def serve(self) -> None:
        self.channel.send(
            {
                "op": "ready",
                "pid": os.getpid(),
                "python": ".".join(map(str, sys.version_info[:3])),
                "executable": sys.executable,
                "prefix": sys.prefix,
            }
        )
        while (request := self.channel.next_request()) is not None:
            op = request["op"]
            if op == "execute":
                self.channel.send(self._execute(request))
            elif op == "reset":
                self.interp.reset()
                self.channel.send({"op": "done", "id": request["id"]})
            elif op == "shutdown":
                return

    def _restore_streams(self) -> None:
        """Point sys.stdout/err/in back at ours, in case the last run replaced them."""
        sys.stdout, sys.stderr, sys.stdin = self.streams

    def _flush_streams(self) -> None:
        for stream in self.streams[:2]:
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # fd 1/2 closed or replaced by user code: nothing we can deliver

    def _execute(self, request: dict[str, Any]) -> dict[str, Any]:
        self._restore_streams()
        started = time.perf_counter()
        try:
            outcome = self.interp.execute(request["code"], request["count"])
        except KeyboardInterrupt:  # landed between user code and our bookkeeping
            outcome = {"value": None, "error": {"type": "KeyboardInterrupt", "message": "", "traceback": ""}}
        duration_ms = (time.perf_counter() - started) * 1000
        self._flush_output()
        stdout, stdout_cut = self.stdout.collect()
        stderr, stderr_cut = self.stderr.collect()
        return {
            "op": "result",
            "id": request["id"],
            "value": outcome["value"],
            "error": outcome["error"],
            "stdout": stdout,
            "stderr": stderr,
            "truncated": bool(outcome.get("truncated")) or stdout_cut or stderr_cut,
            "duration_ms": duration_ms,
        }

    def _flush_output(self) -> None:
        self._flush_streams()
        _flush_c_stdio()


def _flush_before_children(flush: Callable[[], None]) -> None:
    """Flush buffered Python output whenever a child process is about to share fd 1/2.

    Without this, ``print(1); os.system("echo 2")`` would show 2 before 1. Every
    stdlib way to start a process goes through one of these.
    """
    import _posixsubprocess

    os.register_at_fork(before=flush)

    def flushing(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            flush()
            return original(*args, **kwargs)

        wrapper.__name__ = getattr(original, "__name__", "wrapper")
        wrapper.__doc__ = original.__doc__
        return wrapper

    _posixsubprocess.fork_exec = flushing(_posixsubprocess.fork_exec)  # subprocess, multiprocessing
    for name in ("system", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            setattr(os, name, flushing(getattr(os, name)))


def _flush_c_stdio() -> None:
    # C code writing through stdio (printf) is block-buffered on a pipe; push it out.
    libc = _libc()
    if libc is not None:
        libc.fflush(None)


_LIBC: list[Any] = []


def _libc() -> Any:
    if not _LIBC:
        try:
            import ctypes

            _LIBC.append(ctypes.CDLL(None))
        except (ImportError, OSError):
            _LIBC.append(None)
    return _LIBC[0]


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill us if the host dies, so a busy worker never outlives its server."""
    libc = _libc() if sys.platform.startswith("linux") else None
    if libc is not None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the host died before the request took effect
        os._exit(1)


def main() -> None:
    # Our own failures go to the host's stderr (its log); fd 2 becomes the capture pipe soon.
    diagnostics = os.fdopen(os.dup(2), "w")
    faulthandler.enable(diagnostics)
    faulthandler.register(signal.SIGUSR1, diagnostics, all_threads=True)  # "where is it stuck?"
    try:
        config = json.loads(sys.argv[1])
        _die_with_parent(config["parent_pid"])
        Worker(config).serve()
    except BaseException:
        import traceback

        diagnostics.write("codemode worker failed:\n" + traceback.format_exc())
        diagnostics.flush()
        raise


if __name__ == "__main__":
    main()
