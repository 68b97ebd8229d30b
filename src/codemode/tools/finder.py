"""Searching tools: one document per tool, and one per tool of an MCP server, so that a query finds the
upstream tool that does the job (``memory.create_entities`` for "create an entity"), not only its server.

A search's ``limit`` counts matches: a CLI or HTTP tool, or one tool of an MCP server.
They are grouped back into tools, best first; an MCP server's entry carries the tools
of it that matched, each with its signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from codemode.search.index import Document
from codemode.tools import catalog
from codemode.tools.catalog import CallableInfo, ToolInfo

_SEPARATOR = "\x00"  # in a document's key: tool, then callable (neither name can hold it)


def documents(infos: Iterable[ToolInfo]) -> list[Document]:
    found = []
    for info in infos:
        if info.type == "mcp" and info.callables:
            found += [
                Document(f"{info.name}{_SEPARATOR}{item.name}", _callable_fields(info, item)) for item in info.callables
            ]
        else:
            found.append(Document(info.name, _tool_fields(info)))
    return found


def results(ranked: list[tuple[str, float]], infos: dict[str, ToolInfo]) -> list[ToolInfo]:
    """Search entries for ``ranked`` (document keys, best first): one per tool, in the order of its best match."""
    entries: dict[str, tuple[float, list[CallableInfo] | None]] = {}
    for key, score in ranked:
        tool, _, name = key.partition(_SEPARATOR)
        matched = entries.setdefault(tool, (score, [] if name else None))[1]
        if matched is not None:
            matched += [item for item in infos[tool].callables if item.name == name]
    return [catalog.brief(infos[tool], matched, score) for tool, (score, matched) in entries.items()]


def _parameters(*schemas: dict[str, Any] | None) -> str:
    return " ".join(name for schema in schemas for name in (schema or {}).get("properties", {}))


def _tool_fields(info: ToolInfo) -> list[tuple[str, float]]:
    parameters = _parameters(info.input_schema, *(item.input_schema for item in info.callables))
    callables = " ".join(f"{item.name} {item.description}" for item in info.callables)
    return [(info.name, 3.0), (info.description, 1.0), (" ".join(info.tags), 2.0), (callables, 1.0), (parameters, 0.5)]


def _callable_fields(info: ToolInfo, item: CallableInfo) -> list[tuple[str, float]]:
    about = f"{info.description} {' '.join(info.tags)}"
    return [
        (item.name, 3.0),
        (item.description, 1.0),
        (_parameters(item.input_schema), 0.5),
        (info.name, 1.0),
        (about, 0.5),
    ]
