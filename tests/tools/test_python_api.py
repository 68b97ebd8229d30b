"""Tools in code are Python you can read: functions with signatures and docs, stubs, short search results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp_types import Tool

from codemode import Session
from codemode.tools import catalog
from codemode.tools.spec import McpToolSpec
from tests.tools.test_registry import UPPER, write_tool

pytestmark = pytest.mark.anyio

# Prints its arguments as JSON: what the tool was called with.
ECHO = f"""\
name: echo
description: Print the arguments the command gets
command: ["{sys.executable}", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]
schema:
  options:
    max-time: {{type: integer, description: Give up after this many seconds}}
    verbose: {{type: boolean, short: v}}
  positional:
    - {{name: url, type: string, required: true, description: The URL}}
recipes:
  fetch:
    description: Fetch a URL. Quietly.
    params:
      url: {{}}
      max-time: {{default: 30}}
"""


async def value(session: Session, code: str) -> object:
    result = await session.run(code)
    assert result.error_info is None, result.error_info
    return result.value


async def test_a_recipe_is_a_function_with_a_signature_and_a_docstring(session: Session, workspace: Path):
    write_tool(workspace, "echo.yaml", ECHO)
    signature = await value(session, "import inspect\nstr(inspect.signature(tools.echo.fetch))")
    assert signature == "(url: str, *, max_time: int = 30) -> str"
    helped = (await session.run("help(tools.echo.fetch)")).stdout
    assert "fetch(url: str, *, max_time: int = 30) -> str" in helped
    assert "    url (str, required): The URL" in helped
    assert "max_time (int, default 30): Give up after this many seconds (the tool calls it 'max-time')" in helped
    assert "str: the command's standard output, as text" in helped


async def test_the_tool_itself_has_the_signature_of_its_direct_call(session: Session, workspace: Path):
    write_tool(workspace, "echo.yaml", ECHO)
    signature = await value(session, "import inspect\nstr(inspect.signature(tools.echo))")
    assert signature == "(url: str, *, max_time: int | None = None, verbose: bool = False) -> str"


async def test_python_names_and_positions_map_back_to_the_tools_own(session: Session, workspace: Path):
    write_tool(workspace, "echo.yaml", ECHO)
    assert await value(session, "tools.echo.fetch('http://x', max_time=5)") == '["--max-time", "5", "http://x"]\n'
    assert await value(session, "tools.echo('http://y', verbose=True)") == '["-v", "http://y"]\n'
    assert await value(session, "tools.echo['fetch'](url='http://z')") == '["--max-time", "30", "http://z"]\n'


async def test_describe_gives_def_lines_with_one_line_docs(session: Session, workspace: Path):
    write_tool(workspace, "echo.yaml", ECHO)
    write_tool(workspace, "upper.yaml", UPPER)
    described = await session.run("tools.describe('echo')")
    assert described.value_repr == (
        "# tools.echo (cli): Print the arguments the command gets\n"
        "# tools.echo(...) runs the command; tools.echo.<name>(...) a recipe\n"
        "def echo(url: str, *, max_time: int | None = None, verbose: bool = False) -> str:  # Run the command itself\n"
        "def fetch(url: str, *, max_time: int = 30) -> str:  # Fetch a URL"
    )
    assert (await session.run("tools.echo.describe()")).value_repr == described.value_repr
    brief = await session.run("print(tools.describe())")
    assert brief.stdout.splitlines()[1:] == [
        "echo(...), echo.{fetch}  # Print the arguments the command gets",
        "upper(...), upper.{shout}  # Turn text into upper case",
    ]


async def test_http_endpoints_are_keyword_only_functions(session: Session, workspace: Path, api_url: str):
    endpoint = "  issues:\n    path: /repos/{owner}/{repo}/issues\n    description: Issues of a repository\n"
    params = "    params:\n      per-page: {type: integer, default: 30}\n"
    write_tool(workspace, "api.yaml", f"name: api\ntype: http\nbase_url: {api_url}\nendpoints:\n{endpoint}{params}")
    signature = await value(session, "import inspect\nstr(inspect.signature(tools.api.issues))")
    assert signature == "(*, owner: str, repo: str, per_page: int = 30) -> Any"
    called = await value(session, "tools.api.issues(owner='me', repo='it', per_page=5)")
    assert called == {"path": "/repos/me/it/issues", "query": {"per-page": ["5"]}, "auth": None}


async def test_a_changed_tool_file_is_seen_by_the_next_run(session: Session, workspace: Path):
    write_tool(workspace, "echo.yaml", ECHO)
    assert await value(session, "import inspect\nstr(inspect.signature(tools.echo.fetch))") == (
        "(url: str, *, max_time: int = 30) -> str"
    )
    write_tool(workspace, "echo.yaml", ECHO.replace("max-time: {default: 30}", "max-time: {default: 9}"))
    assert await value(session, "str(inspect.signature(tools.echo.fetch))") == "(url: str, *, max_time: int = 9) -> str"


async def test_search_in_code_answers_signatures_not_schemas(session: Session, workspace: Path):
    write_tool(workspace, "echo.yaml", ECHO)
    (found,) = await value(session, "tools.search('print arguments')")  # type: ignore[misc]
    assert found["signature"] == "echo(url: str, *, max_time: int | None = None, verbose: bool = False) -> str"
    assert found["callables"] == [
        {
            "name": "fetch",
            "description": "Fetch a URL. Quietly.",
            "signature": "fetch(url: str, *, max_time: int = 30) -> str",
        }
    ]
    assert "input_schema" not in found
    listed = await value(session, "tools.list()[0]")
    assert listed["input_schema"]["required"] == ["url"]  # type: ignore[index]  # the listing keeps the schema
    assert listed["callables"][0]["signature"] == "fetch(url: str, *, max_time: int = 30) -> str"  # type: ignore[index]


async def test_a_tool_shows_its_functions(session: Session, workspace: Path):
    write_tool(workspace, "echo.yaml", ECHO)
    assert (await session.run("tools.echo")).value_repr == "<tool echo: fetch; help(tools.echo.<name>), or .describe()>"
    assert await value(session, "dir(tools.echo)") == ["describe", "fetch", "list"]
    assert await value(session, "tools.echo.fetch.__name__, tools.echo.fetch.__qualname__") == ("fetch", "echo.fetch")


def test_a_function_whose_name_is_taken_is_described_with_the_way_to_reach_it():
    tools = [Tool(name="list", description="Lists things.", input_schema={"type": "object"})]
    tools.append(Tool(name="2fa", input_schema={"type": "object"}))
    info = catalog.mcp_info(McpToolSpec(name="x", type="mcp", command="c"), tools)
    assert catalog.describe(info).splitlines()[1:] == [
        "def list() -> Any:  # Lists things (reach it as tools.x['list'])",
        "def _2fa() -> Any: ...  # reach it as tools.x['2fa']",
    ]
