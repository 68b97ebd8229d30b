"""What an agent reads in ``tools/list``: every tool, parameter and result field described, as clean text.

The tools are whatever the server registers, read through the official client, so a tool added
later is checked too.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import Tool

from codemode.server import ServerSettings, create_server

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tools(workspace: Path) -> AsyncIterator[dict[str, Tool]]:
    # Defaults register every optional tool (runtime deps on); no worker is needed to list them.
    async with Client(create_server(ServerSettings(base=workspace, eager_start=False))) as client:
        yield {tool.name: tool for tool in (await client.list_tools()).tools}


_SUBSCHEMAS = ("items", "prefixItems", "additionalProperties", "anyOf", "oneOf", "allOf", "not")


def _parameters(tool: Tool) -> dict[str, dict[str, object]]:
    return tool.input_schema.get("properties", {})


def _fields(schema: object, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named field in ``schema`` with its path: parameters, and the fields of the objects they hold
    (nested properties, array items, unions, ``$defs``)."""
    if isinstance(schema, list):
        for item in schema:
            yield from _fields(item, where)
        return
    if not isinstance(schema, dict):
        return
    for name, field in schema.get("properties", {}).items():
        yield f"{where}.{name}", field
        yield from _fields(field, f"{where}.{name}")
    for name, definition in schema.get("$defs", {}).items():
        yield from _fields(definition, f"{where}.$defs.{name}")
    for keyword in _SUBSCHEMAS:
        yield from _fields(schema.get(keyword), where)


def _all_fields(tools: dict[str, Tool]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The fields of what each tool takes and of what it returns: the agent reads both."""
    for name, tool in tools.items():
        yield from _fields(tool.input_schema, name)
        yield from _fields(tool.output_schema, f"{name}(result)")


def _is_clean(text: str) -> bool:
    """No common docstring indentation, no leading or trailing blank lines, no trailing spaces."""
    return inspect.cleandoc(text) == text and all(line == line.rstrip() for line in text.splitlines())


async def test_every_tool_has_a_description(tools: dict[str, Tool]):
    assert [name for name, tool in tools.items() if not (tool.description or "").strip()] == []


async def test_every_parameter_and_nested_field_has_a_description(tools: dict[str, Tool]):
    fields = list(_all_fields(tools))
    assert any(path.count(".") > 1 for path, _ in fields)  # the walk reaches nested fields
    missing = [path for path, schema in fields if not str(schema.get("description") or "").strip()]
    assert missing == []


async def test_tool_descriptions_carry_no_docstring_indentation(tools: dict[str, Tool]):
    assert [name for name, tool in tools.items() if not _is_clean(tool.description or "")] == []


async def test_parameter_descriptions_carry_no_docstring_indentation(tools: dict[str, Tool]):
    unclean = [path for path, schema in _all_fields(tools) if not _is_clean(str(schema.get("description") or ""))]
    assert unclean == []


async def test_run_code_names_the_predefined_namespaces(tools: dict[str, Tool]):
    description = tools["run_code"].description or ""
    for namespace in ("tools", "workflows", "skills", "artifacts", "deps"):
        assert f"{namespace}." in description or f"`{namespace}`" in description, namespace


async def test_list_tools_says_it_is_not_the_mcp_tool_list(tools: dict[str, Tool]):
    description = tools["list_tools"].description or ""
    assert "run_code" in description and "not MCP tools" in description


async def test_search_workflows_does_not_promise_tags(tools: dict[str, Tool]):
    assert "tag" not in str(_parameters(tools["search_workflows"])["query"]["description"])
