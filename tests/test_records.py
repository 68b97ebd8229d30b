"""What Session returns reads like py-code-mode's dicts, and like models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode import Session
from codemode.workspace.deps import DepsResult, RemoveResult

pytestmark = pytest.mark.anyio

TOOL = "name: echo\ndescription: Print text\ntags: [text]\ncommand: echo\n"
WORKFLOW = 'async def run(name: str, times: int = 1) -> str:\n    """Greet."""\n    return name * times\n'


@pytest.fixture
async def session(workspace: Path) -> AsyncIterator[Session]:
    (workspace / "tools").mkdir()
    (workspace / "tools" / "echo.yaml").write_text(TOOL)
    (workspace / "workflows").mkdir()
    (workspace / "workflows" / "greet.py").write_text(WORKFLOW)
    async with Session.inprocess(workspace) as started:
        yield started


async def test_a_tool_reads_like_a_dict(session: Session):
    (tool,) = await session.list_tools()
    assert (tool["name"], tool["description"], tool["tags"]) == ("echo", "Print text", ["text"])
    assert tool.name == "echo"


async def test_get_with_a_default_and_membership(session: Session):
    (tool,) = await session.list_tools()
    assert tool.get("missing", "fallback") == "fallback"
    assert tool.get("name") == "echo"
    assert "name" in tool and "missing" not in tool


async def test_unknown_keys_raise_key_error(session: Session):
    (tool,) = await session.list_tools()
    with pytest.raises(KeyError):
        tool["missing"]


async def test_iteration_yields_keys_and_dict_copies_it(session: Session):
    (workflow,) = await session.list_workflows()
    assert {"name", "description", "parameters"} <= set(workflow)
    assert "source" not in workflow
    copied = dict(workflow)
    assert copied["name"] == "greet" and copied.keys() == set(workflow.keys())


async def test_nested_items_read_like_dicts_too(session: Session):
    workflow = await session.get_workflow("greet")
    assert workflow is not None
    assert workflow["source"] == WORKFLOW
    assert [(p["name"], p["required"]) for p in workflow["parameters"]] == [("name", True), ("times", False)]
    assert workflow["parameters"][0]["schema"] == {"type": "string"}  # the JSON name of the field


async def test_an_unknown_workflow_is_none(session: Session):
    assert await session.get_workflow("nope") is None


async def test_artifact_info_has_the_seed_fields(session: Session):
    saved = await session.save_artifact("results", {"repos": 42}, description="counts")
    (listed,) = await session.list_artifacts()
    for key in ("name", "path", "description", "metadata", "created_at"):
        assert listed[key] == saved[key]


def test_deps_results_have_the_seed_keys():
    added = DepsResult(installed=["pandas"])
    assert added.get("installed") == ["pandas"] and added["already_present"] == [] and added["failed"] == []
    removed = RemoveResult(removed=["pandas"], removed_from_config=True)
    assert (removed["removed"], removed["not_found"], removed["removed_from_config"]) == (["pandas"], [], True)


async def test_records_still_compare_and_dump_as_models(session: Session):
    first, second = await session.list_tools(), await session.list_tools()
    assert first == second
    assert first[0].model_dump()["name"] == "echo"
