"""MCP tools on the shared workspace: tools, workflows, artifacts and deps.

They need no session: what they read and change is the workspace every session
works on, so a workflow added here is invocable in every session at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from codemode.encoding import from_base64, to_base64
from codemode.errors import DepsError, InvalidArgument
from codemode.server.context import result, state, tool_errors, uv_progress
from codemode.server.settings import ServerSettings
from codemode.server.toolset import DELETE, INSTALL, READ, WRITE, ToolDef
from codemode.tools.registry import ToolInfo, ToolList
from codemode.workspace.artifacts import ArtifactInfo
from codemode.workspace.deps import DepsResult, RemoveResult
from codemode.workspace.workflows import Workflow, WorkflowInfo

Name = Annotated[str, Field(description="A name: letters, digits, '_', '.', '-'; starts with a letter or '_'.")]
ToolQuery = Annotated[
    str,
    Field(
        description="What you need, in a few words, e.g. 'http request' or 'parse json'. Matched against "
        "tool names, descriptions, tags and parameters."
    ),
]
WorkflowQuery = Annotated[
    str,
    Field(
        description="What you need, in a few words, e.g. 'count words'. Matched against workflow names, "
        "descriptions and parameter names."
    ),
]
ToolLimit = Annotated[int, Field(ge=1, le=100, description="Most tools to return, best match first (1-100).")]
WorkflowLimit = Annotated[int, Field(ge=1, le=100, description="Most workflows to return, best match first (1-100).")]
Package = Annotated[str, Field(description="A requirement string, e.g. 'requests' or 'pandas>=2.0'.")]


class ToolSearch(BaseModel):
    tools: list[ToolInfo] = Field(description="The matching tools, best first.")


class WorkflowList(BaseModel):
    workflows: list[WorkflowInfo] = Field(description="The workflows (best first for a search).")


class Removed(BaseModel):
    name: str = Field(description="The name asked for.")
    removed: bool = Field(description="False if there was nothing of that name.")


class ArtifactList(BaseModel):
    artifacts: list[ArtifactInfo] = Field(description="The stored artifacts.")


class ArtifactContent(ArtifactInfo):
    data: Any = Field(description="The data: text, JSON data, or base64 for bytes (see encoding).")
    encoding: Literal["text", "json", "base64"] = Field(
        description="How data is given: 'text', 'json' (JSON data) or 'base64' (bytes)."
    )


class DepsList(BaseModel):
    packages: list[str] = Field(description="Configured packages: requirements.txt plus extra_deps.")
    runtime_changes_allowed: bool = Field(
        description="False if this server does not let code or tools add or remove packages."
    )


@tool_errors
async def list_workflows(ctx: Context) -> Annotated[CallToolResult, WorkflowList]:
    """Saved workflows (name, description, parameters); run one in code with workflows.invoke(name, ...)."""
    listing = WorkflowList(workflows=await state(ctx).workspace.workflows.list())
    return result(listing)


@tool_errors
async def search_workflows(
    query: WorkflowQuery, ctx: Context, limit: WorkflowLimit = 5
) -> Annotated[CallToolResult, WorkflowList]:
    """Find saved workflows by what they do, best match first (name, description, parameters, score)."""
    found = WorkflowList(workflows=await state(ctx).workspace.workflows.search(query, limit))
    return result(found)


@tool_errors
async def get_workflow(name: Name, ctx: Context) -> Annotated[CallToolResult, Workflow]:
    """A saved workflow: its source code, description and parameters (to read or adapt it)."""
    workflow = await state(ctx).workspace.workflows.get(name)
    return result(workflow)


@tool_errors
async def add_workflow(
    name: Name,
    source: Annotated[str, Field(description="Python that defines `async def run(...)` (or `def run`).")],
    ctx: Context,
    description: Annotated[str, Field(description="What it does; else the module docstring.")] = "",
) -> Annotated[CallToolResult, WorkflowInfo]:
    """Save (or replace) a workflow. The source must compile and define run(); a broken one is refused."""
    info = await state(ctx).workspace.workflows.add(name, source, description)
    return result(info)


@tool_errors
async def remove_workflow(name: Name, ctx: Context) -> Annotated[CallToolResult, Removed]:
    """Delete a saved workflow; removed is false when there was none of that name."""
    removed = Removed(name=name, removed=await state(ctx).workspace.workflows.remove(name))
    return result(removed)


WORKFLOW_TOOLS = (
    ToolDef(list_workflows, "List workflows", READ),
    ToolDef(search_workflows, "Search workflows", READ),
    ToolDef(get_workflow, "Get a workflow", READ),
    ToolDef(add_workflow, "Save a workflow", WRITE),
    ToolDef(remove_workflow, "Remove a workflow", DELETE),
)
"""Also registered under py-code-mode's names by ``skill_tools``: one implementation, two names."""


def _check_executor(settings: ServerSettings) -> None:
    if settings.executor != "subprocess":
        raise DepsError("packages can only be installed with the subprocess executor (this server runs in-process)")


def _from_base64(data: Any) -> bytes:
    if not isinstance(data, str):
        raise InvalidArgument("with encoding='base64', data must be a base64 string")
    return from_base64(data, "data is not valid base64")


def _content(payload: bytes, info: ArtifactInfo) -> ArtifactContent:
    if info.kind == "bytes":
        data, encoding = to_base64(payload), "base64"
    elif info.kind == "json":
        import json

        data, encoding = json.loads(payload), "json"
    else:
        data, encoding = payload.decode("utf-8", "replace"), "text"
    return ArtifactContent(**info.model_dump(), data=data, encoding=encoding)  # type: ignore[arg-type]


@tool_errors
async def list_tools(ctx: Context) -> Annotated[CallToolResult, ToolList]:
    """Lists the tools available to code in run_code, not MCP tools: tools/*.yaml and upstream MCP servers.

    Returns each tool with its functions, which code calls as tools.<name>.<function>(...), each with its
    Python signature and JSON schema; MCP servers that cannot be reached (available: false) and tool files
    that failed to load, with the reason.
    """
    listing = await state(ctx).workspace.tools.list()
    return result(listing)


@tool_errors
async def search_tools(query: ToolQuery, ctx: Context, limit: ToolLimit = 10) -> Annotated[CallToolResult, ToolSearch]:
    """Find the tools available to code in run_code (tools/*.yaml, upstream MCP servers) by what they do.

    Returns entries like list_tools', best match first with a relevance score, each function with its Python
    signature instead of a JSON schema; an MCP server's entry holds its tools that matched.
    """
    found = ToolSearch(tools=await state(ctx).workspace.tools.search(query, limit))
    return result(found)


@tool_errors
async def list_artifacts(ctx: Context) -> Annotated[CallToolResult, ArtifactList]:
    """Stored artifacts with description, metadata, size and type. Also readable as resources artifact://{name}."""
    listing = ArtifactList(artifacts=await state(ctx).workspace.artifacts.list())
    return result(listing)


@tool_errors
async def save_artifact(
    name: Name,
    data: Annotated[Any, Field(description="Text, any JSON value, or base64 text with encoding='base64'.")],
    ctx: Context,
    description: Annotated[
        str, Field(description="What the data is, shown in list_artifacts and as the resource's description.")
    ] = "",
    metadata: Annotated[
        dict[str, Any] | None,
        Field(description='Any JSON object kept with the artifact, e.g. {"source": "https://example.org"}.'),
    ] = None,
    encoding: Annotated[
        Literal["json", "base64"], Field(description="'base64': data is base64 of bytes to store.")
    ] = "json",
) -> Annotated[CallToolResult, ArtifactInfo]:
    """Save data under a name (replacing any artifact of that name); code loads it with artifacts.load(name)."""
    value = _from_base64(data) if encoding == "base64" else data
    info = await state(ctx).workspace.artifacts.save(name, value, description, metadata)
    return result(info)


@tool_errors
async def load_artifact(name: Name, ctx: Context) -> Annotated[CallToolResult, ArtifactContent]:
    """An artifact's data (bytes come as base64) and its description and metadata."""
    payload, info = await state(ctx).workspace.artifacts.load_raw(name)
    content = _content(payload, info)
    return result(content)


@tool_errors
async def delete_artifact(name: Name, ctx: Context) -> Annotated[CallToolResult, Removed]:
    """Delete a stored artifact; removed is false when there was none of that name."""
    removed = Removed(name=name, removed=await state(ctx).workspace.artifacts.delete(name))
    return result(removed)


@tool_errors
async def list_deps(ctx: Context) -> Annotated[CallToolResult, DepsList]:
    """Packages configured for the workspace's sessions (requirements.txt and extra deps)."""
    deps = state(ctx).workspace.deps
    listing = DepsList(packages=await deps.list(), runtime_changes_allowed=deps.allow_runtime_deps)
    return result(listing)


@tool_errors
async def sync_deps(ctx: Context) -> Annotated[CallToolResult, DepsResult]:
    """Install every configured package missing from the sessions' venv; returns what was installed or failed."""
    _check_executor(state(ctx).settings)
    outcome = await state(ctx).workspace.deps.sync(uv_progress(ctx))
    return result(outcome, is_error=bool(outcome.failed))


@tool_errors
async def add_dep(package: Package, ctx: Context) -> Annotated[CallToolResult, DepsResult]:
    """Install a package into the sessions' venv and add it to requirements.txt; importable at once."""
    _check_executor(state(ctx).settings)
    outcome = await state(ctx).workspace.deps.add(package, uv_progress(ctx))
    return result(outcome, is_error=bool(outcome.failed))


@tool_errors
async def remove_dep(package: Package, ctx: Context) -> Annotated[CallToolResult, RemoveResult]:
    """Uninstall a package from the sessions' venv and remove it from requirements.txt."""
    _check_executor(state(ctx).settings)
    outcome = await state(ctx).workspace.deps.remove(package)
    return result(outcome, is_error=bool(outcome.failed))


TOOL_TOOLS = (
    ToolDef(list_tools, title="List tools", annotations=READ),
    ToolDef(search_tools, title="Search tools", annotations=READ),
)


ARTIFACT_TOOLS = (
    ToolDef(list_artifacts, title="List artifacts", annotations=READ),
    ToolDef(save_artifact, title="Save an artifact", annotations=WRITE),
    ToolDef(load_artifact, title="Load an artifact", annotations=READ),
    ToolDef(delete_artifact, title="Delete an artifact", annotations=DELETE),
)


DEPS_TOOLS = (
    ToolDef(list_deps, title="List packages", annotations=READ),
    ToolDef(sync_deps, title="Install configured packages", annotations=INSTALL),
)


RUNTIME_DEPS_TOOLS = (
    ToolDef(add_dep, title="Install a package", annotations=INSTALL),
    ToolDef(remove_dep, title="Remove a package", annotations=DELETE),
)
"""Absent with --no-runtime-deps."""
