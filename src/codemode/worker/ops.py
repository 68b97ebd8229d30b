"""Operations the host can ask of an interpreter besides running code.

Standard library only: the worker loads this module (and the modules named in
``MODULES``) by path, as it loads its other siblings; the in-process executor
imports them normally. Each of those modules has a ``HANDLERS`` dict mapping an
operation's name to ``handler(interp, params) -> result``, where ``interp`` is the
session's :class:`~codemode.worker.interpreter.Interpreter` and ``params`` and
the result are JSON data (bytes allowed, as in every frame). A handler that raises
fails the operation with that exception's type and message. Handlers run in the
interpreter's thread, one at a time, and can be interrupted like code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, dict[str, Any]], Any]

MODULES: tuple[str, ...] = ("ops", "snapshot_ops", "command_ops", "js_ops", "callback_ops")
"""Sibling modules whose ``HANDLERS`` make up the operations; add a module here to add operations."""


def user_names(interp: Any, params: dict[str, Any]) -> list[str]:
    """The names the session's code defined (not the predefined namespaces, not dunders)."""
    return sorted(interp.user_names())


HANDLERS: dict[str, Handler] = {"user_names": user_names}


class Handlers:
    """The handlers of ``MODULES``, each module loaded when an operation is first not found in those loaded.

    Loading on demand keeps what they import (pickle, subprocess, shutil) out of every
    worker that never takes a snapshot or runs a command: a few MB of memory per session.
    """

    def __init__(self, load: Callable[[str], Any]) -> None:
        self._load = load
        self._pending = list(MODULES)
        self._handlers: dict[str, Handler] = {}

    def get(self, op: str) -> Handler | None:
        """The handler of ``op``; a module that fails to load raises here, and is tried again next time."""
        while op not in self._handlers and self._pending:
            self._handlers.update(self._load(self._pending[0]).HANDLERS)
            self._pending.pop(0)
        return self._handlers.get(op)


def collect(load: Callable[[str], Any]) -> Handlers:
    """All handlers: ``load(name)`` returns the sibling module ``name``."""
    return Handlers(load)


def run(handlers: Handlers, interp: Any, op: str, params: dict[str, Any]) -> dict[str, Any]:
    """``{"result": ...}`` or ``{"error": {"type", "message"}}``: the reply's content."""
    try:
        handler = handlers.get(op)
    except BaseException as exc:  # noqa: BLE001 - code may have broken an import (sys.modules['pickle'] = None)
        return {"error": {"type": type(exc).__name__, "message": f"the operation {op!r} cannot load: {exc}"}}
    if handler is None:
        return {"error": {"type": "UnknownOperation", "message": f"this worker has no operation {op!r}"}}
    interp.running_user_code = True  # an interrupt (timeout, cancellation) may stop it like code
    try:
        return {"result": handler(interp, params)}
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the host as an error
        return {"error": {"type": type(exc).__name__, "message": str(exc)}}
    finally:
        interp.running_user_code = False
