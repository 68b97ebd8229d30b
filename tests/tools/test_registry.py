"""Tools of a workspace: loading, listing, searching, calling from code; CLI, HTTP and MCP."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codemode import Session
from tests.tools.conftest import MCP_SERVER
from tests.tools.test_spec import PY_CODE_MODE_CURL

pytestmark = pytest.mark.anyio

UPPER = f"""\
name: upper
description: Turn text into upper case
command: ["{sys.executable}", "-c", "import sys; print(sys.stdin.read().upper(), end='')"]
tags: [text, case]
schema:
  stdin: {{name: text}}
recipes:
  shout:
    description: Upper-case a text
    params:
      text: {{}}
"""


def write_tool(workspace: Path, name: str, text: str) -> None:
    (workspace / "tools").mkdir(exist_ok=True)
    (workspace / "tools" / name).write_text(text)


async def test_code_runs_recipes_and_raw_tools(session: Session, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER)
    assert (await session.run("tools.upper.shout(text='hi')")).value_repr == "'HI'"
    assert (await session.run("tools.upper(text='raw')")).value_repr == "'RAW'"
    assert (await session.run("tools['upper']['shout'](text='x')")).value_repr == "'X'"


async def test_code_lists_and_searches_tools(session: Session, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER)
    write_tool(workspace, "curl.yaml", PY_CODE_MODE_CURL)
    assert (await session.run("[t['name'] for t in tools.list()]")).value_repr == "['curl', 'upper']"
    assert (await session.run("[t['name'] for t in tools.search('http requests')]")).value_repr == "['curl']"
    assert (await session.run("[r['name'] for r in tools.curl.list()]")).value_repr == "['get', 'json']"


async def test_search_results_carry_a_score_and_split_identifiers(session: Session, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER.replace("name: upper", "name: upperCase"))
    (found,) = await session.search_tools("case")
    assert found.name == "upperCase" and found.score is not None and found.score > 0


async def test_tool_errors_reach_code_as_exceptions(session: Session, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER)
    result = await session.run("tools.upper.shout(text='x', loud=True)")
    assert result.error_info is not None and result.error_info.type == "InvalidArgument"
    assert "unknown argument" in result.error_info.message
    missing = await session.run("try:\n    tools.nothing()\nexcept LookupError as exc:\n    print(exc)")
    assert "no tool named 'nothing'" in missing.stdout


async def test_bad_files_are_reported_and_the_others_load(session: Session, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER)
    write_tool(workspace, "broken.yaml", "name: [unclosed")
    write_tool(workspace, "odd.yaml", "name: odd\ntype: grpc")
    listing = await session.workspace.tools.list()
    assert [tool.name for tool in listing.tools] == ["upper"]
    assert len(listing.problems) == 2
    assert any(problem.startswith("broken.yaml: not valid YAML") for problem in listing.problems)
    assert any("odd.yaml: field 'type'" in problem for problem in listing.problems)


async def test_a_tool_whose_program_is_missing_is_flagged(session: Session, workspace: Path):
    write_tool(workspace, "ghost.yaml", "name: ghost\ndescription: not installed\ncommand: no-such-program-xyz")
    (tool,) = await session.list_tools()
    assert not tool.available
    assert "not installed" in (tool.problem or "")


async def test_a_second_file_with_the_same_name_is_ignored_with_a_problem(session: Session, workspace: Path):
    write_tool(workspace, "a.yaml", UPPER)
    write_tool(workspace, "b.yaml", UPPER)
    listing = await session.workspace.tools.list()
    assert len(listing.tools) == 1
    assert listing.problems == ["b.yaml: a tool named 'upper' is already defined; this file is ignored"]


async def test_edits_to_tool_files_apply_without_a_restart(session: Session, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER)
    assert (await session.run("tools.upper.shout(text='a')")).value_repr == "'A'"
    write_tool(workspace, "upper.yaml", UPPER.replace(".upper()", ".lower()"))
    assert (await session.run("tools.upper.shout(text='B')")).value_repr == "'b'"


async def test_http_tools_are_called_from_code(session: Session, workspace: Path, api_url: str):
    write_tool(
        workspace,
        "api.yaml",
        f"name: api\ntype: http\nbase_url: {api_url}\nendpoints:\n  repo:\n    path: /repos/{{owner}}/{{repo}}\n",
    )
    result = await session.run("tools.api.repo(owner='me', repo='it')['path']")
    assert result.value_repr == "'/repos/me/it'"


def write_tiny_mcp_tool(workspace: Path, transport: str = "") -> None:
    """The local MCP server of conftest, as tool `tiny` (``transport`` given or left to its default)."""
    server = workspace / "tiny_server.py"
    server.write_text(MCP_SERVER)
    header = f"name: tiny\ntype: mcp\n{transport}"
    write_tool(workspace, "tiny.yaml", f"{header}command: {sys.executable}\nargs: ['{server}']\ndescription: Tiny")


async def test_mcp_server_tools_are_called_from_code_on_one_connection(session: Session, workspace: Path):
    write_tiny_mcp_tool(workspace, "transport: stdio\n")
    assert (await session.run("tools.tiny.add(a=2, b=3)")).value_repr == "5"
    first = (await session.run("tools.tiny.whoami()")).value
    second = (await session.run("tools.tiny.whoami()")).value
    assert first == second  # the server was connected once and kept
    names = (await session.run("sorted(t['name'] for t in tools.tiny.list())")).value_repr
    assert names == "['add', 'fail', 'whoami']"


async def test_mcp_tool_errors_and_unknown_tools_are_clear(session: Session, workspace: Path):
    write_tiny_mcp_tool(workspace)
    failed = await session.run("tools.tiny.fail(message='boom')")
    assert (
        failed.error_info is not None and failed.error_info.type == "ToolFailed" and "boom" in failed.error_info.message
    )
    unknown = await session.run("tools.tiny.nope()")
    assert unknown.error_info is not None and "has no tool 'nope'" in unknown.error_info.message


async def test_an_mcp_server_that_cannot_start_is_a_clear_error(session: Session, workspace: Path):
    write_tool(workspace, "dead.yaml", "name: dead\ntype: mcp\ncommand: no-such-mcp-server\ndescription: x")
    result = await session.run("tools.dead.anything()")
    assert result.error_info is not None
    assert "cannot connect to MCP server 'dead'" in result.error_info.message


async def test_a_hyphenated_tool_is_reached_by_its_name_and_as_an_attribute(session: Session, workspace: Path):
    write_tool(workspace, "shout.yaml", UPPER.replace("name: upper", "name: shout-it"))
    assert (await session.run("tools['shout-it'].shout(text='a')")).value == "A"
    assert (await session.run("tools.shout_it.shout(text='b')")).value == "B"
    assert [tool.name for tool in await session.list_tools()] == ["shout-it"]


async def test_a_hyphenated_mcp_server_is_reached_as_an_attribute(session: Session, workspace: Path):
    write_tiny_mcp_tool(workspace, "transport: stdio\n")
    tiny = workspace / "tools" / "tiny.yaml"
    tiny.write_text(tiny.read_text().replace("name: tiny", "name: my-mcp-server"))
    assert (await session.run("tools.my_mcp_server.add(a=2, b=3)")).value == 5


async def test_unknown_fields_are_listed_among_the_problems(session: Session, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER + "colour: red\n")
    listing = await session.workspace.tools.list()
    assert [tool.name for tool in listing.tools] == ["upper"]
    assert listing.problems == ["upper.yaml: unknown field(s) 'colour' ignored"]


async def test_a_yaml_mcp_servers_tools_are_listed_and_found_by_search(session: Session, workspace: Path):
    write_tiny_mcp_tool(workspace)
    (tiny,) = await session.list_tools()
    assert tiny.available and sorted(item.name for item in tiny.callables) == ["add", "fail", "whoami"]
    (found,) = await session.search_tools("add two numbers", limit=1)
    assert found.name == "tiny" and [item.signature for item in found.callables] == ["add(*, a: int, b: int) -> int"]


async def test_listing_without_connecting_leaves_mcp_servers_alone(session: Session, workspace: Path):
    write_tool(workspace, "dead.yaml", "name: dead\ntype: mcp\ncommand: no-such-mcp-server\ndescription: x")
    (dead,) = (await session.workspace.tools.list(connect=False)).tools
    assert dead.available and dead.callables == []
    (dead,) = (await session.workspace.tools.list()).tools
    assert not dead.available and "cannot connect to MCP server 'dead'" in (dead.problem or "")
