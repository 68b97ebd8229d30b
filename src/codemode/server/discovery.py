"""``search``: one discovery tool over the workspace, answering with the Python to call in run_code.

Code mode keeps tool definitions out of the agent's context: the agent asks what exists
when it needs it, and reads a line of Python per match (a signature and a one-line
description), not a JSON schema.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from codemode.server.context import rendered, state, tool_errors
from codemode.server.toolset import READ, ToolDef
from codemode.tools.registry import ToolInfo
from codemode.worker import signatures
from codemode.worker.signatures import python_name
from codemode.workspace.artifacts import ArtifactInfo
from codemode.workspace.workflows import WorkflowInfo

_DESCRIPTION_CHARS = 100


class Match(BaseModel):
    kind: Literal["tool", "workflow", "artifact"] = Field(description="What was found.")
    name: str = Field(description="Its name.")
    call: str = Field(description="The Python that uses it in run_code.")
    description: str = Field(description="What it is, in one line.")


class SearchResult(BaseModel):
    matches: list[Match] = Field(description="Tools first, then workflows, then artifacts; best first in each.")


@tool_errors
async def search(
    query: Annotated[str, Field(description="Words or intent, e.g. 'fetch a web page'.")],
    ctx: Context,
    limit: Annotated[int, Field(ge=1, le=50, description="Matches per kind.")] = 5,
) -> Annotated[CallToolResult, SearchResult]:
    """Find tools, workflows and artifacts; answers with the Python to call in run_code."""
    workspace = state(ctx).workspace
    tools = await workspace.tools.search(query, limit)
    workflows = await workspace.workflows.search(query, limit)
    artifacts = await workspace.artifacts.search(query, limit)
    found = SearchResult(
        matches=[
            *(match for info in tools for match in tool_matches(info)),
            *(workflow_match(info) for info in workflows),
            *(artifact_match(info) for info in artifacts),
        ]
    )
    text = "\n".join(f"{match.call}  # {match.description}" for match in found.matches) or "nothing found"
    return rendered(found, text)


def tool_matches(info: ToolInfo) -> list[Match]:
    """A line per way to call the tool: itself (a CLI tool's direct call), and each recipe, endpoint or MCP
    server's tool, with the signature the registry writes (the one ``help()`` shows in code)."""
    tool = f"tools.{python_name(info.name)}"
    if not info.available:
        return [Match(kind="tool", name=info.name, call=tool, description=_unavailable(info))]
    matches = []
    if info.signature is not None and not info.callables:
        matches.append(
            Match(kind="tool", name=info.name, call=f"tools.{info.signature}", description=_line(info.description))
        )
    for item in info.callables:
        description = _line(item.description or info.description)
        matches.append(
            Match(
                kind="tool", name=f"{info.name}.{item.name}", call=f"{tool}.{item.signature}", description=description
            )
        )
    if not matches:  # an MCP server whose tools are not listed: its own describe() says what it offers
        matches.append(
            Match(kind="tool", name=info.name, call=f"{tool}.describe()", description=_line(info.description))
        )
    return matches


def workflow_match(info: WorkflowInfo) -> Match:
    """The workflow as code calls it (``workflows.<name>(...)``), its signature written as tools' are."""
    spec = signatures.callable_spec(info.name, info.description, info.input_schema)
    call = f"workflows.{signatures.signature_text(spec, info.name).rsplit(' -> ', 1)[0]}"
    return Match(kind="workflow", name=info.name, call=call, description=_line(info.description))


def artifact_match(info: ArtifactInfo) -> Match:
    description = _line(info.description) or f"{info.kind}, {info.size} bytes"
    return Match(kind="artifact", name=info.name, call=f"artifacts.load({info.name!r})", description=description)


def _line(text: str) -> str:
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= _DESCRIPTION_CHARS else first[: _DESCRIPTION_CHARS - 1] + "…"


def _unavailable(info: ToolInfo) -> str:
    return f"unavailable here: {_line(info.problem or 'unknown reason')}"


DISCOVERY_TOOLS = (ToolDef(search, title="Search the workspace", annotations=READ),)
