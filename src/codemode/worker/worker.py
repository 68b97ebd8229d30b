"""The worker: a child process that runs a session's code in one persistent namespace.

Started by :mod:`codemode.executors.subprocess_executor` as ``python worker.py CONFIG_JSON``
with a connected socket inherited on the descriptor that CONFIG names. It may run
under another interpreter than the host (the session's venv), so it uses the
standard library only and loads its sibling modules by path, under private names:
putting this directory on ``sys.path`` would let ``executors/subprocess_executor.py``
shadow the stdlib ``subprocess`` for user code.

Descriptors: fd 0 is the null device; fd 1 and fd 2 are pipes drained by threads
(``output.py``), so ``print``, C extensions and child processes all land in
the result; the protocol socket is a separate descriptor user output cannot reach.
"""

from __future__ import annotations

import collections
import faulthandler
import importlib.util
import itertools
import json
import os
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
_LATE_OUTPUT = "[output written by the session's threads after the previous run returned]\n"


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
session_api = _load_sibling("session_api")
ops = _load_sibling("ops")
display = _load_sibling("display")
output = _load_sibling("output")
limits = _load_sibling("limits")


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


class Worker:
    """The main loop: take a request, run it, answer."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        sock = socket.socket(fileno=config["fd"])
        sock.setblocking(True)
        self.channel = Channel(sock, config["max_frame"])
        self.stdout = output.FdDrain(1, config["output_cap"])
        self.stderr = output.FdDrain(2, config["output_cap"])
        self.streams = (output.buffered_text(1), output.buffered_text(2), output.NoStdin(interpreter._NO_INPUT))
        self._restore_streams()
        output.flush_before_children(self._flush_streams)
        self.display = display.Display(
            config.get("image_max_edge", 1568),
            config.get("image_max_bytes", 1024 * 1024),
            config["max_frame"] // 4,  # a full-size picture must fit in the result's frame
        )
        self.live = output.LiveOutput(self.channel, (self.stdout, self.stderr), self._flush_output)
        self.interp = interpreter.Interpreter(
            {
                **namespaces.build(self.channel.call, self.display.display),
                **session_api.build(self.channel.call),
                **self.display.names(),
            },
            value_cap=config["value_cap"],
            traceback_cap=config["traceback_cap"],
        )
        self.handlers = ops.collect(lambda name: ops if name == "ops" else _load_sibling(name))
        sys.modules["__main__"] = self.interp.module  # so pickle finds classes defined in cells
        signal.signal(signal.SIGINT, self._on_sigint)
        signal.signal(signal.SIGXCPU, self._on_sigxcpu)

    def _on_sigxcpu(self, signum: int, frame: Any) -> None:
        if self.interp.running_user_code:
            raise limits.CpuLimitReached()

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
            else:
                self._restore_streams()
                reply = ops.run(self.handlers, self.interp, op, protocol.from_wire(request.get("params") or {}))
                self._flush_output()
                self.channel.send({"op": "done", "id": request["id"], **protocol.to_wire(reply)})

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
        self._flush_output()
        late_stdout, _ = self.stdout.collect()  # from threads that outlived the previous run: marked, not mixed in
        late_stderr, _ = self.stderr.collect()
        started = time.perf_counter()
        if request.get("live"):
            self.live.start(request["id"], request["live"])
        try:
            outcome = self.interp.execute(request["code"], request["count"])
            images, image_notes = self._pictures(outcome)
        except KeyboardInterrupt:  # landed between user code and our bookkeeping
            outcome = {"value": None, "error": {"type": "KeyboardInterrupt", "message": "", "traceback": ""}}
            images, image_notes = [], []
        duration_ms = (time.perf_counter() - started) * 1000
        if request.get("live"):
            self.live.stop()
        self._flush_output()
        stdout, stdout_cut = self.stdout.collect()
        stderr, stderr_cut = self.stderr.collect()
        limits.name_the_limit(outcome["error"], self.config.get("limit_names", {}))
        return {
            "op": "result",
            "id": request["id"],
            "value": outcome["value"],
            "literal": outcome.get("literal"),
            "error": outcome["error"],
            "stdout": _LATE_OUTPUT + late_stdout + stdout if late_stdout else stdout,
            "stderr": _LATE_OUTPUT + late_stderr + stderr if late_stderr else stderr,
            "truncated": bool(outcome.get("truncated")) or stdout_cut or stderr_cut,
            "duration_ms": duration_ms,
            "images": protocol.to_wire(images),
            "image_notes": image_notes,
        }

    def _pictures(self, outcome: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
        # The last value is the one _show just stored as ``_``; drawing it may run user code (_repr_png_).
        value = self.interp.namespace.get("_") if outcome["value"] is not None else None
        self.interp.running_user_code = True
        try:
            return self.display.finish(value)
        except Exception as exc:  # noqa: BLE001 - a picture that fails to draw must not lose the run's result
            return [], [f"the run's pictures could not be drawn: {type(exc).__name__}: {exc}"]
        finally:
            self.interp.running_user_code = False

    def _flush_output(self) -> None:
        self._flush_streams()
        output.flush_c_stdio()


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill us if the host dies, so a busy worker never outlives its server.

    ``parent`` is 0 in a sandbox: there our parent is the sandbox's init, which dies with the host.
    """
    libc = output.libc() if sys.platform.startswith("linux") else None
    if libc is not None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:  # the host died before the request took effect
        os._exit(1)


def main() -> None:
    # Our own failures go to the host's stderr (its log); fd 2 becomes the capture pipe soon.
    diagnostics = os.fdopen(os.dup(2), "w")
    faulthandler.enable(diagnostics)
    faulthandler.register(signal.SIGUSR1, diagnostics, all_threads=True)  # "where is it stuck?"
    try:
        config = json.loads(sys.argv[1])
        _die_with_parent(config["parent_pid"])
        limits.apply_limits(config.get("rlimits", {}))
        if config.get("egress"):  # --allow-host: the way to the host's proxy (loaded only then)
            _load_sibling("egress_relay").start(config["egress"]["socket"], config["egress"]["port"])
        Worker(config).serve()
    except BaseException:
        import traceback

        diagnostics.write("codemode worker failed:\n" + traceback.format_exc())
        diagnostics.flush()
        raise


if __name__ == "__main__":
    main()
