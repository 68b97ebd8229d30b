"""What the registry says about tools: listings, search entries and Python stubs, each callable with its signature.

A tool's callables (a CLI tool's recipes, an HTTP tool's endpoints, an MCP server's
tools) are described once, as the specs of :mod:`codemode.worker.signatures`; the
``signature`` strings of listings and search results, the stubs of ``tools.describe``
and the worker's ``inspect.Signature`` objects are all made from those specs.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr

from codemode.record import Record
from codemode.tools import cli
from codemode.tools.spec import CliToolSpec, HttpToolSpec, McpToolSpec
from codemode.worker import signatures

if TYPE_CHECKING:  # the MCP types load with the MCP client, when a server is first used
    from mcp_types import Tool

Spec = CliToolSpec | McpToolSpec | HttpToolSpec
CLI_RETURNS = "the command's standard output, as text"
HTTP_RETURNS = "the response body: JSON data, or text"
PROXY_METHODS = {"list", "describe"}
"""What ``tools.<tool>.<x>`` means in code before a function of that name (see ``worker/tool_namespace.py``)."""
MCP_RETURNS = "JSON data parsed from the tool's text, else the text; pictures are shown as pictures of the run"


class CallableInfo(Record):
    """Something a tool offers to call: a recipe, an HTTP endpoint, or an MCP server's tool."""

    name: str = Field(description="Its name: tools.<tool>.<name>(...), or tools.<tool>['<name>'](...) for any name.")
    description: str = Field(default="", description="What it does.")
    signature: str = Field(
        default="", description="How code calls it, as Python: get(url: str, *, max_time: int = 30) -> str."
    )
    input_schema: dict[str, Any] | None = Field(
        default=None,
        description="JSON schema of its keyword arguments (listings; search results give the signature instead).",
    )
    _spec: dict[str, Any] = PrivateAttr(default_factory=dict)


class ToolInfo(Record):
    name: str = Field(description="The tool's name: tools.<name> in run_code.")
    type: Literal["cli", "mcp", "http"] = Field(
        description="'cli' (a command), 'mcp' (an MCP server) or 'http' (an HTTP API)."
    )
    description: str = Field(description="What the tool does.")
    tags: list[str] = Field(description="Words to find it by (search_tools).")
    available: bool = Field(description="False if the tool cannot run here (see problem).")
    problem: str | None = Field(default=None, description="Why it cannot run here, if it cannot.")
    signature: str | None = Field(
        default=None, description="A CLI tool's direct call, tools.<name>(...), as Python (None for other tools)."
    )
    input_schema: dict[str, Any] | None = Field(
        default=None, description="Arguments of a direct call, tools.<name>(...) (CLI tools; not in search results)."
    )
    callables: list[CallableInfo] = Field(
        default_factory=list,
        description="tools.<name>.<callable>(...): recipes, HTTP endpoints or an MCP server's tools "
        "(in search results, an MCP server's matching tools only).",
    )
    score: float | None = Field(
        default=None,
        description=(
            "Search relevance, for search results: with the [semantic] extra, the cosine similarity to the query"
            " plus a keyword bonus (at most 0.1); without it, the BM25 score."
        ),
    )
    _call: dict[str, Any] | None = PrivateAttr(default=None)


class ToolList(Record):
    tools: list[ToolInfo] = Field(description="The tools, by name.")
    problems: list[str] = Field(
        default_factory=list,
        description="Tool files that could not be loaded, and why; and files loaded with warnings (unknown fields).",
    )


def _callable(spec: dict[str, Any], input_schema: dict[str, Any]) -> CallableInfo:
    info = CallableInfo(
        name=spec["name"],
        description=spec["description"],
        signature=signatures.signature_text(spec),
        input_schema=input_schema,
    )
    info._spec = spec
    return info


def cli_info(spec: CliToolSpec) -> ToolInfo:
    program = spec.argv0()[0]
    found = shutil.which(program) is not None
    raw = cli.raw_schema(spec)
    positional = [item.name for item in spec.schema_.positional]
    direct = signatures.callable_spec(
        spec.name, "Run the command itself", raw, positional=positional, false_booleans=True, returns="str"
    )
    direct["returns_doc"] = CLI_RETURNS
    recipes = []
    for name, recipe in spec.recipes.items():
        schema = cli.recipe_schema(spec, recipe)
        recipe_spec = signatures.callable_spec(
            name,
            recipe.description,
            schema,
            positional=[item for item in positional if item in recipe.params],
            false_booleans=True,
            returns="str",
            returns_doc=CLI_RETURNS,
        )
        recipes.append(_callable(recipe_spec, schema))
    info = ToolInfo(
        **_base(spec),
        available=found,
        problem=None if found else f"command {program!r} is not installed (not found on PATH)",
        signature=signatures.signature_text(direct, signatures.python_name(spec.name)),
        input_schema=raw,
        callables=recipes,
    )
    info._call = direct
    return info


def http_info(spec: HttpToolSpec) -> ToolInfo:
    endpoints = []
    for name, endpoint in spec.endpoints.items():
        schema = endpoint.input_schema()
        endpoint_spec = signatures.callable_spec(name, endpoint.description, schema, returns_doc=HTTP_RETURNS)
        endpoints.append(_callable(endpoint_spec, schema))
    return ToolInfo(**_base(spec), available=True, callables=endpoints)


def mcp_info(spec: McpToolSpec, remote: list[Tool] | None, problem: str | None = None) -> ToolInfo:
    """An MCP server's tool: its tools if it was reached (``remote``), else why not (``problem``)."""
    callables = []
    for tool in remote or []:
        returns, returns_doc = _mcp_returns(tool.output_schema)
        description = tool.description or tool.title or ""
        tool_spec = signatures.callable_spec(
            tool.name, description, tool.input_schema, returns=returns, returns_doc=returns_doc
        )
        callables.append(_callable(tool_spec, tool.input_schema))
    return ToolInfo(**_base(spec), available=problem is None, problem=problem, callables=callables)


def _mcp_returns(output_schema: dict[str, Any] | None) -> tuple[Any, str]:
    if not output_schema:
        return "Any", MCP_RETURNS
    properties = output_schema.get("properties")
    if isinstance(properties, dict) and list(properties) == ["result"]:  # the SDK's wrapper of a plain value
        return signatures.annotation(properties["result"], output_schema), "the tool's result"
    return "dict", "the tool's structured result"


def _base(spec: Spec) -> dict[str, Any]:
    return {"name": spec.name, "type": spec.type, "description": spec.description, "tags": spec.tags}


def api(info: ToolInfo) -> dict[str, Any]:
    """What code needs to build a tool's functions: the specs of its direct call and of its callables."""
    return {
        "name": info.name,
        "python": signatures.python_name(info.name),
        "type": info.type,
        "description": info.description,
        "call": info._call,
        "callables": [item._spec for item in info.callables],
    }


def brief(info: ToolInfo, callables: list[CallableInfo] | None = None, score: float | None = None) -> ToolInfo:
    """A search entry: signatures instead of JSON schemas (``callables``: the matching ones, if not all)."""
    chosen = info.callables if callables is None else callables
    short = [item.model_copy(update={"input_schema": None}) for item in chosen]
    return info.model_copy(update={"input_schema": None, "callables": short, "score": score})


def describe(info: ToolInfo) -> str:
    """The tool as Python: a header, then one ``def`` line per function with its one-line doc."""
    python = signatures.python_name(info.name)
    lines = [f"# tools.{python} ({info.type}): {info.description or 'no description'}".rstrip()]
    if not info.available:
        lines.append(f"# unavailable: {info.problem}")
    if info._call is not None:
        lines.append(f"# tools.{python}(...) runs the command; tools.{python}.<name>(...) a recipe")
        lines.append(signatures.stub(info._call, python))
    lines += [_stub(item, python) for item in info.callables]
    if not info.callables and info._call is None and info.available:
        lines.append("# (no functions)")
    return "\n".join(lines)


def _stub(item: CallableInfo, tool: str) -> str:
    stub = signatures.stub(item._spec)
    if item._spec["python"] in PROXY_METHODS or item._spec["python"].startswith("_"):
        # The attribute is the tool's own method (or private): the name in brackets reaches the function.
        reach = f"reach it as tools.{tool}[{item.name!r}]"
        stub += f" ({reach})" if "  # " in stub else f"  # {reach}"
    return stub


def describe_all(infos: list[ToolInfo]) -> str:
    """Every tool in brief: how code reaches it, its functions' names, and what it does."""
    lines = ["# tools.<tool>.<function>(...); tools.describe('<tool>') shows the functions with their signatures"]
    for info in infos:
        python = signatures.python_name(info.name)
        parts = [f"{python}(...)"] if info._call is not None else []
        names = [signatures.python_name(item.name) for item in info.callables]
        if names:
            parts.append(f"{python}.{{{', '.join(names)}}}")
        about = info.description if info.available else f"unavailable: {info.problem}"
        lines.append(f"{', '.join(parts) or python}  # {signatures.first_sentence(about) or info.type}")
    return "\n".join(lines)
