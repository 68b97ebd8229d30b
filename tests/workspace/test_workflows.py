"""Workflows: stored as Python files, checked on add, invoked inside the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemode import InvalidArgument, InvalidName, Session
from codemode.storage import FileStorage
from codemode.workspace.workflows import WorkflowStore

pytestmark = pytest.mark.anyio

DOUBLE = '"""Double a number."""\n\nasync def run(x: int, times: int = 2) -> int:\n    return x * times\n'


@pytest.fixture
def store(tmp_path: Path) -> WorkflowStore:
    return WorkflowStore(FileStorage(tmp_path))


async def test_added_workflow_is_a_plain_python_file(store: WorkflowStore, tmp_path: Path):
    await store.add("double", DOUBLE)
    assert (tmp_path / "workflows" / "double.py").read_text() == DOUBLE


async def test_description_is_the_docstring_or_the_one_given(store: WorkflowStore):
    assert (await store.add("double", DOUBLE)).description == "Double a number."
    assert (await store.add("double", DOUBLE, "Multiply")).description == "Multiply"


async def test_parameters_come_from_the_signature(store: WorkflowStore):
    info = await store.add("double", DOUBLE)
    assert [(p.name, p.annotation, p.required, p.default) for p in info.parameters] == [
        ("x", "int", True, None),
        ("times", "int", False, "2"),
    ]
    assert info.input_schema == {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "times": {"type": "integer", "default": 2}},
        "required": ["x"],
    }
    assert info.is_async


async def test_params_name_each_parameters_annotation_as_py_code_mode_does(store: WorkflowStore):
    info = await store.add("greet", "def run(name: str, times=2, *, loud: bool = False):\n    return name\n")
    assert info.params == info["params"] == {"name": "str", "times": "Any", "loud": "bool"}
    assert [p.name for p in info.parameters] == ["name", "times", "loud"]  # the full form stays
    assert [w["params"] for w in [*await store.list(), *await store.search("greet")]] == [info.params] * 2


async def test_params_are_in_listings_through_the_session_and_in_code(session: Session):
    await session.add_workflow("double", DOUBLE)
    expected = {"x": "int", "times": "int"}
    assert [w["params"] for w in await session.list_workflows()] == [expected]
    listed = await session.run("[w['params'] for w in [*skills.list(), *skills.search('double')]]")
    assert listed.value == [expected, expected]


async def test_get_returns_the_source(store: WorkflowStore):
    await store.add("double", DOUBLE)
    assert (await store.get("double")).source == DOUBLE


async def test_a_source_that_does_not_compile_is_refused_with_its_line(store: WorkflowStore):
    with pytest.raises(InvalidArgument, match=r"does not compile: .* \(line 2, column"):
        await store.add("bad", "def run():\n    return (\n")


async def test_a_source_without_run_is_refused(store: WorkflowStore):
    with pytest.raises(InvalidArgument, match="must define a top-level `async def run"):
        await store.add("norun", "def main():\n    pass\n")


async def test_a_broken_source_never_replaces_a_working_one(store: WorkflowStore):
    await store.add("double", DOUBLE)
    with pytest.raises(InvalidArgument):
        await store.add("double", "def run(:\n")
    assert (await store.get("double")).source == DOUBLE


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x" * 200])
async def test_bad_names_are_refused(store: WorkflowStore, name: str):
    with pytest.raises(InvalidName):
        await store.add(name, DOUBLE)


async def test_files_put_there_by_hand_are_listed_and_broken_ones_skipped(store: WorkflowStore, tmp_path: Path):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "hand.py").write_text('"""By hand."""\ndef run(): return 1\n')
    (tmp_path / "workflows" / "broken.py").write_text("def run(:\n")
    (tmp_path / "workflows" / "notes.txt").write_text("not a workflow")
    assert [info.name for info in await store.list()] == ["hand"]


async def test_search_finds_by_description_and_parameters(store: WorkflowStore):
    await store.add("double", DOUBLE)
    await store.add("greet", 'def run(name: str):\n    """Say hello to someone."""\n    return f"hi {name}"\n')
    assert [info.name for info in await store.search("hello")] == ["greet"]
    assert [info.name for info in await store.search("times")] == ["double"]


async def test_remove_reports_whether_it_existed(store: WorkflowStore):
    await store.add("double", DOUBLE)
    assert await store.remove("double") is True
    assert await store.remove("double") is False


# -- in the session ------------------------------------------------------------------


async def test_a_workflow_added_through_the_api_is_invocable_in_code_at_once(session: Session):
    await session.add_workflow("double", DOUBLE)
    assert (await session.run("workflows.invoke('double', x=21)")).value_repr == "42"
    assert (await session.run("workflows.double(x=5, times=3)")).value_repr == "15"


async def test_sync_and_async_workflows_run_and_can_use_the_namespaces(session: Session):
    await session.add_workflow("store", "def run(key, value):\n    artifacts.save(key, value)\n    return 'saved'\n")
    await session.add_workflow("twice", "async def run(x):\n    return workflows.invoke('double', x=x) * 2\n")
    await session.add_workflow("double", DOUBLE)
    assert (await session.run("workflows.invoke('store', key='k', value=[1])")).value_repr == "'saved'"
    assert await session.load_artifact("k") == [1]
    assert (await session.run("workflows.invoke('twice', x=1)")).value_repr == "4"


async def test_workflows_can_be_awaited_from_top_level_await(session: Session):
    await session.add_workflow("double", DOUBLE)
    assert (await session.run("await workflows.ainvoke('double', x=4)")).value_repr == "8"
    assert (
        await session.run("import asyncio\nawait asyncio.sleep(0)\nworkflows.invoke('double', x=1)")
    ).value_repr == "2"


async def test_code_can_create_list_get_and_delete_workflows(session: Session):
    code = (
        "workflows.create('hello', 'def run(who):\\n    return f\"hello {who}\"\\n', 'Greets')\n"
        "result = workflows.invoke('hello', who='you')\n"
        "names = [w['name'] for w in workflows.list()]\n"
        "source = workflows.get('hello')['source']\n"
        "gone = workflows.delete('hello')\n"
        "(result, names, 'def run' in source, gone, workflows.get('hello'))"
    )
    assert (await session.run(code)).value_repr == "('hello you', ['hello'], True, True, None)"


async def test_errors_in_workflows_show_the_workflow_in_the_traceback(session: Session):
    await session.add_workflow("broken", "def run():\n    return 1 / 0\n")
    result = await session.run("workflows.invoke('broken')")
    assert result.error_info is not None and result.error_info.type == "ZeroDivisionError"
    assert "<workflow broken>" in result.error_info.traceback
    missing = await session.run("workflows.invoke('missing')")
    assert missing.error_info is not None and "no workflow named 'missing'" in missing.error_info.message


async def test_session_api_matches_the_seed(session: Session):
    await session.add_workflow("double", DOUBLE, "Doubles")
    assert [w.name for w in await session.list_workflows()] == ["double"]
    assert (await session.get_workflow("double")).description == "Doubles"  # type: ignore[union-attr]
    assert await session.get_workflow("nope") is None
    assert [w.name for w in await session.search_workflows("doubles")] == ["double"]
    assert await session.remove_workflow("double") is True
