"""The MCP tools as data: each one a handler, a title and hints; :func:`add_tools` registers a set of them.

A handler is a module-level async function named after its tool and documented by its
docstring (the tool's description); its parameters are the tool's input schema. Which
tools a server offers is a choice among these definitions, made in one place (``app``).
"""

from __future__ import annotations

import functools
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
    structured_output: bool | None = None
    """False: text content only (py-code-mode's answers); None: structured when the handler says how."""

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
            structured_output=tool.structured_output,
        )


def without_parameters(handler: Callable[..., Awaitable[Any]], *names: str) -> Callable[..., Awaitable[Any]]:
    """``handler`` with ``names`` left out of its signature, so they are not in the tool's input schema either.

    Each parameter left out must have a default, which every call then gets.
    """
    signature = inspect.signature(handler, eval_str=True)
    kept = [parameter for parameter in signature.parameters.values() if parameter.name not in names]

    @functools.wraps(handler)
    async def narrowed(**arguments: Any) -> Any:
        return await handler(**arguments)

    narrowed.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    return narrowed


def compact_schema(schema: Any, *, optional_nulls: bool = True) -> Any:
    """A JSON schema without what a model does not need: titles, and (``optional_nulls``) ``null`` as an
    alternative of a parameter that may simply be left out.

    Every byte of an input schema is read by the agent on every turn. Arguments are still validated
    against the handler's full signature, which accepts null wherever it did.
    """
    if isinstance(schema, list):
        return [compact_schema(item, optional_nulls=optional_nulls) for item in schema]
    if not isinstance(schema, dict):
        return schema
    compacted = {key: value for key, value in schema.items() if key != "title"}
    if "properties" in compacted:
        required = set(compacted.get("required") or ())
        compacted["properties"] = {
            name: _optional(
                compact_schema(prop, optional_nulls=optional_nulls), optional_nulls and name not in required
            )
            for name, prop in compacted["properties"].items()
        }
    for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties", "$defs", "prefixItems"):
        if key in compacted:
            value = compacted[key]
            if key == "$defs":
                compacted[key] = {
                    name: compact_schema(item, optional_nulls=optional_nulls) for name, item in value.items()
                }
            else:
                compacted[key] = compact_schema(value, optional_nulls=optional_nulls)
    return compacted


def _optional(prop: Any, may_drop_null: bool) -> Any:
    """``{"anyOf": [X, {"type": "null"}], "default": null}`` as X: leaving the parameter out means null."""
    if not (may_drop_null and isinstance(prop, dict) and prop.get("default", ...) is None):
        return prop
    alternatives = [item for item in prop.get("anyOf", ()) if item != {"type": "null"}]
    if "anyOf" not in prop or len(alternatives) != 1:
        return prop
    rest = {key: value for key, value in prop.items() if key not in ("anyOf", "default")}
    return {**alternatives[0], **rest}
