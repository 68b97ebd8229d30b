"""Worker operation ``run_command``: a command in the session's sandbox, working directory and limits.

Standard library only (see :mod:`ops`). The command is a child of the worker, so
it inherits the worker's sandbox, network mode, environment and resource limits.
It starts a session (and process group) of its own, so a timeout ends the whole
tree it started with one ``killpg``. :class:`Pipes` is shared with the
JavaScript operations, which read a child's output the same way.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from typing import Any

_READ_CHUNK = 1 << 16
_KILL_GRACE = 1.0  # seconds to collect output after a kill (a grandchild that left the group may hold the pipes)


class Pipes:
    """Reads a child's pipes without blocking, keeping the first ``cap`` bytes of each (but ``uncapped``)."""

    def __init__(self, fds: dict[str, int], cap: int, uncapped: tuple[str, ...] = ()) -> None:
        self._names = {fd: name for name, fd in fds.items()}
        self._cap = cap
        self._uncapped = uncapped
        self._data: dict[str, bytearray] = {name: bytearray() for name in fds}
        self.truncated = False
        self._poller = select.poll()
        for fd in fds.values():
            os.set_blocking(fd, False)
            self._poller.register(fd, select.POLLIN)

    @property
    def open(self) -> bool:
        return bool(self._names)

    def pump(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` seconds (None: until something happens) and read what arrived."""
        wait_ms = None if timeout is None else max(0, int(timeout * 1000))
        for fd, _ in self._poller.poll(wait_ms):
            self._read(fd)

    def read_ready(self) -> None:
        """Read what is there now, without waiting."""
        for fd in list(self._names):
            self._read(fd)

    def _read(self, fd: int) -> None:
        name = self._names.get(fd)
        if name is None:
            return
        while True:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self._poller.unregister(fd)
                del self._names[fd]
                return
            kept = self._data[name]
            if name in self._uncapped:
                kept += chunk
                continue
            room = self._cap - len(kept)
            if len(chunk) > room:
                self.truncated = True
            if room > 0:
                kept += chunk[:room]

    def line(self, name: str) -> bytes | None:
        """The first complete line that arrived on ``name`` (taken off), or None."""
        data = self._data[name]
        end = data.find(b"\n")
        if end < 0:
            return None
        line = bytes(data[:end])
        del data[: end + 1]
        return line

    def take(self, name: str) -> str:
        """What arrived on ``name`` since the last take, as text."""
        data = self._data[name]
        text = data.decode("utf-8", "replace")
        data.clear()
        return text


def run_command(interp: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``argv`` in ``cwd``; ``timeout`` (seconds or None) ends it and everything it started."""
    argv: list[str] = params["argv"]
    timeout: float | None = params.get("timeout")
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            cwd=params["cwd"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: one killpg ends its whole tree
        )
    except (FileNotFoundError, PermissionError) as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126  # as a shell says it
        return _outcome(code, "", f"{argv[0]}: {exc.strerror}\n", started, timed_out=False, truncated=False)
    assert process.stdout is not None and process.stderr is not None
    pipes = Pipes({"stdout": process.stdout.fileno(), "stderr": process.stderr.fileno()}, params["output_cap"])
    deadline = None if timeout is None else started + timeout
    timed_out = False
    try:
        timed_out = not _wait(process, pipes, deadline)
        if timed_out:
            _kill_group(process)
            _drain(pipes, time.monotonic() + _KILL_GRACE)
        process.wait()
    finally:
        if process.returncode is None:  # interrupted by the host: leave nothing running
            _kill_group(process)
            process.wait()
        process.stdout.close()
        process.stderr.close()
    stdout, stderr = pipes.take("stdout"), pipes.take("stderr")
    return _outcome(process.returncode, stdout, stderr, started, timed_out=timed_out, truncated=pipes.truncated)


def _wait(process: subprocess.Popen[bytes], pipes: Pipes, deadline: float | None) -> bool:
    """Collect output until the command exits and closes its pipes; False if the deadline came first."""
    while pipes.open:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        pipes.pump(remaining)
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        process.wait(remaining)
    except subprocess.TimeoutExpired:
        return False
    return True


def _drain(pipes: Pipes, until: float) -> None:
    while pipes.open and (left := until - time.monotonic()) > 0:
        pipes.pump(left)
    pipes.read_ready()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _outcome(
    code: int | None, stdout: str, stderr: str, started: float, *, timed_out: bool, truncated: bool
) -> dict[str, Any]:
    return {
        "exit_code": code,
        "stdout": stdout,
        "stderr": stderr,
        "timed_out": timed_out,
        "truncated": truncated,
        "duration_ms": (time.monotonic() - started) * 1000,
    }


HANDLERS = {"run_command": run_command}
