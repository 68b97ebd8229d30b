"""Short text renderings of tool results, for the model to read beside the structured content."""

from __future__ import annotations

from codemode.models import ExecutionResult, SessionInfo


def execution(result: ExecutionResult) -> str:
    status = "ok" if result.is_ok else f"error: {result.error}"
    lines = [f"[{result.execution_count}] {status} ({result.duration_ms:.1f} ms)"]
    if result.state_lost:
        lines.append("state lost: the worker was replaced, every variable is gone")
    if result.stdout:
        lines += ["--- stdout ---", result.stdout.rstrip("\n")]
    if result.stderr:
        lines += ["--- stderr ---", result.stderr.rstrip("\n")]
    if result.error is not None and result.error.traceback:
        lines += ["--- traceback ---", result.error.traceback.rstrip("\n")]
    if result.value is not None:
        lines += ["--- value ---", result.value]
    if result.truncated:
        lines.append("(output was truncated at its size limit)")
    return "\n".join(lines)


def session_info(info: SessionInfo) -> str:
    limit = "none" if info.default_timeout is None else f"{info.default_timeout:g}s"
    return (
        f"session {info.session_id}{f' ({info.name})' if info.name else ''}: "
        f"{info.execution_count} runs, executor {info.executor}, Python {info.python_version or '?'}, "
        f"timeout {limit}, capabilities {', '.join(info.capabilities)}"
    )
