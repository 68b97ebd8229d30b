"""The MCP tools as data: each one a handler, a title and hints; :func:`add_tools` registers a set of them.

A handler is a module-level async function named after its tool and documented by its
docstring (the tool's description); its parameters are the tool's input schema. Which
tools a server offers is a choice among these definitions, made in one place (``app``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

READ = ToolAnnotations(read_only_hint=True)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
"""Adds or changes something, overwriting nothing of the caller's."""
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
DESTROY = ToolAnnotations(read_only_hint=False, destructive_hint=True)
DELETE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)
INSTALL = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


@dataclass(frozen=True)
class ToolDef:
    """One MCP tool: its handler, title and hints; ``name`` and ``description`` default to the handler's."""

    handler: Callable[..., Awaitable[Any]]
    title: str
    annotations: ToolAnnotations
    name: str | None = None
    description: str | None = None

    @property
    def tool_name(self) -> str:
        return self.name or self.handler.__name__

    def described(self) -> str:
        """The description the model reads: the given one, else the handler's docstring, unindented."""
        return self.description if self.description is not None else inspect.cleandoc(self.handler.__doc__ or "")


def add_tools(server: MCPServer, tools: Iterable[ToolDef]) -> None:
    for tool in tools:
        server.add_tool(
            tool.handler,
            name=tool.tool_name,
            title=tool.title,
            description=tool.described(),
            annotations=tool.annotations,
        )
