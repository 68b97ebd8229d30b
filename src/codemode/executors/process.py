"""One worker process seen from the host: spawn it, exchange frames, signal it, end it.

No policy lives here (timeouts, restarts): that is :mod:`codemode.executors.subprocess_executor`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import Process, SocketStream

from codemode import worker
from codemode.errors import WorkerError
from codemode.models import ExecutionLimits, RuntimeInfo
from codemode.offload import run_sized
from codemode.sandbox import seccomp
from codemode.sandbox.cgroups import WorkerCgroup
from codemode.sandbox.launcher import Launcher
from codemode.units import format_bytes
from codemode.worker import protocol

logger = logging.getLogger(__name__)

WORKER_PATH = Path(worker.__file__).with_name("worker.py")
"""The worker program; its directory is all of the package a sandboxed worker can read."""
_SHUTDOWN_WAIT = 1.0
_STARTUP_ERRORS_CAP = 8192
_REAP_WAIT = 1.0


@dataclass
class _Launch:
    """How a worker was started, and what the host learns about it on the way."""

    sandboxed: bool
    network: bool
    cgroup: WorkerCgroup | None
    limits: ExecutionLimits
    process_limit: bool
    syscall_filter: bool = False
    oom_kills: int = 0


class WorkerExited(Exception):
    """The worker closed its end: it exited or was killed."""


class WorkerProcess:
    """A running worker and the socket to it."""

    def __init__(
        self, process: Process, stream: SocketStream, limits: ExecutionLimits, launch: _Launch, errors_fd: int = -1
    ) -> None:
        self._process = process
        self._errors_fd = errors_fd
        self._stream = stream
        self._decoder = protocol.FrameDecoder(limits.max_frame_bytes)
        self._inbox: list[dict[str, Any]] = []
        self._max_frame = limits.max_frame_bytes
        self._send_lock = anyio.Lock(fast_acquire=True)  # replies to concurrent calls must not interleave
        self._launch = launch
        self._worker_pid = process.pid  # the worker's pid as the host sees it (under bwrap: found after start)
        self.runtime: RuntimeInfo | None = None

    @classmethod
    async def spawn(cls, python: str, limits: ExecutionLimits, launcher: Launcher) -> WorkerProcess:
        """Start a worker (``launcher`` says how: sandboxed or not) and wait until it says it is ready."""
        if not os.access(python, os.X_OK):  # say so here: inside a sandbox it would be a mere exit code
            raise WorkerError(f"cannot start the worker with {python!r}: no such executable")
        cgroup = await anyio.to_thread.run_sync(WorkerCgroup.create, limits.memory_bytes, limits.max_processes)
        rlimits = await anyio.to_thread.run_sync(_rlimits, limits, cgroup is not None and cgroup.limits_processes)
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        errors_fd, errors_write = os.pipe()
        os.set_blocking(errors_fd, False)
        config = _worker_config(limits, launcher, worker_end.fileno(), rlimits)
        launch = launcher.plan([python, str(WORKER_PATH), json.dumps(config)])
        argv, info, syscall_filter = launch.argv, None, None
        try:
            if launch.sandboxed:
                argv, info = _with_info_fd(argv)
                argv, syscall_filter = _with_syscall_filter(argv)
            process = await anyio.open_process(
                cgroup.wrap(argv) if cgroup else argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors_write,  # read only if it fails to start: user bytes never reach our log
                cwd=launch.cwd,
                env=launch.env,
                pass_fds=[worker_end.fileno(), *([info[1]] if info else []), *_present(syscall_filter)],
                start_new_session=True,  # its own process group: one killpg ends it and its children
            )
        except OSError as exc:  # no process: nothing else will close what was opened for it
            host_end.close()
            os.close(errors_fd)
            if info:
                os.close(info[0])
            if cgroup:
                await anyio.to_thread.run_sync(cgroup.remove)
            raise WorkerError(f"cannot start the worker with {python!r}: {exc}") from exc
        finally:
            worker_end.close()
            os.close(errors_write)
            if info:
                os.close(info[1])
            if syscall_filter is not None:
                os.close(syscall_filter)
        stream = await SocketStream.from_socket(host_end)
        process_limit = (cgroup is not None and cgroup.limits_processes) or "RLIMIT_NPROC" in rlimits
        launched = _Launch(launch.sandboxed, launch.network, cgroup, limits, process_limit, syscall_filter is not None)
        worker = cls(process, stream, limits, launched, errors_fd)
        try:
            await worker._await_ready(limits.start_timeout)
            if info:
                worker._worker_pid = await anyio.to_thread.run_sync(_sandboxed_pid, info[0], process.pid)
                assert worker.runtime is not None
                worker.runtime.pid = worker._worker_pid
        finally:
            if info:
                os.close(info[0])
        return worker

    async def _await_ready(self, timeout: float) -> None:
        try:
            with anyio.fail_after(timeout):
                message = await self.receive()
        except (TimeoutError, WorkerExited) as exc:
            errors = "" if isinstance(exc, TimeoutError) else self._startup_errors()
            await self.kill()
            reason = "did not report ready in time" if isinstance(exc, TimeoutError) else self.describe_exit()
            raise WorkerError(f"the worker failed to start: {reason}{errors}") from None
        if message.get("op") != "ready":
            await self.kill()
            raise WorkerError(f"the worker sent {message.get('op')!r} instead of 'ready'")
        self.runtime = RuntimeInfo(
            pid=message["pid"],
            python_version=message["python"],
            executable=message["executable"],
            prefix=message["prefix"],
        )

    def _startup_errors(self) -> str:
        """What the worker (or bwrap) wrote to its stderr before it failed to start."""
        try:
            data = os.read(self._errors_fd, _STARTUP_ERRORS_CAP) if self._errors_fd >= 0 else b""
        except BlockingIOError:
            data = b""
        message = data.decode(errors="replace").strip()
        return f": {message}" if message else ""

    def _close_errors(self) -> None:
        # Kept open (and never read) while the worker lives: a writer to a closed pipe could die of SIGPIPE.
        if self._errors_fd >= 0:
            os.close(self._errors_fd)
            self._errors_fd = -1

    @property
    def pid(self) -> int:
        """The worker's process id as the host sees it."""
        return self._worker_pid

    @property
    def sandboxed(self) -> bool:
        return self._launch.sandboxed

    @property
    def launch(self) -> _Launch:
        return self._launch

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    async def send(self, message: dict[str, Any]) -> None:
        frame = protocol.encode_frame(message, self._max_frame)
        try:
            async with self._send_lock:
                await self._stream.send(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise WorkerExited() from exc

    async def receive(self) -> dict[str, Any]:
        """The next message from the worker; ``WorkerExited`` once it is gone."""
        while not self._inbox:
            try:
                data = await self._stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                raise WorkerExited() from None
            try:
                messages = await run_sized(self._decoder.buffered + len(data), self._decoder.feed, data)
                self._inbox.extend(protocol.check_from_worker(message) for message in messages)
            except protocol.FrameError as exc:
                logger.warning("worker %s broke the protocol and is killed: %s", self.pid, exc)
                await self.kill()
                raise WorkerExited() from exc
        return self._inbox.pop(0)

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the code the worker is running."""
        if self.alive:
            os.kill(self.pid, signal.SIGINT)

    async def reap(self) -> None:
        """End a worker that is dying anyway: let it finish (so its exit status is known), then kill what is left."""
        with anyio.move_on_after(_REAP_WAIT):
            await self._process.wait()  # under bwrap the sandbox exits once the worker has
        await self.kill()

    async def kill(self) -> None:
        """End the worker and everything it started, now."""
        try:
            os.killpg(self._process.pid, signal.SIGKILL)  # under bwrap, its PID namespace dies with it
        except (ProcessLookupError, PermissionError):
            pass
        with anyio.CancelScope(shield=True):
            await self._process.wait()
            await self._stream.aclose()
            self._close_errors()
            cgroup, self._launch.cgroup = self._launch.cgroup, None
            if cgroup is not None:
                self._launch.oom_kills = cgroup.oom_kills()
                await anyio.to_thread.run_sync(cgroup.remove)

    async def close(self) -> None:
        """Ask the worker to exit; kill it (and its process group) if it does not."""
        with anyio.CancelScope(shield=True):
            try:
                await self.send({"op": "shutdown"})
                with anyio.move_on_after(_SHUTDOWN_WAIT):
                    await self._process.wait()
            except WorkerExited:
                pass
            await self.kill()

    def describe_exit(self) -> str:
        """How the worker ended, in words (call after :meth:`kill`, which collects the facts)."""
        code = self._process.returncode
        if code is None:
            return "it closed its connection"
        if self._launch.sandboxed and code > 128:
            code = 128 - code  # bwrap reports a child killed by signal N as exit status 128 + N
        if code < 0:
            reason = f"killed by signal {_signal_name(-code)}"
            if self._launch.oom_kills and self._launch.limits.memory_bytes:
                reason += f": memory limit of {format_bytes(self._launch.limits.memory_bytes)} reached"
            elif -code == signal.SIGXCPU and self._launch.limits.cpu_seconds:
                reason += f": CPU time limit of {self._launch.limits.cpu_seconds} s reached"
            return reason
        return f"exit code {code}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _rlimits(limits: ExecutionLimits, in_cgroup: bool) -> dict[str, int]:
    """The per-process limits the worker sets on itself before it runs any code (blocking: scans /proc)."""
    wanted = {
        "RLIMIT_DATA": limits.memory_bytes,
        "RLIMIT_NOFILE": limits.max_open_files,
        "RLIMIT_FSIZE": limits.max_file_bytes,
        "RLIMIT_CPU": limits.cpu_seconds,
    }
    if limits.max_processes and not in_cgroup and os.geteuid() != 0:
        # RLIMIT_NPROC counts every task of the user (root is exempt): allow this many more than it has now.
        wanted["RLIMIT_NPROC"] = limits.max_processes + _tasks_of(os.geteuid())
    return {name: value for name, value in wanted.items() if value is not None}


def _tasks_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:
            continue
    return count


def _limit_names(limits: ExecutionLimits) -> dict[str, str]:
    """How the worker names a limit in the error of code that hit it."""
    names = {}
    if limits.memory_bytes:
        names["memory"] = format_bytes(limits.memory_bytes)
    if limits.cpu_seconds:
        names["cpu"] = f"{limits.cpu_seconds} s"
    if limits.max_processes:
        names["max_processes"] = f"process limit of {limits.max_processes} per session reached"
    if limits.max_open_files:
        names["max_open_files"] = f"open file limit of {limits.max_open_files} reached"
    if limits.max_file_bytes:
        names["max_file_bytes"] = f"file size limit of {format_bytes(limits.max_file_bytes)} reached"
    return names


def _worker_config(limits: ExecutionLimits, launcher: Launcher, fd: int, rlimits: dict[str, int]) -> dict[str, Any]:
    """What the worker is told on its command line: its socket, caps and limits."""
    return {
        "fd": fd,
        # Under bwrap the worker's parent is the sandbox's init, which dies with us (--die-with-parent).
        "parent_pid": 0 if launcher.sandboxed else os.getpid(),
        "output_cap": limits.output_cap,
        "value_cap": limits.value_cap,
        "traceback_cap": limits.traceback_cap,
        "max_frame": limits.max_frame_bytes,
        "image_max_edge": limits.image_max_edge,
        "image_max_bytes": limits.image_max_bytes,
        "rlimits": rlimits,
        "limit_names": _limit_names(limits),
        "egress": launcher.egress_relay(),
    }


def _with_info_fd(argv: list[str]) -> tuple[list[str], tuple[int, int]]:
    """``argv`` (a bwrap command) made to report the sandbox's pid on a pipe."""
    read_end, write_end = os.pipe()
    return [argv[0], "--info-fd", str(write_end), *argv[1:]], (read_end, write_end)


def _present(fd: int | None) -> list[int]:
    return [] if fd is None else [fd]


def _with_syscall_filter(argv: list[str]) -> tuple[list[str], int | None]:
    """``argv`` (a bwrap command) made to load the seccomp filter, and the descriptor it reads it from.

    None where there is no filter for this architecture: the worker runs without one, and says so.
    """
    if not seccomp.supported():
        return argv, None
    fd = os.memfd_create("codemode-seccomp")
    try:
        os.write(fd, seccomp.program())
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return [argv[0], "--seccomp", str(fd), *argv[1:]], fd


def _sandboxed_pid(info_fd: int, fallback: int) -> int:
    """The worker's host pid: the one child of the sandbox's init process, which bwrap names on ``info_fd``."""
    data = b""
    while chunk := os.read(info_fd, 4096):
        data += chunk
        if data.rstrip().endswith(b"}"):
            break
    try:
        init = int(json.loads(data)["child-pid"])
        children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
        return int(children[0]) if children else init
    except (ValueError, KeyError, OSError, IndexError):
        logger.warning("could not find the sandboxed worker's pid; interrupts go to the sandbox instead")
        return fallback
