"""The worker's output: fd 1 and 2 as drained pipes, the Python streams over them, live output.

Standard library only: :mod:`codemode.worker.worker` loads this module by path,
as it loads its other siblings. Everything that writes to fd 1 or 2 (Python's
``sys.stdout``, C code, child processes) lands in a :class:`FdDrain`; the flush
helpers keep what Python and C buffer in order with what children write.
"""

from __future__ import annotations

import codecs
import io
import os
import select
import threading
from collections.abc import Callable
from typing import Any, Protocol

_READ_CHUNK = 1 << 16
_STREAM_BUFFER = 1 << 16


class _Sender(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


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
        self._live_sent = 0  # parts already streamed to the host while a run goes on
        self._live_decoder = codecs.getincrementaldecoder("utf-8")("replace")
        threading.Thread(target=self._drain, name=f"codemode-fd{fd}", daemon=True).start()

    def collect(self) -> tuple[str, bool]:
        """Everything written so far that is not yet collected, as text, and whether some was dropped."""
        with self._lock:
            self._read_available()
            data = b"".join(self._parts)
            self._parts.clear()
            truncated, self._truncated, self._size = self._truncated, False, 0
            self._live_sent = 0
            self._live_decoder.reset()
        return data.decode("utf-8", "replace"), truncated

    def live(self) -> str:
        """What arrived since the last call (or collect), as text; it stays here for :meth:`collect` too."""
        with self._lock:
            self._read_available()
            fresh = b"".join(self._parts[self._live_sent :])
            self._live_sent = len(self._parts)
            return self._live_decoder.decode(fresh)

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


class LiveOutput:
    """Streams a long run's output to the host: ``output`` frames, the first after one interval.

    One thread for the worker's life, started by the first run that asks for it. A run
    shorter than the interval costs a notify; the thread wakes only while a run goes on.
    """

    def __init__(self, channel: _Sender, drains: tuple[FdDrain, FdDrain], flush: Callable[[], None]) -> None:
        self._channel = channel
        self._drains = drains
        self._flush = flush
        self._cond = threading.Condition()
        self._run: tuple[int, float] | None = None
        self._thread: threading.Thread | None = None

    def start(self, request_id: int, interval: float) -> None:
        with self._cond:
            self._run = (request_id, interval)
            self._cond.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="codemode-live-output", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._run = None
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while True:
                run = self._run
                if run is None:
                    self._cond.wait()
                    continue
                self._cond.wait(run[1])
                if self._run is run:  # still the same run: send what it wrote so far
                    self._send(run[0])

    def _send(self, request_id: int) -> None:
        self._flush()  # Python's buffered streams hold what print() wrote; push it into the pipes
        stdout, stderr = (drain.live() for drain in self._drains)
        if stdout or stderr:
            try:
                self._channel.send({"op": "output", "id": request_id, "stdout": stdout, "stderr": stderr})
            except OSError:
                pass  # the host has gone: the main loop finds out on its own


def buffered_text(fd: int) -> io.TextIOWrapper:
    # Block-buffered like any Python writing to a pipe: C speed per print. Flushed at the
    # end of every run and before a child process starts, so output keeps its order.
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(io.BufferedWriter(raw, _STREAM_BUFFER), encoding="utf-8", errors="replace")


class NoStdin:
    """``sys.stdin`` for code without a terminal: reading says why (``no_input``) instead of hanging."""

    encoding = "utf-8"
    closed = False

    def __init__(self, no_input: str) -> None:
        self._no_input = no_input

    def read(self, size: int = -1) -> str:
        raise EOFError(self._no_input)

    readline = read

    def readlines(self, hint: int = -1) -> list[str]:
        raise EOFError(self._no_input)

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 0


def flush_before_children(flush: Callable[[], None]) -> None:
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


def flush_c_stdio() -> None:
    # C code writing through stdio (printf) is block-buffered on a pipe; push it out.
    c = libc()
    if c is not None:
        c.fflush(None)


_LIBC: list[Any] = []


def libc() -> Any:
    """The C library (loaded once), or ``None`` where ctypes cannot load it."""
    if not _LIBC:
        try:
            import ctypes

            _LIBC.append(ctypes.CDLL(None))
        except (ImportError, OSError):
            _LIBC.append(None)
    return _LIBC[0]
