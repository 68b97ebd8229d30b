"""Short text renderings of tool results, for the model to read beside the structured content."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from codemode.artifacts import ArtifactInfo
from codemode.deps import DepsResult, RemoveResult
from codemode.models import ExecutionResult, SessionInfo
from codemode.tools.registry import ToolInfo
from codemode.workflows import Workflow, WorkflowInfo

_ARTIFACT_SHOWN = 20_000


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


def tools(items: Sequence[ToolInfo], problems: Sequence[str]) -> str:
    lines = []
    for tool in items:
        callables = ", ".join(item.name for item in tool.callables)
        status = "" if tool.available else f" [unavailable: {tool.problem}]"
        lines.append(f"- {tool.name} ({tool.type}){_score(tool.score)}: {tool.description}{status}")
        if callables:
            lines.append(f"    tools.{tool.name}.<{callables}>(...)")
    lines += [f"! {problem}" for problem in problems]
    return "\n".join(lines) or "no tools"


def signature(info: WorkflowInfo) -> str:
    parameters = []
    for parameter in info.parameters:
        text = parameter.name + (f": {parameter.annotation}" if parameter.annotation else "")
        parameters.append(text + (f" = {parameter.default}" if parameter.default is not None else ""))
    return f"{'async ' if info.is_async else ''}run({', '.join(parameters)})"


def workflows(items: Sequence[WorkflowInfo]) -> str:
    return "\n".join(f"- {w.name}{_score(w.score)}: {signature(w)} — {w.description}" for w in items) or "no workflows"


def workflow(item: Workflow) -> str:
    return f"{item.name}: {item.description}\n{signature(item)}\n--- source ---\n{item.source}"


def artifacts(items: Sequence[ArtifactInfo]) -> str:
    lines = [f"- {a.name} ({a.kind}, {a.size:,} bytes, {a.mime_type}): {a.description}" for a in items]
    return "\n".join(lines) or "no artifacts"


def artifact(data: Any, encoding: str, info: ArtifactInfo) -> str:
    shown = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=1)
    if len(shown) > _ARTIFACT_SHOWN:
        shown = shown[:_ARTIFACT_SHOWN] + f"\n... ({len(shown) - _ARTIFACT_SHOWN:,} more characters)"
    return f"{info.name} ({info.kind}, {encoding}): {info.description}\n{shown}"


def deps(outcome: DepsResult) -> str:
    lines = [
        f"installed: {', '.join(outcome.installed) or 'none'}",
        f"already present: {', '.join(outcome.already_present) or 'none'}",
    ]
    lines += [f"failed: {name}: {outcome.errors.get(name, '')}" for name in outcome.failed]
    return "\n".join(lines)


def removed_deps(outcome: RemoveResult) -> str:
    lines = [
        f"removed: {', '.join(outcome.removed) or 'none'}",
        f"not installed: {', '.join(outcome.not_found) or 'none'}",
        f"removed from requirements.txt: {'yes' if outcome.removed_from_config else 'no'}",
    ]
    lines += [f"failed: {name}: {outcome.errors.get(name, '')}" for name in outcome.failed]
    return "\n".join(lines)


def _score(score: float | None) -> str:
    return "" if score is None else f" [score {score:.2f}]"
