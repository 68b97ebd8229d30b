"""Operations the host can ask of an interpreter besides running code.

Standard library only: the worker loads this module (and the modules named in
``MODULES``) by path, as it loads its other siblings; the in-process executor
imports them normally. Each of those modules has a ``HANDLERS`` dict mapping an
operation's name to ``handler(interp, params) -> result``, where ``interp`` is the
session's :class:`~codemode.executors.interpreter.Interpreter` and ``params`` and
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


def collect(load: Callable[[str], Any]) -> dict[str, Handler]:
    """All handlers: ``load(name)`` returns the sibling module ``name``."""
    handlers: dict[str, Handler] = {}
    for name in MODULES:
        handlers.update(load(name).HANDLERS)
    return handlers


def run(handlers: dict[str, Handler], interp: Any, op: str, params: dict[str, Any]) -> dict[str, Any]:
    """``{"result": ...}`` or ``{"error": {"type", "message"}}``: the reply's content."""
    handler = handlers.get(op)
    if handler is None:
        return {"error": {"type": "UnknownOperation", "message": f"this worker has no operation {op!r}"}}
    interp.running_user_code = True  # an interrupt (timeout, cancellation) may stop it like code
    try:
        return {"result": handler(interp, params)}
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the host as an error
        return {"error": {"type": type(exc).__name__, "message": str(exc)}}
    finally:
        interp.running_user_code = False
