"""One worker process seen from the host: spawn it, exchange frames, signal it, end it.

No policy lives here (timeouts, restarts): that is :mod:`codemode.executors.subprocess`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process, SocketStream

from codemode.errors import WorkerError
from codemode.executors import protocol
from codemode.executors.base import ExecutionLimits
from codemode.models import RuntimeInfo

logger = logging.getLogger(__name__)

WORKER_PATH = Path(__file__).with_name("worker.py")
_SHUTDOWN_WAIT = 1.0


class WorkerExited(Exception):
    """The worker closed its end: it exited or was killed."""


class WorkerProcess:
    """A running worker and the socket to it."""

    def __init__(self, process: Process, stream: SocketStream, limits: ExecutionLimits) -> None:
        self._process = process
        self._stream = stream
        self._decoder = protocol.FrameDecoder(limits.max_frame_bytes)
        self._inbox: list[dict[str, Any]] = []
        self._max_frame = limits.max_frame_bytes
        self._send_lock = anyio.Lock(fast_acquire=True)  # replies to concurrent calls must not interleave
        self.runtime: RuntimeInfo | None = None

    @classmethod
    async def spawn(
        cls,
        python: str,
        limits: ExecutionLimits,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        """Start a worker and wait until it says it is ready."""
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config = {
            "fd": worker_end.fileno(),
            "parent_pid": os.getpid(),
            "output_cap": limits.output_cap,
            "value_cap": limits.value_cap,
            "traceback_cap": limits.traceback_cap,
            "max_frame": limits.max_frame_bytes,
        }
        try:
            process = await anyio.open_process(
                [python, str(WORKER_PATH), json.dumps(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None,  # inherits fd 2: only crash reports reach it, user output goes to the result
                cwd=cwd,
                env=env,
                pass_fds=[worker_end.fileno()],
                start_new_session=True,  # its own process group: one killpg ends it and its children
            )
        except OSError as exc:
            host_end.close()
            raise WorkerError(f"cannot start the worker with {python!r}: {exc}") from exc
        finally:
            worker_end.close()
        stream = await SocketStream.from_socket(host_end)
        worker = cls(process, stream, limits)
        await worker._await_ready(limits.start_timeout)
        return worker

    async def _await_ready(self, timeout: float) -> None:
        try:
            with anyio.fail_after(timeout):
                message = await self.receive()
        except (TimeoutError, WorkerExited) as exc:
            await self.kill()
            reason = "did not report ready in time" if isinstance(exc, TimeoutError) else self.describe_exit()
            raise WorkerError(f"the worker failed to start: {reason}") from None
        if message.get("op") != "ready":
            await self.kill()
            raise WorkerError(f"the worker sent {message.get('op')!r} instead of 'ready'")
        self.runtime = RuntimeInfo(
            pid=message["pid"],
            python_version=message["python"],
            executable=message["executable"],
            prefix=message["prefix"],
        )

    @property
    def pid(self) -> int:
        return self._process.pid

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
                self._inbox.extend(self._decoder.feed(data))
            except protocol.FrameError as exc:
                logger.error("worker %s broke the protocol: %s", self.pid, exc)
                await self.kill()
                raise WorkerExited() from exc
        return self._inbox.pop(0)

    def interrupt(self) -> None:
        """Raise KeyboardInterrupt in the code the worker is running."""
        if self.alive:
            os.kill(self.pid, signal.SIGINT)

    async def kill(self) -> None:
        """End the worker and everything it started, now."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        with anyio.CancelScope(shield=True):
            await self._process.wait()
            await self._stream.aclose()

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
        code = self._process.returncode
        if code is None:
            return "it closed its connection"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"
