"""The ``py-code-mode`` profile: py-code-mode 0.16's MCP tools, under its names, with its text results.

A client written against py-code-mode-mcp reads text: a listing is a JSON string, run_code's
answer is the value, then ``Stdout:``, or ``Error: ...``. These handlers give it exactly that;
the operations are this server's (the same session, workspace and errors as every profile).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from codemode.models import ExecutionResult
from codemode.server.context import session, state, tool_errors
from codemode.server.toolset import CREATE, DESTROY, INSTALL, READ, ToolDef


def run_code_text(result: ExecutionResult) -> str:
    """py-code-mode's run_code answer: the value, then the output; or the error, then the output."""
    stdout = result.stdout
    if result.error is not None:
        return f"Error: {result.error}" + (f"\n\nStdout:\n{stdout}" if stdout else "")
    output = result.value_repr or ""
    if stdout:
        output = f"{output}\n\nStdout:\n{stdout}" if output else f"Stdout:\n{stdout}"
    return output or "(no output)"


@tool_errors
async def run_code(code: Annotated[str, Field(description="Python source to run.")], ctx: Context) -> str:
    """Execute Python code with access to tools, workflows (skills), artifacts and deps.

    The namespace persists across calls: variables survive between run_code invocations.
    Namespaces: tools.* (tools.list(), tools.<name>.<recipe>(...)), workflows.* (alias skills:
    invoke, search, create, list, get), artifacts.* (save, load), deps.* (add, list, remove).
    """
    return run_code_text(await (await session(ctx, None)).run(code))


@tool_errors
async def list_tools(ctx: Context) -> str:
    """List all available tools with their descriptions and parameters."""
    return _json(list((await state(ctx).workspace.tools.list()).tools))


@tool_errors
async def search_tools(query: str, ctx: Context, limit: int = 10) -> str:
    """Search tools by intent: describe what you want to accomplish, e.g. "make HTTP requests"."""
    return _json(await state(ctx).workspace.tools.search(query, limit))


@tool_errors
async def list_workflows(ctx: Context) -> str:
    """List all available workflows with their descriptions."""
    return _json(await state(ctx).workspace.workflows.list())


@tool_errors
async def search_workflows(query: str, ctx: Context, limit: int = 5) -> str:
    """Search for existing workflows before solving a task from scratch."""
    return _json(await state(ctx).workspace.workflows.search(query, limit))


@tool_errors
async def list_artifacts(ctx: Context) -> str:
    """List all stored artifacts with their metadata."""
    return _json(await state(ctx).workspace.artifacts.list())


@tool_errors
async def create_workflow(name: str, source: str, description: str, ctx: Context) -> str:
    """Create a reusable workflow from Python source defining `async def run(...)` (or `def run`)."""
    return _json(await state(ctx).workspace.workflows.add(name, source, description))


@tool_errors
async def delete_workflow(name: str, ctx: Context) -> str:
    """Delete a workflow by name: true if it was deleted, false if it was not found."""
    return _json(await state(ctx).workspace.workflows.remove(name))


@tool_errors
async def list_deps(ctx: Context) -> str:
    """List all configured dependencies."""
    return _json(await state(ctx).workspace.deps.list())


@tool_errors
async def add_dep(package: str, ctx: Context) -> str:
    """Add and install a dependency, e.g. "pandas>=2.0"."""
    return _json(await (await session(ctx, None)).add_dep(package))


@tool_errors
async def remove_dep(package: str, ctx: Context) -> str:
    """Remove a dependency from the configuration and uninstall it."""
    return _json(await (await session(ctx, None)).remove_dep(package))


def _json(value: Any) -> str:
    """py-code-mode answers with JSON text (its lists are JSON strings, never empty content)."""
    if isinstance(value, list):
        value = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
    elif isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False)


def _text(handler: Any, title: str, annotations: Any) -> ToolDef:
    return ToolDef(handler, title, annotations, structured_output=False)


PY_CODE_MODE_TOOLS = (
    _text(run_code, "Run Python code", CREATE),
    _text(list_tools, "List tools", READ),
    _text(search_tools, "Search tools", READ),
    _text(list_workflows, "List workflows", READ),
    _text(search_workflows, "Search workflows", READ),
    _text(list_artifacts, "List artifacts", READ),
    _text(create_workflow, "Create a workflow", CREATE),
    _text(delete_workflow, "Delete a workflow", DESTROY),
    _text(list_deps, "List dependencies", READ),
    _text(add_dep, "Add a dependency", INSTALL),
    _text(remove_dep, "Remove a dependency", DESTROY),
)
RUNTIME_DEPS_TOOL_NAMES = {"add_dep", "remove_dep"}
"""Absent with --no-runtime-deps, in this profile as in every other."""
