"""Profiles of the MCP surface: what each offers, what it costs the agent, and that nothing is lost."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from codemode.errors import InvalidArgument
from codemode.server import ServerSettings, create_server
from codemode.server.app import INSTRUCTIONS
from codemode.server.profiles import offered_tools, tool_names
from tests.server.conftest import call, server_command, text_of

pytestmark = pytest.mark.anyio

EXAMPLE_TOOLS = Path(__file__).resolve().parents[2] / "tools"
CODE_BUDGET = 2000
"""Bytes of model-visible definitions (name, description, input schema) of the code profile over stdio."""
HTTP_HANDLES_BUDGET = 1000
INSTRUCTIONS_BUDGET = 800
PY_CODE_MODE_TOOLS = [
    "run_code",
    "list_tools",
    "search_tools",
    "list_workflows",
    "search_workflows",
    "list_artifacts",
    "create_workflow",
    "delete_workflow",
    "list_deps",
    "add_dep",
    "remove_dep",
]


def model_visible_bytes(tools: list) -> int:
    rows = [{"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in tools]
    return len(json.dumps(rows, separators=(",", ":")))


async def listed(workspace: Path, **settings: object) -> list:
    async with Client(create_server(ServerSettings(base=workspace, eager_start=False, **settings))) as client:
        return (await client.list_tools()).tools


@pytest.fixture
async def code_client(workspace: Path) -> AsyncIterator[Client]:
    async with Client(create_server(ServerSettings(base=workspace, timeout=20, mcp_tools="code"))) as client:
        yield client


async def test_the_code_profile_is_two_tools_within_the_budget_over_stdio(workspace: Path):
    tools = await listed(workspace, mcp_tools="code")
    assert [tool.name for tool in tools] == ["run_code", "search"]
    assert model_visible_bytes(tools) <= CODE_BUDGET
    assert "session_id" not in tools[0].input_schema["properties"]  # one session over stdio


async def test_over_http_the_session_handles_add_at_most_their_budget(workspace: Path):
    stdio = await listed(workspace, mcp_tools="code")
    http = await listed(workspace, mcp_tools="code", transport="http")
    assert [tool.name for tool in http] == ["run_code", "search", "open_session", "close_session"]
    assert "session_id" in http[0].input_schema["properties"]
    assert model_visible_bytes(http) - model_visible_bytes(stdio) <= HTTP_HANDLES_BUDGET


def test_the_server_instructions_fit_their_budget():
    assert len(INSTRUCTIONS.encode()) <= INSTRUCTIONS_BUDGET


def test_the_command_line_defaults_to_the_code_profile(monkeypatch: pytest.MonkeyPatch):
    from codemode.server.arguments import settings_from_args
    from codemode.server.flags import build_parser

    monkeypatch.delenv("CODEMODE_MCP_TOOLS", raising=False)
    assert settings_from_args(build_parser().parse_args([])).mcp_tools == "code"


async def test_the_py_code_mode_profile_offers_exactly_its_tools(workspace: Path):
    assert [tool.name for tool in await listed(workspace, mcp_tools="py-code-mode")] == PY_CODE_MODE_TOOLS
    without_deps = await listed(workspace, mcp_tools="py-code-mode", allow_runtime_deps=False)
    assert [tool.name for tool in without_deps] == [n for n in PY_CODE_MODE_TOOLS if n not in ("add_dep", "remove_dep")]


async def test_the_py_code_mode_profile_answers_with_its_text(workspace: Path):
    settings = ServerSettings(base=workspace, timeout=20, mcp_tools="py-code-mode")
    async with Client(create_server(settings)) as client:
        ran = await client.call_tool("run_code", {"code": "print('hi'); 6 * 7"})
        assert text_of(ran) == "42\n\nStdout:\nhi\n"
        failed = await client.call_tool("run_code", {"code": "1/0"})
        assert text_of(failed) == "Error: ZeroDivisionError: division by zero"
        deps = await client.call_tool("list_deps", {})
        assert json.loads(text_of(deps)) == []
        assert deps.structured_content is None  # text results, as py-code-mode gives them


async def test_full_offers_every_tool_and_enable_disable_adjust_a_profile(workspace: Path):
    full = [tool.name for tool in await listed(workspace, mcp_tools="full")]
    assert sorted(full) == tool_names()
    adjusted = await listed(workspace, mcp_tools="code", enable_tools=["save_artifact"], disable_tools=["search"])
    assert [tool.name for tool in adjusted] == ["run_code", "save_artifact"]


def test_an_unknown_tool_name_is_refused_with_the_names_there_are(workspace: Path):
    with pytest.raises(InvalidArgument, match="unknown MCP tool 'save_everything': the tools are .*run_code"):
        offered_tools(ServerSettings(base=workspace, mcp_tools="code", enable_tools=["save_everything"]))


async def test_run_code_answers_with_the_output_and_the_value_only(code_client: Client):
    assert text_of(await code_client.call_tool("run_code", {"code": "x = 41"})) == "[no output]"
    assert text_of(await code_client.call_tool("run_code", {"code": "print('hi'); x + 1"})) == "hi\n[value] 42"
    assert text_of(await code_client.call_tool("run_code", {"code": "x"})) == "41"
    failed = await code_client.call_tool("run_code", {"code": "x.nope"})
    assert failed.is_error and text_of(failed).endswith("AttributeError: 'int' object has no attribute 'nope'")
    assert text_of(failed).count("AttributeError") == 1  # the error once: no header repeating it


async def test_search_answers_with_the_python_to_call(code_client: Client, workspace: Path):
    (workspace / "tools").mkdir()
    shutil.copy(EXAMPLE_TOOLS / "curl.yaml", workspace / "tools")
    await code_client.call_tool("run_code", {"code": "artifacts.save('prices', {'a': 1}, description='price list')"})
    found = await code_client.call_tool("search", {"query": "price list"})
    assert "artifacts.load('prices')  # price list" in text_of(found)
    tools = text_of(await code_client.call_tool("search", {"query": "GET a URL"}))
    assert "tools.curl.get(url: str, *, max_time: int = 30) -> str  # GET a URL and return the body" in tools


async def test_code_reaches_its_session_labels_history_and_info(code_client: Client):
    ran = await code_client.call_tool("run_code", {"code": "session.set_labels({'team': 'a'}); session.labels()"})
    assert text_of(ran) == "{'team': 'a'}"
    history = await code_client.call_tool("run_code", {"code": "[entry['code'] for entry in session.history()]"})
    assert "session.set_labels" in text_of(history)
    assert text_of(await code_client.call_tool("run_code", {"code": "session.info()['labels']"})) == "{'team': 'a'}"


async def test_a_snapshot_from_code_is_taken_when_the_run_ends_and_restores(code_client: Client):
    taken = await code_client.call_tool("run_code", {"code": "x = 1; sid = session.snapshot(); x = 2; sid"})
    assert "[note] snapshot" in text_of(taken) and "saved" in text_of(taken)
    restored = await code_client.call_tool("run_code", {"code": "x = 3; session.restore(sid)"})
    assert "restored" in text_of(restored)
    assert text_of(await code_client.call_tool("run_code", {"code": "x"})) == "2"  # as the run ended


async def test_a_restore_of_an_unknown_snapshot_fails_at_once(code_client: Client):
    failed = await code_client.call_tool("run_code", {"code": "session.restore('0' * 32)"})
    assert failed.is_error and "SnapshotNotFound" in text_of(failed)


async def test_a_reset_from_code_clears_the_variables_after_the_run(code_client: Client):
    reset = await code_client.call_tool("run_code", {"code": "y = 1; session.reset(); y"})
    assert text_of(reset) == "1\n[note] session reset: the variables are cleared"
    assert (await code_client.call_tool("run_code", {"code": "y"})).is_error


async def test_code_forks_its_session_and_lists_its_sessions(code_client: Client):
    forked = await code_client.call_tool("run_code", {"code": "z = 7; session.fork('copy')"})
    assert "forked into session 'copy'" in text_of(forked)
    names = await code_client.call_tool("run_code", {"code": "sorted(str(s['name']) for s in session.list())"})
    assert text_of(names) == "['None', 'copy']"
    exported = await code_client.call_tool("run_code", {"code": "session.export('copy')['name']"})
    assert text_of(exported) == "'copy'"


async def test_a_session_cannot_export_itself_while_it_runs(code_client: Client):
    refused = await code_client.call_tool("run_code", {"code": "session.export()"})
    assert refused.is_error and "session.fork(name)" in text_of(refused)


async def test_every_full_tool_has_a_way_from_code_documented(code_client: Client):
    described = text_of(await code_client.call_tool("run_code", {"code": "repr(session)"}))
    for method in ("snapshot()", "restore(id)", "reset(", "history(", "labels()", "list()", "fork(", "export("):
        assert method in described
    full = await call(code_client, "run_code", code="help(session)")  # help() works on the namespace
    assert full["stdout"].count("def ") == 0 and "snapshot(self)" in full["stdout"]


def test_the_command_line_refuses_an_unknown_tool_name_before_it_starts(workspace: Path):
    command = [sys.executable, "-m", "codemode", "--base", str(workspace), "--disable-tool", "nope"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "unknown MCP tool 'nope': the tools are" in done.stderr


def test_py_code_mode_executors_that_do_not_exist_here_name_the_sandbox_instead(workspace: Path):
    command = [sys.executable, "-m", "codemode", "--base", str(workspace), "--executor", "container"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "bubblewrap" in done.stderr and "--sandbox bwrap" in done.stderr


async def test_over_http_a_run_in_the_default_session_names_it_and_a_slow_run_its_time(workspace: Path):
    settings = ServerSettings(base=workspace, timeout=20, mcp_tools="code", transport="http", eager_start=False)
    async with Client(create_server(settings)) as client:
        ran = await client.call_tool("run_code", {"code": "import time; time.sleep(1.1); 1"})
        session_id = ran.structured_content["session_id"]  # type: ignore[index]
        assert text_of(ran) == f"1\n[took 1.1 s]\n[session {session_id}]"
        named = await client.call_tool("run_code", {"code": "2", "session_id": session_id})
        assert text_of(named) == "2"  # the caller named it: no need to say it


async def test_the_command_line_serves_the_code_profile_over_stdio(workspace: Path):
    async with Client(server_command(workspace, "--mcp-tools", "code"), mode="legacy") as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["run_code", "search"]
        assert text_of(await client.call_tool("run_code", {"code": "print('hi'); 6 * 7"})) == "hi\n[value] 42"
