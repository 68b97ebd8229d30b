"""Storage quotas: code that stores in a loop hits a clear limit; what is stored stays intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from codemode import Session, StorageQuota
from codemode.errors import LimitExceeded
from codemode.server import ServerSettings, create_server
from codemode.server.arguments import parse_settings
from codemode.server.flags import build_parser
from codemode.session.store import SessionRecord, SessionStore
from codemode.storage import Storage
from codemode.workspace.artifacts import ArtifactStore
from codemode.workspace.quota import check_room
from codemode.workspace.snapshots import Snapshot, SnapshotStore
from codemode.workspace.workflows import WorkflowStore
from tests.server.conftest import call, refused

pytestmark = pytest.mark.anyio

WORKFLOW = "def run():\n    return 1\n"


def test_check_room_counts_a_replaced_entry_once():
    stored = {"a": 400, "b": 400}
    check_room("things", stored, "a", 600, max_bytes=1000, max_count=2, remedy="delete some")  # replaces a
    with pytest.raises(LimitExceeded, match=r"things quota reached: 2 of 2 stored already; delete some"):
        check_room("things", stored, "c", 1, max_bytes=1000, max_count=2, remedy="delete some")
    with pytest.raises(LimitExceeded, match=r"storing 601 bytes would make 1001 bytes, more than the quota of 1000"):
        check_room("things", stored, "a", 601, max_bytes=1000, max_count=5, remedy="delete some")


async def test_artifacts_stop_at_the_workspace_quota_and_keep_what_is_stored(storage: Storage):
    # Each artifact counts its data and its record (a few hundred bytes); a save reserves room for two records.
    artifacts = ArtifactStore(storage, quota=StorageQuota(artifacts_bytes=12_000, artifacts_count=3))
    await artifacts.save("first", "a" * 4000)
    await artifacts.save("second", "b" * 4000)
    with pytest.raises(LimitExceeded, match=r"the workspace's artifacts quota reached: .*artifacts.delete"):
        await artifacts.save("third", "c" * 4000)
    await artifacts.save("first", "A" * 5000)  # a replacement counts once
    assert [await artifacts.load(name) for name in ("first", "second")] == ["A" * 5000, "b" * 4000]
    assert sorted(info.name for info in await artifacts.list()) == ["first", "second"]
    await artifacts.delete("second")
    await artifacts.save("third", "c" * 4000)
    await artifacts.save("fourth", "d")
    with pytest.raises(LimitExceeded, match="3 of 3 stored already"):
        await artifacts.save("fifth", "e")


async def test_descriptions_and_metadata_are_bounded_and_counted(storage: Storage):
    artifacts = ArtifactStore(storage, quota=StorageQuota(artifacts_bytes=20_000))
    with pytest.raises(LimitExceeded, match="description of artifact 'long' has 8,193 characters; the limit is 8,192"):
        await artifacts.save("long", "", description="d" * 8193)
    with pytest.raises(LimitExceeded, match="artifact metadata is .* bytes as JSON; the limit is 65,536"):
        await artifacts.save("meta", "", metadata={"m": "m" * 70_000})
    await artifacts.save("one", "", description="d" * 8000)
    with pytest.raises(LimitExceeded, match="artifacts quota reached"):  # empty data, but the records count
        await artifacts.save("two", "", description="d" * 8000)
    with pytest.raises(LimitExceeded, match="description of workflow 'w'"):
        await WorkflowStore(storage).add("w", WORKFLOW, "x" * 8193)


async def test_workflows_stop_at_the_workspace_count(storage: Storage):
    workflows = WorkflowStore(storage, StorageQuota(workflows_count=2))
    await workflows.add("one", WORKFLOW)
    await workflows.add("two", WORKFLOW)
    await workflows.add("two", WORKFLOW, "replaced")
    with pytest.raises(LimitExceeded, match=r"workflows quota reached: 2 of 2 .*workflows.remove"):
        await workflows.add("three", WORKFLOW)
    assert sorted(info.name for info in await workflows.list()) == ["one", "two"]


async def test_snapshots_stop_at_each_principals_quota(storage: Storage):
    snapshots = SnapshotStore(storage, StorageQuota(snapshots_count=2, snapshots_bytes=10**6))
    async with Session(storage=storage) as session:
        await session.run("x = 1")
        snapshot = await session.snapshot_state()
    for _ in range(2):
        await snapshots.save(Snapshot(snapshot.data, snapshot.info), "alice")
    with pytest.raises(LimitExceeded, match=r"your stored snapshots quota reached: 2 of 2 .*delete_snapshot"):
        await snapshots.save(Snapshot(snapshot.data, snapshot.info), "alice")
    await snapshots.save(Snapshot(snapshot.data, snapshot.info), "bob")  # another principal's quota is his own
    assert len(await snapshots.list("alice")) == 2
    big = SnapshotStore(storage, StorageQuota(snapshots_bytes=len(snapshot.data) * 2))
    with pytest.raises(LimitExceeded, match="more than the quota"):
        await big.save(Snapshot(snapshot.data, snapshot.info), "alice")


async def test_named_sessions_stop_at_each_principals_quota(storage: Storage):
    store = SessionStore(storage, "alice", StorageQuota(sessions_count=2, sessions_bytes=10_000))
    await store.put(SessionRecord.new("one"), snapshot=b"s" * 1000)
    await store.put(SessionRecord.new("two"))
    await store.put(await store.require("one"), snapshot=b"t" * 2000)  # saving a session again replaces it
    with pytest.raises(LimitExceeded, match=r"your named sessions quota reached: 2 of 2 .*delete_session"):
        await store.put(SessionRecord.new("three"))
    with pytest.raises(LimitExceeded, match="more than the quota"):
        await store.put(await store.require("two"), files=b"f" * 9000)
    assert await store.snapshot("one") == b"t" * 2000 and await store.files("two") is None
    await SessionStore(storage, "bob", store.quota).put(SessionRecord.new("three"))


async def test_code_saving_in_a_loop_gets_a_clear_error_and_the_session_goes_on(tmp_path: Path):
    async with Session.from_base(tmp_path, quota=StorageQuota(artifacts_bytes=12_000)) as session:
        result = await session.run(
            "saved = 0\ntry:\n    while True:\n        artifacts.save(f'blob{saved}', 'x' * 3000)\n        saved += 1\n"
            "except Exception as exc:\n    error = f'{type(exc).__name__}: {exc}'\nsaved, error"
        )
        saved, error = result.value
        assert saved == 3 and "artifacts quota reached" in error, error
        assert (await session.run("len(artifacts.list())")).value == 3


async def test_over_mcp_the_refusal_is_a_tool_error(tmp_path: Path):
    settings = ServerSettings(base=tmp_path, timeout=10, eager_start=False, quota=StorageQuota(artifacts_count=1))
    async with Client(create_server(settings)) as client:
        await call(client, "save_artifact", name="kept", data="x")
        message = await refused(client, "save_artifact", name="more", data="y")
        assert "artifacts quota reached: 1 of 1 stored already" in message
        assert [entry["name"] for entry in (await call(client, "list_artifacts"))["artifacts"]] == ["kept"]


def test_quota_flags(tmp_path: Path):
    flags = ["--base", str(tmp_path), "--artifacts-quota", "1M", "--snapshots-quota", "64M", "--sessions-quota", "2G"]
    _, settings = parse_settings(build_parser(), flags)
    quota = settings.quota
    assert (quota.artifacts_bytes, quota.snapshots_bytes, quota.sessions_bytes) == (1024**2, 64 * 1024**2, 2 * 1024**3)
    with pytest.raises(SystemExit):
        parse_settings(build_parser(), ["--base", str(tmp_path), "--artifacts-quota", "none"])


async def test_a_store_sees_what_another_server_stored_once_its_sizes_are_read_again(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
):
    import codemode.workspace.artifacts

    quota = StorageQuota(artifacts_count=2)
    mine, theirs = ArtifactStore(storage, quota=quota), ArtifactStore(storage, quota=quota)
    await mine.save("one", "x")  # mine has read the sizes: it keeps them a few seconds
    await theirs.save("two", "y")
    monkeypatch.setattr(codemode.workspace.artifacts, "_USAGE_REFRESH", 0.0)  # those seconds are over
    with pytest.raises(LimitExceeded, match="2 of 2 stored already"):
        await mine.save("three", "z")
