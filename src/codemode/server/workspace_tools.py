"""MCP tools on the shared workspace: tools, workflows, artifacts and deps.

They need no session: what they read and change is the workspace every session
works on, so a workflow added here is invocable in every session at once.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from codemode.artifacts import ArtifactInfo
from codemode.deps import DepsResult, RemoveResult
from codemode.errors import DepsError, InvalidArgument
from codemode.server import render
from codemode.server.context import result, state, tool_errors
from codemode.server.settings import ServerSettings
from codemode.tools.registry import ToolInfo, ToolList
from codemode.workflows import Workflow, WorkflowInfo

READ = ToolAnnotations(read_only_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)
INSTALL = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)

Name = Annotated[str, Field(description="A name: letters, digits, '_', '.', '-'; starts with a letter or '_'.")]
Query = Annotated[str, Field(description="Words to look for in names, descriptions, tags and parameters.")]
Package = Annotated[str, Field(description="A requirement string, e.g. 'requests' or 'pandas>=2.0'.")]


class ToolSearch(BaseModel):
    tools: list[ToolInfo]


class WorkflowList(BaseModel):
    workflows: list[WorkflowInfo]


class Removed(BaseModel):
    name: str
    removed: bool


class ArtifactList(BaseModel):
    artifacts: list[ArtifactInfo]


class ArtifactContent(ArtifactInfo):
    data: Any = Field(description="The data: text, JSON data, or base64 for bytes (see encoding).")
    encoding: Literal["text", "json", "base64"]


class DepsList(BaseModel):
    packages: list[str] = Field(description="Configured packages: requirements.txt plus extra_deps.")
    runtime_changes_allowed: bool


def add_workspace_tools(server: MCPServer, settings: ServerSettings) -> None:
    _add_tool_tools(server)
    _add_workflow_tools(server)
    _add_artifact_tools(server)
    _add_deps_tools(server, settings)


def _add_tool_tools(server: MCPServer) -> None:
    @server.tool(title="List tools", annotations=READ)
    @tool_errors
    async def list_tools(ctx: Context) -> Annotated[CallToolResult, ToolList]:
        """The tools code can call as tools.<name>(...), with their recipes; and tool files that failed to load."""
        listing = await state(ctx).workspace.tools.list()
        return result(listing, render.tools(listing.tools, listing.problems))

    @server.tool(title="Search tools", annotations=READ)
    @tool_errors
    async def search_tools(
        query: Query, ctx: Context, limit: Annotated[int, Field(ge=1, le=100)] = 10
    ) -> Annotated[CallToolResult, ToolSearch]:
        """Find tools by what they do (BM25 over names, descriptions, tags and parameters)."""
        found = ToolSearch(tools=await state(ctx).workspace.tools.search(query, limit))
        return result(found, render.tools(found.tools, []))


def _add_workflow_tools(server: MCPServer) -> None:
    @server.tool(title="List workflows", annotations=READ)
    @tool_errors
    async def list_workflows(ctx: Context) -> Annotated[CallToolResult, WorkflowList]:
        """Saved workflows (name, description, parameters); run one in code with workflows.invoke(name, ...)."""
        listing = WorkflowList(workflows=await state(ctx).workspace.workflows.list())
        return result(listing, render.workflows(listing.workflows))

    @server.tool(title="Search workflows", annotations=READ)
    @tool_errors
    async def search_workflows(
        query: Query, ctx: Context, limit: Annotated[int, Field(ge=1, le=100)] = 5
    ) -> Annotated[CallToolResult, WorkflowList]:
        """Find saved workflows by what they do."""
        found = WorkflowList(workflows=await state(ctx).workspace.workflows.search(query, limit))
        return result(found, render.workflows(found.workflows))

    @server.tool(title="Get a workflow", annotations=READ)
    @tool_errors
    async def get_workflow(name: Name, ctx: Context) -> Annotated[CallToolResult, Workflow]:
        """A workflow with its source code and parameters."""
        workflow = await state(ctx).workspace.workflows.get(name)
        return result(workflow, render.workflow(workflow))

    @server.tool(title="Save a workflow", annotations=WRITE)
    @tool_errors
    async def add_workflow(
        name: Name,
        source: Annotated[str, Field(description="Python that defines `async def run(...)` (or `def run`).")],
        ctx: Context,
        description: Annotated[str, Field(description="What it does; else the module docstring.")] = "",
    ) -> Annotated[CallToolResult, WorkflowInfo]:
        """Save (or replace) a workflow. The source must compile and define run(); a broken one is refused."""
        info = await state(ctx).workspace.workflows.add(name, source, description)
        return result(info, f"saved workflow {info.name}: {render.signature(info)}")

    @server.tool(title="Remove a workflow", annotations=DELETE)
    @tool_errors
    async def remove_workflow(name: Name, ctx: Context) -> Annotated[CallToolResult, Removed]:
        """Delete a saved workflow."""
        removed = Removed(name=name, removed=await state(ctx).workspace.workflows.remove(name))
        return result(removed, f"removed workflow {name}" if removed.removed else f"no workflow named {name!r}")


def _add_artifact_tools(server: MCPServer) -> None:
    @server.tool(title="List artifacts", annotations=READ)
    @tool_errors
    async def list_artifacts(ctx: Context) -> Annotated[CallToolResult, ArtifactList]:
        """Stored artifacts with description, metadata, size and type. Also readable as resources artifact://{name}."""
        listing = ArtifactList(artifacts=await state(ctx).workspace.artifacts.list())
        return result(listing, render.artifacts(listing.artifacts))

    @server.tool(title="Save an artifact", annotations=WRITE)
    @tool_errors
    async def save_artifact(
        name: Name,
        data: Annotated[Any, Field(description="Text, any JSON value, or base64 text with encoding='base64'.")],
        ctx: Context,
        description: str = "",
        metadata: dict[str, Any] | None = None,
        encoding: Annotated[
            Literal["json", "base64"], Field(description="'base64': data is base64 of bytes to store.")
        ] = "json",
    ) -> Annotated[CallToolResult, ArtifactInfo]:
        """Save data under a name (replacing any artifact of that name); code loads it with artifacts.load(name)."""
        value = _from_base64(data) if encoding == "base64" else data
        info = await state(ctx).workspace.artifacts.save(name, value, description, metadata)
        return result(info, f"saved artifact {info.name} ({info.kind}, {info.size:,} bytes)")

    @server.tool(title="Load an artifact", annotations=READ)
    @tool_errors
    async def load_artifact(name: Name, ctx: Context) -> Annotated[CallToolResult, ArtifactContent]:
        """An artifact's data (bytes come as base64) and its description and metadata."""
        payload, info = await state(ctx).workspace.artifacts.load_raw(name)
        content = _content(payload, info)
        return result(content, render.artifact(content.data, content.encoding, info))

    @server.tool(title="Delete an artifact", annotations=DELETE)
    @tool_errors
    async def delete_artifact(name: Name, ctx: Context) -> Annotated[CallToolResult, Removed]:
        """Delete a stored artifact."""
        removed = Removed(name=name, removed=await state(ctx).workspace.artifacts.delete(name))
        return result(removed, f"deleted artifact {name}" if removed.removed else f"no artifact named {name!r}")


def _add_deps_tools(server: MCPServer, settings: ServerSettings) -> None:
    @server.tool(title="List packages", annotations=READ)
    @tool_errors
    async def list_deps(ctx: Context) -> Annotated[CallToolResult, DepsList]:
        """Packages configured for the workspace's sessions (requirements.txt and extra deps)."""
        deps = state(ctx).workspace.deps
        listing = DepsList(packages=await deps.list(), runtime_changes_allowed=deps.allow_runtime_deps)
        return result(listing, "configured packages: " + (", ".join(listing.packages) or "none"))

    @server.tool(title="Install configured packages", annotations=INSTALL)
    @tool_errors
    async def sync_deps(ctx: Context) -> Annotated[CallToolResult, DepsResult]:
        """Install every configured package that is missing from the sessions' venv."""
        _check_executor(settings)
        outcome = await state(ctx).workspace.deps.sync()
        return result(outcome, render.deps(outcome), is_error=bool(outcome.failed))

    if not settings.allow_runtime_deps:
        return  # --no-runtime-deps: the tools that change packages do not exist

    @server.tool(title="Install a package", annotations=INSTALL)
    @tool_errors
    async def add_dep(package: Package, ctx: Context) -> Annotated[CallToolResult, DepsResult]:
        """Install a package into the sessions' venv and add it to requirements.txt; importable at once."""
        _check_executor(settings)
        outcome = await state(ctx).workspace.deps.add(package)
        return result(outcome, render.deps(outcome), is_error=bool(outcome.failed))

    @server.tool(title="Remove a package", annotations=DELETE)
    @tool_errors
    async def remove_dep(package: Package, ctx: Context) -> Annotated[CallToolResult, RemoveResult]:
        """Uninstall a package from the sessions' venv and remove it from requirements.txt."""
        _check_executor(settings)
        outcome = await state(ctx).workspace.deps.remove(package)
        return result(outcome, render.removed_deps(outcome), is_error=bool(outcome.failed))


def _check_executor(settings: ServerSettings) -> None:
    if settings.executor != "subprocess":
        raise DepsError("packages can only be installed with the subprocess executor (this server runs in-process)")


def _from_base64(data: Any) -> bytes:
    if not isinstance(data, str):
        raise InvalidArgument("with encoding='base64', data must be a base64 string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("data is not valid base64") from None


def _content(payload: bytes, info: ArtifactInfo) -> ArtifactContent:
    if info.kind == "bytes":
        data, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    elif info.kind == "json":
        import json

        data, encoding = json.loads(payload), "json"
    else:
        data, encoding = payload.decode("utf-8", "replace"), "text"
    return ArtifactContent(**info.model_dump(), data=data, encoding=encoding)  # type: ignore[arg-type]
