"""JavaScript in a session: ``run(code, language="javascript")`` (AGB's ``run_code(code, "javascript")``).

Each session gets one persistent Node.js context, started on first use as a child of
its worker (``worker/js_ops.py`` and ``js_driver.js``), so it is confined like the
session's Python: same sandbox, limits and network mode. Variables survive between
runs, the last expression's value is returned, console output is captured, and
errors come with their stack. The result has the same shape as a Python run's.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from codemode.errors import InvalidArgument, OperationFailed, Unavailable
from codemode.executors._results import from_worker
from codemode.executors.base import Executor
from codemode.models import ErrorInfo, ExecutionLimits, ExecutionResult
from codemode.worker.js_ops import find_node

Language = Literal["python", "javascript"]
LANGUAGES: tuple[str, ...] = ("python", "javascript")
_REQUEST_SLACK = 5.0  # seconds beyond the run's timeout for the worker to stop node and report


def check_language(language: object) -> None:
    if language not in LANGUAGES:
        raise InvalidArgument(f"language must be one of {', '.join(map(repr, LANGUAGES))}, not {language!r}")


def available() -> bool:
    """True if Node.js is installed (``node`` on the PATH); a sandboxed worker is shown it (``js_ops.node_binds``)."""
    return find_node() is not None


async def run(executor: Executor, code: str, *, count: int, timeout: float | None) -> ExecutionResult:
    """Run ``code`` in the session's JavaScript context; the caller holds the session's run lock."""
    node = find_node()
    if node is None:
        raise Unavailable("JavaScript needs Node.js: install it so that `node` is on the PATH (supports('javascript'))")
    limits: ExecutionLimits = getattr(executor, "limits", None) or ExecutionLimits()
    params = {
        "node": node,
        "code": code,
        "count": count,
        "timeout": timeout,
        "output_cap": limits.output_cap,
        "value_cap": limits.value_cap,
    }
    wait = None if timeout is None else timeout + limits.interrupt_grace + _REQUEST_SLACK
    started = time.perf_counter()
    try:
        outcome = await executor.request("js_eval", params, wait)
    except OperationFailed as exc:
        if exc.error_type == "JavaScriptUnavailable":
            raise Unavailable(str(exc)) from None
        raise
    result = from_worker("JavaScript result", lambda: _result(outcome))
    result.execution_count = count
    result.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    await executor.check_after_run(result)  # JavaScript fills the session directory as Python does
    return result


async def reset(executor: Executor) -> None:
    """Forget the session's JavaScript variables (a fresh context on the next run)."""
    await executor.request("js_reset", {})


def _result(outcome: dict[str, Any]) -> ExecutionResult:
    shown = outcome.get("value")
    error = outcome.get("error")
    return ExecutionResult(
        value=outcome.get("json") if outcome.get("has_json") else shown,
        value_repr=shown,
        stdout=outcome.get("stdout", ""),
        stderr=outcome.get("stderr", ""),
        error_info=ErrorInfo(**error) if error else None,
        truncated=bool(outcome.get("truncated")),
        state_lost=bool(outcome.get("state_lost")),
    )
