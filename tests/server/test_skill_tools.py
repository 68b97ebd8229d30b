"""py-code-mode-mcp's skill tools (list/search/get/create/delete_skill): the workflow tools under its names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.server.conftest import call, refused, text_of

pytestmark = pytest.mark.anyio

TRIPLE = "async def run(n: int) -> int:\n    return 3 * n\n"
SKILL_TO_WORKFLOW = {
    "list_skills": "list_workflows",
    "search_skills": "search_workflows",
    "get_skill": "get_workflow",
    "create_skill": "add_workflow",
    "delete_skill": "remove_workflow",
}


async def test_a_created_skill_is_found_listed_shown_and_is_a_workflow(client: Client):
    created = await call(client, "create_skill", name="triple", source=TRIPLE, description="Triple a number")
    assert (created["name"], created["description"]) == ("triple", "Triple a number")
    found = await call(client, "search_skills", query="triple a number", limit=5)
    assert [skill["name"] for skill in found["workflows"]] == ["triple"]
    assert [skill["name"] for skill in (await call(client, "list_skills"))["workflows"]] == ["triple"]
    assert (await call(client, "get_skill", name="triple"))["source"] == TRIPLE
    assert [w["name"] for w in (await call(client, "list_workflows"))["workflows"]] == ["triple"]
    assert (await call(client, "run_code", code="skills.invoke('triple', n=14)"))["value"] == 42


async def test_delete_skill_removes_it(client: Client):
    await call(client, "create_skill", name="temp", source=TRIPLE, description="Temporary")
    assert await call(client, "delete_skill", name="temp") == {"name": "temp", "removed": True}
    assert (await call(client, "list_skills"))["workflows"] == []
    assert (await call(client, "list_workflows"))["workflows"] == []


async def test_bad_source_is_refused_and_the_stored_skill_kept(client: Client):
    await call(client, "create_skill", name="triple", source=TRIPLE, description="Triple a number")
    assert "line 1" in await refused(client, "create_skill", name="triple", source="def run(:\n", description="x")
    no_run = await refused(client, "create_skill", name="triple", source="x = 1\n", description="x")
    assert "must define a top-level `async def run(...)`" in no_run
    assert (await call(client, "get_skill", name="triple"))["source"] == TRIPLE


async def test_bad_and_unknown_names(client: Client):
    assert "is not allowed" in await refused(client, "create_skill", name="../escape", source=TRIPLE, description="")
    assert "is not allowed" in await refused(client, "get_skill", name="../escape")
    assert "no workflow named 'ghost'" in await refused(client, "get_skill", name="ghost")
    assert await call(client, "delete_skill", name="ghost") == {"name": "ghost", "removed": False}


async def test_skill_tools_answer_exactly_as_their_workflow_tools(client: Client):
    await call(client, "create_skill", name="triple", source=TRIPLE, description="Triple a number")
    for skill, arguments in {
        "list_skills": {},
        "search_skills": {"query": "triple"},
        "get_skill": {"name": "triple"},
    }.items():
        as_skill = await client.call_tool(skill, arguments)
        as_workflow = await client.call_tool(SKILL_TO_WORKFLOW[skill], arguments)
        assert as_skill.structured_content == as_workflow.structured_content, skill
        assert text_of(as_skill) == json.dumps(as_skill.structured_content, ensure_ascii=False, separators=(",", ":"))


async def test_skill_tools_take_py_code_mode_argument_names_and_the_workflow_tools_schemas(client: Client):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools["create_skill"].input_schema["properties"]) == {"name", "source", "description"}
    assert set(tools["search_skills"].input_schema["properties"]) == {"query", "limit"}
    assert tools["search_skills"].input_schema["properties"]["limit"]["default"] == 5
    assert set(tools["delete_skill"].input_schema["properties"]) == {"name"}
    for skill, workflow in SKILL_TO_WORKFLOW.items():
        assert tools[skill].input_schema == tools[workflow].input_schema, skill
        assert tools[skill].output_schema == tools[workflow].output_schema, skill
        assert tools[skill].annotations == tools[workflow].annotations, skill
        assert f"The py-code-mode name of {workflow}:" in (tools[skill].description or ""), skill


DOUBLE = '''"""Double a number."""


async def run(n: int) -> int:
    return n * 2
'''
QUADRUPLE = "async def run(n: int) -> int:\n    return skills.invoke('double', n=skills.invoke('double', n=n))\n"


async def test_a_py_code_mode_command_line_and_skills_folder_are_seen_by_the_skill_tools(tmp_path: Path):
    storage, tools = tmp_path / "storage", tmp_path / "tools"
    (storage / "skills").mkdir(parents=True)
    (storage / "skills" / "double.py").write_text(DOUBLE)
    tools.mkdir()
    flags = ["--storage", str(storage), "--tools", str(tools), "--no-sync-deps"]
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "codemode", *flags, "--log-level", "WARNING", "--mcp-tools", "full"],
        cwd=str(tmp_path),
    )
    async with Client(command, mode="legacy") as client:
        listed = json.loads(text_of(await client.call_tool("list_skills", {})))
        assert [(s["name"], s["description"]) for s in listed["workflows"]] == [("double", "Double a number.")]
        found = await call(client, "search_skills", query="multiply number", limit=5)
        assert [skill["name"] for skill in found["workflows"]] == ["double"]
        assert (await call(client, "get_skill", name="double"))["source"] == DOUBLE
        await call(client, "create_skill", name="quadruple", source=QUADRUPLE, description="Double twice")
        assert (await call(client, "run_code", code="skills.invoke('quadruple', n=10)"))["value"] == 40
        assert (await call(client, "delete_skill", name="double"))["removed"] is True
    assert not (storage / "skills" / "double.py").exists()
