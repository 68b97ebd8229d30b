"""Named sessions at rest: records, listing, metadata, branching, export and import, on every backend."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode.errors import (
    InvalidArgument,
    InvalidName,
    PathNotAllowed,
    SessionError,
    SessionNotFound,
    SessionNotFoundError,
)
from codemode.session.manager import SessionManager
from codemode.session.store import SessionStore
from codemode.storage import FileStorage, MemoryStorage, Storage
from tests.conftest import open_redis_storage

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "file", "redis"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "redis":
        async with open_redis_storage() as redis:
            yield redis
    else:
        yield MemoryStorage() if request.param == "memory" else FileStorage(tmp_path)


def manager(storage: Storage, owner: str = "local") -> SessionManager:
    return SessionManager(storage, factory=_inprocess(storage), owner=owner)


def _inprocess(storage: Storage):
    from codemode import Session

    return lambda name: Session(storage=storage, executor="inprocess", name=name)


async def test_a_created_session_is_listed_with_its_labels_and_counts(storage: Storage):
    sessions = manager(storage)
    session = await sessions.create_session("chat", labels={"team": "data"})
    await session.run("x = 1")
    await sessions.save_session(session)
    await session.close()
    (info,) = await sessions.list_sessions()
    assert (info.name, info.labels, info.execution_count, info.history_length) == ("chat", {"team": "data"}, 1, 1)
    assert info.size_bytes > 0 and info.updated_at >= info.created_at


async def test_list_sessions_filters_by_labels(storage: Storage):
    sessions = manager(storage)
    for name, team in [("a", "data"), ("b", "web")]:
        await (await sessions.create_session(name, labels={"team": team})).close()
    assert [info.name for info in await sessions.list_sessions(labels={"team": "web"})] == ["b"]


async def test_get_session_info_reads_the_record_without_loading_the_session(storage: Storage):
    sessions = manager(storage)
    await (await sessions.create_session("chat")).close()
    info = await sessions.get_session_info("chat")
    assert info is not None and info.name == "chat"
    assert await sessions.get_session_info("missing") is None


async def test_loading_a_session_brings_back_its_history_labels_metadata_and_count(storage: Storage):
    sessions = manager(storage)
    session = await sessions.create_session("chat", labels={"k": "v"}, metadata={"topic": "maths"})
    await session.run("1 + 1")
    await sessions.save_session(session)
    await session.close()
    async with await sessions.create_session("chat") as again:
        assert [entry.summary for entry in again.get_history()] == ["2"]
        assert again.get_labels() == {"k": "v"} and again.metadata == {"topic": "maths"}
        assert (await again.run("0")).execution_count == 2


async def test_update_metadata_merges_into_the_stored_metadata(storage: Storage):
    sessions = manager(storage)
    await (await sessions.create_session("chat", metadata={"a": 1})).close()
    await sessions.update_metadata("chat", {"b": 2})
    assert (await sessions.get_session_info("chat")).metadata == {"a": 1, "b": 2}  # type: ignore[union-attr]


async def test_a_branch_starts_with_the_sources_history_and_then_goes_its_own_way(storage: Storage):
    sessions = manager(storage)
    main = await sessions.create_session("main")
    await main.run("'first'")
    await sessions.save_session(main)
    async with await sessions.create_session("experiment", branch_from="main") as branch:
        assert [entry.code for entry in branch.get_history()] == ["'first'"]
        await branch.run("'second'")
        await sessions.save_session(branch)
    await main.close()
    infos = {info.name: info for info in await sessions.list_sessions()}
    assert (infos["main"].history_length, infos["experiment"].history_length) == (1, 2)
    assert infos["experiment"].metadata["branched_from"] == "main"


async def test_branching_from_an_unknown_session_is_session_not_found(storage: Storage):
    with pytest.raises(SessionNotFoundError, match="no stored session named 'nope'"):
        await manager(storage).create_session("b", branch_from="nope")


async def test_deleting_a_session_removes_it_and_a_second_delete_is_not_found(storage: Storage):
    sessions = manager(storage)
    await (await sessions.create_session("chat")).close()
    await sessions.delete_session("chat")
    assert await sessions.list_sessions() == []
    with pytest.raises(SessionNotFound):
        await sessions.delete_session("chat")


async def test_owners_do_not_see_each_others_sessions(storage: Storage):
    await (await manager(storage, "alice").create_session("chat")).close()
    assert await manager(storage, "bob").list_sessions() == []
    assert await manager(storage, "bob").get_session_info("chat") is None


async def test_an_exported_session_imports_equal_into_another_storage(storage: Storage):
    sessions = manager(storage)
    session = await sessions.create_session("chat", labels={"k": "v"}, metadata={"topic": "x"})
    await session.run("40 + 2")
    await sessions.save_session(session)
    await session.close()
    document = json.loads((await sessions.export_session("chat")).model_dump_json())
    elsewhere = manager(MemoryStorage())
    await elsewhere.import_session(document)
    original, imported = await sessions.store.require("chat"), await elsewhere.store.require("chat")
    same = {"name", "created_at", "metadata", "labels", "execution_count", "history", "snapshot_bytes", "files_bytes"}
    assert imported.model_dump(include=same) == original.model_dump(include=same)


async def test_importing_onto_a_taken_name_is_refused_and_changes_nothing(storage: Storage):
    sessions = manager(storage)
    await (await sessions.create_session("chat", labels={"k": "old"})).close()
    document = (await sessions.export_session("chat")).model_dump(mode="json") | {"labels": {"k": "new"}}
    with pytest.raises(InvalidArgument, match="already have a session named 'chat'"):
        await sessions.import_session(document)
    assert (await sessions.get_session_info("chat")).labels == {"k": "old"}  # type: ignore[union-attr]
    await sessions.import_session(document, name="copy")
    assert (await sessions.get_session_info("copy")).labels == {"k": "new"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"name": "x"}, "not a session document"),
        ("{not json", "not a session document"),
        ({"format": "other/9", "name": "x", "created_at": 0, "updated_at": 0}, "not a session document"),
    ],
)
async def test_a_malformed_document_is_refused(storage: Storage, document: object, problem: str):
    with pytest.raises(InvalidArgument, match=problem):
        await manager(storage).import_session(document)


async def test_a_document_with_bad_labels_is_refused_naming_the_label(storage: Storage):
    sessions = manager(storage)
    await (await sessions.create_session("chat")).close()
    document = (await sessions.export_session("chat")).model_dump(mode="json") | {"labels": {"k": ""}}
    with pytest.raises(InvalidArgument, match="label 'k': the value is empty"):
        await sessions.import_session(document, name="other")


def _archive(*names: str) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in names:
            member = tarfile.TarInfo(name)
            member.size = 2
            archive.addfile(member, io.BytesIO(b"hi"))
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (["a" * 300], "a name of 300 bytes"),
        (["dir/" + "é" * 200 + "/f"], "a name of 400 bytes"),  # bytes count, not characters
        (["../escape"], "contains '..'"),
        (["/etc/passwd"], "is an absolute path"),
    ],
)
async def test_an_archive_that_could_never_be_restored_is_refused_and_nothing_is_stored(
    storage: Storage, names: list[str], problem: str
):
    sessions = manager(storage)
    await (await sessions.create_session("chat")).close()
    document = (await sessions.export_session("chat")).model_dump(mode="json") | {"files": _archive(*names)}
    with pytest.raises((InvalidArgument, PathNotAllowed), match=problem):
        await sessions.import_session(document, name="bad")
    assert await sessions.get_session_info("bad") is None
    await sessions.import_session(document | {"files": _archive("fine.txt")}, name="good")  # the store still works
    assert (await sessions.get_session_info("good")) is not None


async def test_a_bad_session_name_is_refused_before_it_reaches_storage(storage: Storage):
    with pytest.raises(InvalidName, match="session name '../x' is not allowed"):
        await manager(storage).create_session("../x")


async def test_a_damaged_record_is_a_session_error_and_is_left_out_of_listings(storage: Storage):
    store = SessionStore(storage)
    await (await manager(storage).create_session("chat")).close()
    (key,) = await storage.keys("sessions")
    await storage.write("sessions", key, b"{broken")
    with pytest.raises(SessionError, match="'chat' is damaged"):
        await store.require("chat")
    assert await store.infos() == []


def subprocess_manager(storage: Storage) -> SessionManager:
    """Sessions with real workers: snapshots are loaded only in a worker process."""
    from codemode import Session

    return SessionManager(storage, factory=lambda name: Session(storage=storage, name=name, timeout=10))


async def test_a_loaded_session_has_its_variables_and_files_back(storage: Storage):
    sessions = subprocess_manager(storage)
    async with await sessions.create_session("work") as session:
        await session.run("import json\ntotal = 42\nopen('notes.txt', 'w').write('kept')")
        await sessions.save_session(session)
    async with await sessions.load_session("work") as again:
        assert (await again.run("json.dumps(total)")).value == "42"
        assert await again.read_file("notes.txt") == "kept"
        assert again.info().notes == []


async def test_a_branch_starts_with_the_sources_variables(storage: Storage):
    sessions = subprocess_manager(storage)
    async with await sessions.create_session("main") as main:
        await main.run("x = [1, 2]")
        await sessions.save_session(main)
        async with await sessions.create_session("experiment", branch_from="main") as branch:
            await branch.run("x.append(3)")
            assert (await branch.run("x")).value == [1, 2, 3]
        assert (await main.run("x")).value == [1, 2]


async def test_an_exported_session_imports_with_its_variables_and_files():
    source, target = MemoryStorage(), MemoryStorage()
    async with await subprocess_manager(source).create_session("work") as session:
        await session.run("greeting = 'hi'\nopen('a.txt', 'w').write('file')")
        await subprocess_manager(source).save_session(session)
    document = (await subprocess_manager(source).export_session("work")).model_dump_json()
    await subprocess_manager(target).import_session(document)
    async with await subprocess_manager(target).load_session("work") as imported:
        assert (await imported.run("greeting")).value == "hi"
        assert await imported.read_file("a.txt") == "file"


async def test_an_in_process_session_resumes_without_its_variables_and_says_why():
    storage = MemoryStorage()
    sessions = manager(storage)
    async with await sessions.create_session("work") as session:
        await session.run("x = 1")
        await sessions.save_session(session)
    async with await sessions.load_session("work") as again:
        (note,) = again.info().notes
        assert "its variables could not be restored" in note and "in-process executor" in note
        assert len(again.get_history()) == 1


async def test_a_save_that_cannot_take_a_snapshot_keeps_the_last_one(caplog: pytest.LogCaptureFixture):
    from codemode import ExecutionLimits, Session

    storage = MemoryStorage()
    limits = ExecutionLimits(max_snapshot_bytes=200_000)
    sessions = SessionManager(storage, factory=lambda name: Session(storage=storage, name=name, limits=limits))
    async with await sessions.create_session("work") as session:
        await session.run("small = 1")
        await sessions.save_session(session)
        await session.run("big = 'x' * 1_000_000")  # over the snapshot limit
        await sessions.save_session(session)
    assert "saved without a new snapshot" in caplog.text
    async with await sessions.load_session("work") as again:
        assert [entry.n for entry in again.get_history()] == [1, 2]
        assert (await again.run("small")).value == 1
        assert not (await again.run("big")).is_ok
