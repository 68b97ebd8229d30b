"""Building :class:`ExecutionResult` objects, the same way for every executor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from codemode.errors import WorkerError
from codemode.images import images_from_wire
from codemode.models import ErrorInfo, ExecutionResult
from codemode.worker import protocol
from codemode.worker.interpreter import decode_literal

logger = logging.getLogger(__name__)
T = TypeVar("T")

_LOST = "; every variable and import of the session is gone"


def from_worker(what: str, build: Callable[[], T]) -> T:
    """``build()``, which reads what a worker sent; ``WorkerError`` if it is malformed.

    Code in a worker can write to its socket, so its answers may have any shape: a bad one is an
    error of that session, never an unexpected exception in the host.
    """
    try:
        return build()
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # ValidationError is a ValueError
        raise WorkerError(f"the worker sent a malformed {what} ({type(exc).__name__})") from None


def from_outcome(outcome: dict[str, Any]) -> ExecutionResult:
    """From the interpreter's outcome dict (the worker's ``result`` message has the same keys)."""
    return from_worker("result", lambda: _from_outcome(outcome))


def _from_outcome(outcome: dict[str, Any]) -> ExecutionResult:
    error = outcome.get("error")
    shown = outcome.get("value")
    return ExecutionResult(
        value=_value(shown, outcome.get("literal")),
        value_repr=shown,
        stdout=outcome.get("stdout", ""),
        stderr=outcome.get("stderr", ""),
        error_info=ErrorInfo(**error) if error else None,
        truncated=bool(outcome.get("truncated")),
        images=images_from_wire(protocol.from_wire(outcome.get("images"))),
        notes=list(outcome.get("image_notes") or ()),
    )


def _value(shown: str | None, literal: Any) -> Any:
    """The value itself if the worker sent it as an encoded literal, else its repr."""
    if shown is None or literal is None:
        return shown
    try:
        return decode_literal(literal)
    except ValueError as exc:  # only a misbehaving worker sends this: keep the repr
        logger.warning("worker sent a malformed value literal (%s); using its repr", exc)
        return shown


def interrupted(result: ExecutionResult, error_type: str, note: str) -> ExecutionResult:
    """Name the KeyboardInterrupt we caused for what it was (a timeout, a cancellation)."""
    if result.error_info is not None and result.error_info.type == "KeyboardInterrupt":
        result.error_info.type = error_type
        result.error_info.message = f"{note}; the session's variables are intact"
    return result


def lost(error_type: str, message: str) -> ExecutionResult:
    """A run whose interpreter had to be replaced."""
    return ExecutionResult(error_info=ErrorInfo(type=error_type, message=message + _LOST), state_lost=True)


def timeout_note(timeout: float | None) -> str:
    return f"execution timed out after {timeout:g}s and was interrupted"
