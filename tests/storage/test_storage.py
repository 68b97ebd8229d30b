"""The storage protocol, run against every backend."""

from __future__ import annotations

import pytest

from codemode.errors import InvalidName
from codemode.storage import Storage

pytestmark = pytest.mark.anyio


async def test_missing_value_reads_as_none(storage: Storage):
    assert await storage.read("artifacts", "nothing") is None


async def test_written_value_reads_back_byte_for_byte(storage: Storage):
    data = bytes(range(256)) * 10
    await storage.write("artifacts", "blob", data)
    assert await storage.read("artifacts", "blob") == data


async def test_writing_again_replaces_the_value(storage: Storage):
    await storage.write("workflows", "a.py", b"old")
    await storage.write("workflows", "a.py", b"new")
    assert await storage.read("workflows", "a.py") == b"new"


async def test_keys_are_sorted_and_per_collection(storage: Storage):
    await storage.write("artifacts", "b", b"2")
    await storage.write("artifacts", "a", b"1")
    await storage.write("workflows", "w.py", b"")
    assert await storage.keys("artifacts") == ["a", "b"]
    assert await storage.keys("workflows") == ["w.py"]
    assert await storage.keys("tools") == []


async def test_nested_collections_are_separate(storage: Storage):
    await storage.write("artifacts", "x", b"data")
    await storage.write("artifacts/.meta", "x.json", b"{}")
    assert await storage.keys("artifacts") == ["x"]
    assert await storage.read_all("artifacts/.meta") == {"x.json": b"{}"}


async def test_read_all_returns_every_value(storage: Storage):
    await storage.write("artifacts", "a", b"1")
    await storage.write("artifacts", "b", b"2")
    assert await storage.read_all("artifacts") == {"a": b"1", "b": b"2"}


async def test_delete_reports_whether_there_was_a_value(storage: Storage):
    await storage.write("artifacts", "a", b"1")
    assert await storage.delete("artifacts", "a") is True
    assert await storage.delete("artifacts", "a") is False
    assert await storage.read("artifacts", "a") is None


@pytest.mark.parametrize("key", ["../escape", "a/b", "..", ".hidden", "", "a\x00b", "x" * 300])
async def test_keys_that_could_leave_their_collection_are_refused(storage: Storage, key: str):
    with pytest.raises(InvalidName):
        await storage.write("artifacts", key, b"x")
    with pytest.raises(InvalidName):
        await storage.read("artifacts", key)


async def test_unknown_collection_names_are_refused(storage: Storage):
    with pytest.raises(InvalidName):
        await storage.keys("../etc")


async def test_location_names_where_the_data_is(storage: Storage):
    assert storage.location


async def test_features_work_unchanged_on_every_backend(storage: Storage):
    """Artifacts and workflows only talk to the protocol, so they behave the same everywhere."""
    from codemode.workspace.artifacts import ArtifactStore
    from codemode.workspace.workflows import WorkflowStore

    artifacts = ArtifactStore(storage)
    await artifacts.save("blob", b"\x00\x01", description="bytes")
    assert await artifacts.load("blob") == b"\x00\x01"
    assert [(a.name, a.description) for a in await artifacts.list()] == [("blob", "bytes")]
    workflows = WorkflowStore(storage)
    await workflows.add("one", "def run():\n    return 1\n", "returns one")
    assert [(w.name, w.description) for w in await workflows.list()] == [("one", "returns one")]
