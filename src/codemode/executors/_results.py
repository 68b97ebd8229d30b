"""Building :class:`ExecutionResult` objects, the same way for every executor."""

from __future__ import annotations

from typing import Any

from codemode.models import ErrorInfo, ExecutionResult

_LOST = "; every variable and import of the session is gone"


def from_outcome(outcome: dict[str, Any]) -> ExecutionResult:
    """From the interpreter's outcome dict (the worker's ``result`` message has the same keys)."""
    error = outcome.get("error")
    return ExecutionResult(
        value=outcome.get("value"),
        stdout=outcome.get("stdout", ""),
        stderr=outcome.get("stderr", ""),
        error=ErrorInfo(**error) if error else None,
        truncated=bool(outcome.get("truncated")),
    )


def interrupted(result: ExecutionResult, error_type: str, note: str) -> ExecutionResult:
    """Name the KeyboardInterrupt we caused for what it was (a timeout, a cancellation)."""
    if result.error is not None and result.error.type == "KeyboardInterrupt":
        result.error.type = error_type
        result.error.message = f"{note}; the session's variables are intact"
    return result


def lost(error_type: str, message: str) -> ExecutionResult:
    """A run whose interpreter had to be replaced."""
    return ExecutionResult(error=ErrorInfo(type=error_type, message=message + _LOST), state_lost=True)


def timeout_note(timeout: float | None) -> str:
    return f"execution timed out after {timeout:g}s and was interrupted"
