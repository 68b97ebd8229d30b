"""Worker operations ``js_eval`` and ``js_reset``: JavaScript in a persistent Node.js context.

Standard library only (see :mod:`ops`). Node runs ``js_driver.js`` as a child of the
worker, started on first use, so it shares the worker's sandbox, cgroup, limits and
network mode. It reads requests and writes replies on two private pipes; what the
code prints goes to node's stdout and stderr, which are read here, capped like a
command's output (:class:`command_ops.Pipes`). The host finds node with :func:`find_node` here
too, and :func:`node_binds` says what a sandbox must show of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import weakref
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_DRIVER = os.path.join(_HERE, "js_driver.js")
_REPLY_GRACE = 2.0  # seconds past the code's own timeout before node is presumed stuck and killed


class JavaScriptUnavailable(Exception):
    """Node.js is not installed where the session runs."""


def _command_ops() -> ModuleType:
    """The sibling module, loaded the way this one was: by package (in-process) or by path (worker)."""
    if __package__:
        return importlib.import_module(f"{__package__}.command_ops")
    loaded = sys.modules.get("_codemode_command_ops")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("_codemode_command_ops", os.path.join(_HERE, "command_ops.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class NodeContext:
    """One node process running the driver: the session's JavaScript state."""

    def __init__(self, node: str, output_cap: int, value_cap: int) -> None:
        request_read, self._requests = os.pipe()
        replies, reply_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [node, _DRIVER, str(request_read), str(reply_write), str(value_cap)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(request_read, reply_write),
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._replies = replies
        fds = {"stdout": self.process.stdout.fileno(), "stderr": self.process.stderr.fileno(), "reply": replies}
        self.pipes = _command_ops().Pipes(fds, output_cap, uncapped=("reply",))

    def evaluate(self, code: str, count: int, timeout: float | None) -> dict[str, Any] | None:
        """The driver's reply, or None if it did not come in time (or node died)."""
        request = {"code": code, "count": count, "timeout_ms": int(timeout * 1000) if timeout else 0}
        try:
            os.write(self._requests, json.dumps(request).encode() + b"\n")
        except BrokenPipeError:  # node has exited
            return None
        deadline = None if timeout is None else time.monotonic() + timeout + _REPLY_GRACE
        while (line := self.pipes.line("reply")) is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if (remaining is not None and remaining <= 0) or self.process.poll() is not None:
                self.pipes.read_ready()
                return None
            self.pipes.pump(remaining)
        self.pipes.read_ready()
        return json.loads(line)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        for fd in (self._requests, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def find_node() -> str | None:
    """The ``node`` on the PATH, links resolved: the binary the host finds and tells the worker to run."""
    found = shutil.which("node")
    return os.path.realpath(found) if found else None


def node_binds(private: str) -> tuple[str, ...]:
    """What a sandbox must show for :func:`find_node`'s node to run (nothing if there is none).

    The binary, and the ``lib/`` beside its ``bin/`` (shared libraries of a conda or tarball
    install, npm's modules), never the whole installation: ``/srv/bin/node`` must not show
    ``/srv``. Not that ``lib/`` either when the installation is the home directory or holds it or
    ``private`` (``~/bin/node``, ``~/.local/bin/node``).
    """
    node = find_node()
    if node is None:
        return ()
    directory = os.path.dirname(node)
    prefix = os.path.dirname(directory)
    lib = os.path.join(prefix, "lib")
    hidden = (os.path.realpath(private), os.path.realpath(os.path.expanduser("~")))
    if os.path.basename(directory) != "bin" or not os.path.isdir(lib):
        return (node,)
    if any(os.path.commonpath((prefix, path)) == prefix for path in hidden):
        return (node,)
    return (node, lib)


_CONTEXTS: weakref.WeakKeyDictionary[Any, NodeContext] = weakref.WeakKeyDictionary()


def _context(interp: Any, params: dict[str, Any]) -> NodeContext:
    found = _CONTEXTS.get(interp)
    if found is None:
        # By the path the host found: the sandbox shows it there, and the worker's PATH may not name it.
        node = params.get("node") or find_node()
        if node is None:
            raise JavaScriptUnavailable("Node.js (node) is not on the PATH where the session runs")
        if not os.path.exists(node):
            raise JavaScriptUnavailable(f"{node} is not where the session runs (installed after it started?)")
        found = NodeContext(node, params["output_cap"], params["value_cap"])
        _CONTEXTS[interp] = found
        weakref.finalize(interp, found.kill)  # an interpreter replaced by a restart takes its node with it
    return found


def js_eval(interp: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``params["code"]``; the outcome has the keys of a Python run's (value, error, stdout, ...)."""
    context = _context(interp, params)
    context.pipes.truncated = False
    timeout = params.get("timeout")
    try:
        reply = context.evaluate(params["code"], params["count"], timeout)
    except BaseException:  # interrupted by the host: the context is in an unknown state
        _drop(interp)
        raise
    stdout, stderr = context.pipes.take("stdout"), context.pipes.take("stderr")
    if reply is None:
        died = context.process.poll() is not None
        _drop(interp)
        reason = "node exited" if died else f"the code did not stop within {timeout:g}s"
        reply = {
            "value": None,
            "error": {
                "type": "JavaScriptDied" if died else "TimeoutError",
                "message": f"{reason}; the JavaScript context was restarted and its variables are gone",
                "traceback": "",
            },
            "state_lost": True,
        }
    reply.update(stdout=stdout, stderr=stderr, truncated=bool(reply.get("truncated")) or context.pipes.truncated)
    return reply


def js_reset(interp: Any, params: dict[str, Any]) -> bool:
    """Forget the JavaScript context (the next js_eval starts a fresh one); True if there was one."""
    return _drop(interp)


def _drop(interp: Any) -> bool:
    context = _CONTEXTS.pop(interp, None)
    if context is None:
        return False
    context.kill()
    return True


HANDLERS = {"js_eval": js_eval, "js_reset": js_reset}
