"""The workspace's MCP tools: tools, workflows, artifacts (also as resources) and deps."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from mcp import Client

from codemode.server import ServerSettings, create_server
from tests.server.conftest import server_command, text_of
from tests.tools.test_registry import UPPER, write_tool
from tests.workspace.test_deps import offline_wheels

pytestmark = pytest.mark.anyio

DOUBLE = "async def run(x: int) -> int:\n    return 2 * x\n"


async def test_every_namespace_works_over_stdio(workspace: Path):
    """One pass through tools, workflows, artifacts and deps, with the official client over stdio."""
    write_tool(workspace, "upper.yaml", UPPER)
    async with Client(server_command(workspace), mode="legacy") as client:
        tools = await client.call_tool("list_tools", {})
        assert [tool["name"] for tool in tools.structured_content["tools"]] == ["upper"]  # type: ignore[index]
        added = await client.call_tool("add_workflow", {"name": "double", "source": DOUBLE, "description": "x2"})
        assert not added.is_error, text_of(added)
        run = await client.call_tool(
            "run_code", {"code": "workflows.invoke('double', x=tools.upper.shout(text='a') == 'A')"}
        )
        assert run.structured_content["value"] == 2  # type: ignore[index]
        await client.call_tool("run_code", {"code": "artifacts.save('from_code', {'n': 1})"})
        loaded = await client.call_tool("load_artifact", {"name": "from_code"})
        assert loaded.structured_content["data"] == {"n": 1}  # type: ignore[index]
        deps = await client.call_tool("list_deps", {})
        assert deps.structured_content == {"packages": [], "runtime_changes_allowed": True}


async def test_tool_listing_and_search(client: Client, workspace: Path):
    write_tool(workspace, "upper.yaml", UPPER)
    write_tool(workspace, "broken.yaml", "name: [")
    listing = await client.call_tool("list_tools", {})
    assert listing.structured_content["problems"][0].startswith("broken.yaml")  # type: ignore[index]
    assert json.loads(text_of(listing)) == listing.structured_content
    found = await client.call_tool("search_tools", {"query": "upper case", "limit": 3})
    assert found.structured_content["tools"][0]["name"] == "upper"  # type: ignore[index]
    assert found.structured_content["tools"][0]["score"] > 0  # type: ignore[index]


async def test_workflow_tools_round_trip(client: Client):
    await client.call_tool("add_workflow", {"name": "double", "source": DOUBLE, "description": "Doubles"})
    listed = await client.call_tool("list_workflows", {})
    assert [w["name"] for w in listed.structured_content["workflows"]] == ["double"]  # type: ignore[index]
    assert listed.structured_content["workflows"][0]["params"] == {"x": "int"}  # type: ignore[index]  # py-code-mode's
    got = await client.call_tool("get_workflow", {"name": "double"})
    assert got.structured_content["source"] == DOUBLE  # type: ignore[index]
    assert got.structured_content["parameters"][0]["schema"] == {"type": "integer"}  # type: ignore[index]
    searched = await client.call_tool("search_workflows", {"query": "doubles"})
    assert len(searched.structured_content["workflows"]) == 1  # type: ignore[index]
    removed = await client.call_tool("remove_workflow", {"name": "double"})
    assert removed.structured_content == {"name": "double", "removed": True}


async def test_workflow_errors_are_tool_errors(client: Client):
    broken = await client.call_tool("add_workflow", {"name": "bad", "source": "def run(:\n"})
    assert broken.is_error and "line 1" in text_of(broken)
    bad_name = await client.call_tool("add_workflow", {"name": "../escape", "source": DOUBLE})
    assert bad_name.is_error and "is not allowed" in text_of(bad_name)
    missing = await client.call_tool("get_workflow", {"name": "ghost"})
    assert missing.is_error and "no workflow named 'ghost'" in text_of(missing)


async def test_artifacts_round_trip_with_their_types(client: Client):
    await client.call_tool("save_artifact", {"name": "notes.txt", "data": "hello", "description": "d"})
    await client.call_tool("save_artifact", {"name": "table", "data": {"rows": [1, 2]}, "metadata": {"v": 1}})
    blob = base64.b64encode(b"\x00\xffbin").decode()
    await client.call_tool("save_artifact", {"name": "blob", "data": blob, "encoding": "base64"})
    text = await client.call_tool("load_artifact", {"name": "notes.txt"})
    table = await client.call_tool("load_artifact", {"name": "table"})
    binary = await client.call_tool("load_artifact", {"name": "blob"})
    assert (text.structured_content["data"], text.structured_content["encoding"]) == ("hello", "text")  # type: ignore[index]
    assert table.structured_content["data"] == {"rows": [1, 2]}  # type: ignore[index]
    assert table.structured_content["metadata"] == {"v": 1}  # type: ignore[index]
    assert base64.b64decode(binary.structured_content["data"]) == b"\x00\xffbin"  # type: ignore[index]
    listing = await client.call_tool("list_artifacts", {})
    assert sorted(a["name"] for a in listing.structured_content["artifacts"]) == ["blob", "notes.txt", "table"]  # type: ignore[index]
    deleted = await client.call_tool("delete_artifact", {"name": "blob"})
    assert deleted.structured_content == {"name": "blob", "removed": True}


async def test_bad_artifact_input_is_refused_and_data_is_kept(client: Client):
    await client.call_tool("save_artifact", {"name": "kept", "data": "original"})
    bad_base64 = await client.call_tool("save_artifact", {"name": "kept", "data": "%%%", "encoding": "base64"})
    traversal = await client.call_tool("save_artifact", {"name": "../../etc/passwd", "data": "x"})
    missing = await client.call_tool("load_artifact", {"name": "ghost"})
    assert bad_base64.is_error and "not valid base64" in text_of(bad_base64)
    assert traversal.is_error and "is not allowed" in text_of(traversal)
    assert missing.is_error and "no artifact named 'ghost'" in text_of(missing)
    kept = await client.call_tool("load_artifact", {"name": "kept"})
    assert kept.structured_content["data"] == "original"  # type: ignore[index]


async def test_artifacts_are_resources_with_their_mime_type(client: Client):
    await client.call_tool("save_artifact", {"name": "report.csv", "data": "a,b\n1,2\n"})
    await client.call_tool(
        "save_artifact", {"name": "blob", "data": base64.b64encode(b"\x01").decode(), "encoding": "base64"}
    )
    resources = {str(r.uri): r for r in (await client.list_resources()).resources}
    assert resources["artifact://report.csv"].mime_type == "text/csv"
    assert resources["artifact://blob"].mime_type == "application/octet-stream"
    templates = (await client.list_resource_templates()).resource_templates
    assert any(t.uri_template == "artifact://{name}" for t in templates)
    text = (await client.read_resource("artifact://report.csv")).contents[0]
    assert text.text == "a,b\n1,2\n"  # type: ignore[union-attr]
    blob = (await client.read_resource("artifact://blob")).contents[0]
    assert base64.b64decode(blob.blob) == b"\x01"  # type: ignore[union-attr]


async def test_deps_tools_install_a_local_wheel(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    offline_wheels(tmp_path / "wheels", monkeypatch, ("tinypkg", "1.0.0", "VALUE = 7\n"))
    async with Client(create_server(ServerSettings(base=workspace))) as client:
        added = await client.call_tool("add_dep", {"package": "tinypkg"})
        assert added.structured_content["installed"] == ["tinypkg"]  # type: ignore[index]
        assert (await client.call_tool("run_code", {"code": "import tinypkg\ntinypkg.VALUE"})).structured_content[
            "value"
        ] == 7  # type: ignore[index]
        synced = await client.call_tool("sync_deps", {})
        assert synced.structured_content["already_present"] == ["tinypkg"]  # type: ignore[index]
        refused = await client.call_tool("add_dep", {"package": "-e ."})
        assert refused.is_error and "is an option" in text_of(refused)
        empty = await client.call_tool("add_dep", {"package": ""})  # py-code-mode answers {"error": ...}
        assert empty.is_error and "a package spec is a requirement string" in text_of(empty)
        removed = await client.call_tool("remove_dep", {"package": "tinypkg"})
        assert removed.structured_content["removed_from_config"] is True  # type: ignore[index]


async def test_no_runtime_deps_hides_the_tools_that_change_packages(workspace: Path):
    async with Client(create_server(ServerSettings(base=workspace, allow_runtime_deps=False))) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"list_deps", "sync_deps"} <= names
        assert not {"add_dep", "remove_dep"} & names
        result = await client.call_tool("run_code", {"code": "deps.add('x')"})
        assert result.structured_content["error_info"]["type"] == "RuntimeDepsDisabled"  # type: ignore[index]


async def test_the_tool_names_are_the_contract(client: Client):
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == {
        "run_code", "reset_session", "session_info", "open_session", "close_session", "list_sessions",
        "search", "list_tools", "search_tools",
        "list_workflows", "search_workflows", "get_workflow", "add_workflow", "remove_workflow",
        "list_skills", "search_skills", "get_skill", "create_skill", "delete_skill",
        "list_artifacts", "save_artifact", "load_artifact", "delete_artifact",
        "list_deps", "add_dep", "remove_dep", "sync_deps",
        "set_labels", "get_labels", "get_history", "fork_session", "export_session", "import_session",
        "delete_session",
        "snapshot_session", "restore_session", "list_snapshots", "delete_snapshot",
        "run_command", "read_file", "write_file", "list_files", "delete_file",
    }  # fmt: skip


async def test_every_tool_but_run_code_answers_its_structured_content_as_compact_json(client: Client):
    calls = {
        "save_artifact": {"name": "notes", "data": {"k": [1, 2]}, "description": "d"},
        "load_artifact": {"name": "notes"},
        "list_artifacts": {},
        "add_workflow": {"name": "w", "source": "def run():\n    return 1\n"},
        "get_workflow": {"name": "w"},
        "list_workflows": {},
        "search_workflows": {"query": "w"},
        "remove_workflow": {"name": "w"},
        "list_tools": {},
        "search_tools": {"query": "anything"},
        "list_deps": {},
        "session_info": {},
        "delete_artifact": {"name": "notes"},
    }
    for name, arguments in calls.items():
        answer = await client.call_tool(name, arguments)
        assert not answer.is_error, (name, text_of(answer))
        assert text_of(answer) == json.dumps(answer.structured_content, ensure_ascii=False, separators=(",", ":"))


async def test_run_code_text_carries_the_output_then_the_error_once(client: Client):
    answer = await client.call_tool("run_code", {"code": "print('out')\nx = 1\nraise ValueError('bad input')"})
    text = text_of(answer)
    assert text.startswith("out\nTraceback") and text.endswith("ValueError: bad input") and "line 3" in text
    assert text.count("ValueError: bad input") == 1 and "session" not in text  # one session over stdio: no id
    assert answer.structured_content["error"] == "ValueError: bad input"  # type: ignore[index]
    value = await client.call_tool("run_code", {"code": "(1, 'a')"})
    assert text_of(value) == "(1, 'a')"
