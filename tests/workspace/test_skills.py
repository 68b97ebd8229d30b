"""Skills, py-code-mode's name for workflows (seed 000): methods, the namespace, the skills/ folder."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode import Session
from codemode.storage.redis import RedisStorage
from codemode.workspace.workflows import WorkflowStore

pytestmark = pytest.mark.anyio

DOUBLE = 'async def run(x: int) -> int:\n    """Double a number."""\n    return 2 * x\n'
TRIPLE = 'def run(x: int) -> int:\n    """Triple a number."""\n    return 3 * x\n'


@pytest.fixture
async def session(workspace: Path) -> AsyncIterator[Session]:
    async with Session.inprocess(workspace) as started:
        yield started


def _write(workspace: Path, folder: str, name: str, source: str) -> None:
    (workspace / folder).mkdir(exist_ok=True)
    (workspace / folder / f"{name}.py").write_text(source)


async def test_skill_methods_are_the_workflow_methods(session: Session):
    added = await session.add_skill(name="double", source=DOUBLE, description="Double it")
    assert added["name"] == "double"
    assert [s["name"] for s in await session.list_skills()] == ["double"]
    assert [s["name"] for s in await session.search_skills("double")] == ["double"]
    skill = await session.get_skill("double")
    assert skill is not None and skill["source"] == DOUBLE
    assert await session.get_workflow("double") == skill
    assert await session.remove_skill("double") is True
    assert await session.get_skill("double") is None
    assert await session.remove_skill("double") is False


async def test_skills_in_code_is_the_workflows_namespace(session: Session):
    await session.add_skill("double", DOUBLE, "Double it")
    assert (await session.run("skills is workflows")).value is True
    assert (await session.run("skills.invoke('double', x=21)")).value == 42


async def test_the_skills_namespace_survives_a_reset(session: Session):
    await session.reset()
    assert (await session.run("skills is workflows")).value is True


async def test_a_skills_folder_is_read_as_workflows(workspace: Path, session: Session):
    _write(workspace, "skills", "triple", TRIPLE)
    assert [w.name for w in await session.list_workflows()] == ["triple"]
    assert (await session.run("workflows.invoke('triple', x=2)")).value == 6


async def test_private_files_in_the_skills_folder_are_not_skills(workspace: Path, session: Session):
    _write(workspace, "skills", "_helpers", TRIPLE)
    assert await session.list_skills() == []


async def test_both_folders_are_read_together(workspace: Path, session: Session):
    _write(workspace, "skills", "triple", TRIPLE)
    _write(workspace, "workflows", "double", DOUBLE)
    assert [w.name for w in await session.list_workflows()] == ["double", "triple"]


async def test_a_name_in_both_folders_takes_workflows_and_warns(
    workspace: Path, session: Session, caplog: pytest.LogCaptureFixture
):
    _write(workspace, "skills", "calc", TRIPLE)
    _write(workspace, "workflows", "calc", DOUBLE)
    with caplog.at_level(logging.WARNING):
        (listed,) = await session.list_workflows()
    assert listed.description == "Double a number."
    assert (await session.run("workflows.invoke('calc', x=1)")).value == 2
    assert any("workflows/calc.py and skills/calc.py" in record.getMessage() for record in caplog.records)


async def test_removing_a_skill_from_the_skills_folder_deletes_its_file(workspace: Path, session: Session):
    _write(workspace, "skills", "triple", TRIPLE)
    assert await session.remove_skill("triple") is True
    assert not (workspace / "skills" / "triple.py").exists()


async def test_a_workspace_with_only_a_skills_folder_gets_new_skills_there(workspace: Path, session: Session):
    (workspace / "skills").mkdir()
    await session.add_skill("double", DOUBLE, "Double it")
    assert (await session.run(f"skills.create('triple', {TRIPLE!r}, 'Triple it')")).is_ok
    assert sorted(path.name for path in (workspace / "skills").glob("*.py")) == ["double.py", "triple.py"]
    assert not (workspace / "workflows").exists()  # it stays a py-code-mode workspace
    assert [(s["name"], s["description"]) for s in await session.list_skills()] == [
        ("double", "Double it"),
        ("triple", "Triple it"),
    ]
    assert (await session.get_skill("double"))["description"] == "Double it"  # type: ignore[index]
    assert await session.remove_skill("double") is True
    assert sorted(path.name for path in (workspace / "skills").rglob("*")) == [".meta", "triple.json", "triple.py"]


async def test_a_private_name_goes_to_workflows_even_in_a_skills_only_workspace(workspace: Path, session: Session):
    (workspace / "skills").mkdir()  # py-code-mode skips skills/_*.py: a workflow saved there would vanish
    await session.add_skill("_helper", DOUBLE, "A helper")
    assert (workspace / "workflows" / "_helper.py").is_file()
    assert (await session.get_skill("_helper"))["description"] == "A helper"  # type: ignore[index]


@pytest.mark.parametrize("folders", [(), ("workflows",), ("workflows", "skills")])
async def test_other_workspaces_get_new_workflows_in_the_workflows_folder(
    workspace: Path, session: Session, folders: tuple[str, ...]
):
    for folder in folders:
        (workspace / folder).mkdir()
    await session.add_skill("double", DOUBLE)
    assert (workspace / "workflows" / "double.py").read_text() == DOUBLE
    assert not (workspace / "skills" / "double.py").exists()


async def test_redis_keeps_its_workflows_collection(redis_storage: RedisStorage):
    await redis_storage.write("skills", "triple.py", TRIPLE.encode())
    await WorkflowStore(redis_storage).add("double", DOUBLE)
    assert (await redis_storage.keys("workflows"), await redis_storage.keys("skills")) == (["double.py"], ["triple.py"])


async def test_the_storage_gives_the_workflow_library(session: Session):
    await session.add_skill("double", DOUBLE, "Double it")
    library = session.storage.get_skill_library()  # type: ignore[attr-defined]
    assert isinstance(library, WorkflowStore)
    assert isinstance(session.storage.get_workflow_library(), WorkflowStore)  # type: ignore[attr-defined]
    assert [w.name for w in await library.list()] == ["double"]
