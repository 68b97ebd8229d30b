"""Attacks from a review of storage quotas, staged restores and the node bind (the commits after 3cf34cc).

Each test replays one attack. Those that still get through fail until the hole is closed;
those that were stopped keep it stopped. Session code is hostile: it may replace its worker's
operations and run threads that act on its directory while the host works in it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import pytest

from codemode import Session, Snapshot, SnapshotStore, StorageQuota
from codemode.errors import CodemodeError, LimitExceeded
from codemode.storage import FileStorage, Storage
from codemode.workspace import venvs
from codemode.workspace.artifacts import META as ARTIFACT_META
from codemode.workspace.artifacts import ArtifactStore
from codemode.workspace.snapshots import DATA as SNAPSHOT_DATA
from codemode.workspace.snapshots import META as SNAPSHOT_META
from codemode.workspace.snapshots import SnapshotInfo
from codemode.workspace.venv_leases import remove_unused
from codemode.workspace.venvs import VenvCache, current_python, venv_key, venv_python
from codemode.workspace.workflows import MAX_SOURCE_CHARS, WorkflowStore

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("sandbox")]

WORKFLOW = "def run():\n    return 1\n"
SNAPSHOT = Snapshot(b"x" * 100, SnapshotInfo(size=100, python="3.11"))


def _session(workspace: Path, **options: object) -> Session:
    return Session.from_base(workspace, timeout=30, sandbox="bwrap", **options)  # type: ignore[arg-type]


async def _stored_bytes(storage: Storage, *collections: str) -> int:
    total = 0
    for name in collections:
        total += sum(len(value) for value in (await storage.read_all(name)).values())
    return total


def _staging_dirs(session: Session) -> list[Path]:
    root = Path(session.executor.confinement.workdir)  # type: ignore[arg-type]
    return [entry for entry in root.iterdir() if entry.name.startswith(".codemode-staging-")]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- quotas: what is stored but not counted ----------------------------------------------------


async def test_artifact_descriptions_and_metadata_count_toward_the_artifacts_quota(storage: Storage):
    artifacts = ArtifactStore(storage, quota=StorageQuota(artifacts_bytes=40_000, artifacts_count=100))
    try:
        for index in range(5):  # empty data: only the records carry the bytes (each field under its own cap)
            await artifacts.save(f"a{index}", "", description="d" * 4_000, metadata={"m": "m" * 4_000})
    except LimitExceeded:
        pass
    assert await _stored_bytes(storage, ARTIFACT_META) <= 40_000  # five records would be ~43 KB: the quota held


async def test_a_workflow_description_is_bounded(storage: Storage):
    workflows = WorkflowStore(storage, StorageQuota(workflows_count=2))
    with pytest.raises(CodemodeError):  # there is no byte quota for workflows: each one must be bounded
        await workflows.add("w", WORKFLOW, description="d" * (4 * MAX_SOURCE_CHARS))


SWELL_SNAPSHOT_INFO = """
import gc
for table in [o for o in gc.get_objects() if type(o) is dict and callable(o.get('snapshot_save'))]:
    original = table['snapshot_save']
    def swollen(interp, params, original=original):
        result = original(interp, params)
        result['skipped'] = [{'name': 'n', 'reason': 'r' * 400_000}]
        return result
    table['snapshot_save'] = swollen
"""


async def test_what_the_worker_reports_about_a_snapshot_counts_toward_the_snapshots_quota(workspace: Path):
    quota = StorageQuota(snapshots_bytes=200_000)
    async with _session(workspace, quota=quota) as session:
        await session.snapshot_state()  # the worker loads its snapshot operations on first use: load them to swap
        assert (await session.run(SWELL_SNAPSHOT_INFO)).error is None
        for _ in range(3):
            try:
                await session.snapshot_state(save=True, files=False)
            except LimitExceeded:
                break
        stored = await _stored_bytes(session.workspace.storage, SNAPSHOT_DATA, SNAPSHOT_META)
    assert stored <= quota.snapshots_bytes


class _SlowAfterSnapshotData(FileStorage):
    """The data of a snapshot is written, then the store is slow: a client's cancellation lands here."""

    async def write(self, collection: str, key: str, data: bytes) -> None:
        await super().write(collection, key, data)
        if collection == SNAPSHOT_DATA:
            await anyio.sleep(0.5)


async def test_a_cancelled_snapshot_save_leaves_no_data_the_quota_does_not_see(tmp_path: Path):
    storage = _SlowAfterSnapshotData(tmp_path / "store")
    snapshots = SnapshotStore(storage, StorageQuota(snapshots_bytes=1000, snapshots_count=2))
    for _ in range(5):
        with anyio.move_on_after(0.2):
            try:
                await snapshots.save(Snapshot(SNAPSHOT.data, SNAPSHOT.info), "alice")
            except LimitExceeded:
                pass
    counted = {info.snapshot_id for info in await snapshots.list("alice")}
    stored = {key.split("-", 1)[1] for key in await storage.keys(SNAPSHOT_DATA)}
    assert stored <= counted, f"{len(stored - counted)} snapshots stored that no quota counts"


async def test_concurrent_snapshot_saves_of_one_principal_stay_within_the_count(tmp_path: Path):
    snapshots = SnapshotStore(FileStorage(tmp_path / "store"), StorageQuota(snapshots_count=1))

    async def save() -> None:
        try:
            await snapshots.save(Snapshot(SNAPSHOT.data, SNAPSHOT.info), "alice")
        except LimitExceeded:
            pass

    async with anyio.create_task_group() as group:
        for _ in range(5):  # five sessions of one principal, snapshot_session at once, on one server
            group.start_soon(save)
    assert len(await snapshots.list("alice")) == 1


# -- staged restores: the session's code works in the directory while the host does ------------

PLANT_FIFO_IN_STAGING = """
import os, threading
def plant():
    while True:
        for entry in os.scandir('.'):
            if entry.name.startswith('.codemode-staging-'):
                try:
                    os.mkfifo(entry.name + '/z.txt')
                    return
                except OSError:
                    pass
threading.Thread(target=plant, daemon=True).start()
"""


async def test_a_fifo_code_plants_in_the_staging_directory_does_not_hang_the_restore(workspace: Path):
    async with _session(workspace) as session:
        many = "for i in range(3000):\n    open(f'a{i:04}.txt', 'w').write('x')\nopen('z.txt', 'w').write('last')"
        assert (await session.run(many)).error is None  # the a*.txt are staged first: the thread's head start
        snapshot = await session.snapshot_state()
        assert (await session.run(PLANT_FIFO_IN_STAGING)).error is None
        finished = anyio.Event()
        hung = ""

        async def restore() -> None:
            try:
                await session.restore_state(snapshot)
            except (CodemodeError, OSError):
                pass
            finally:
                finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(restore)
            with anyio.move_on_after(8):
                await finished.wait()
            if not finished.is_set():  # a host thread is stuck opening the FIFO: let it go
                fifos = [path for staging in _staging_dirs(session) for path in staging.glob("z.txt")]
                hung = f"{len(fifos)} FIFO planted in the staging directory"
                readers = [os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) for fifo in fifos]
                with anyio.move_on_after(15):
                    await finished.wait()
                for reader in readers:
                    os.close(reader)
    assert not hung, f"{hung}: a restore hung in a host thread: one of the server's 40 worker threads, for good"


PLANT_DEEP_TREE_ON_RESTORE = """
import gc, os
def deep_then_fail(interp, params):
    staging = [e.name for e in os.scandir('.') if e.name.startswith('.codemode-staging-')][0]
    fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1200):
        os.mkdir('d', dir_fd=fd)
        child = os.open('d', os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    raise RuntimeError('restore refused')
for table in [o for o in gc.get_objects() if type(o) is dict and callable(o.get('snapshot_load'))]:
    table['snapshot_load'] = deep_then_fail
"""


async def test_a_deep_tree_code_builds_in_the_staging_directory_leaks_nothing(workspace: Path):
    async with _session(workspace) as session:
        await session.write_file("a.txt", "saved")
        snapshot = await session.snapshot_state()
        await session.restore_state(snapshot)  # loads the worker's snapshot operations, to swap one
        assert (await session.run(PLANT_DEEP_TREE_ON_RESTORE)).error is None
        before = _open_fds()
        raised: BaseException | None = None
        try:
            await session.restore_state(snapshot)
        except BaseException as exc:  # noqa: BLE001 - which exception is the finding
            raised = exc
        leaked, left = _open_fds() - before, _staging_dirs(session)
        for staging in left:  # our own clean-up: rm copes with any depth
            await anyio.run_process(["rm", "-rf", str(staging)], check=False)
    assert (isinstance(raised, CodemodeError), leaked, left) == (True, 0, []), repr(raised)


PLANT_LINK_AS_STAGING = """
import os
os.mkdir('.codemode-staging-planted')
os.symlink({target!r}, '.codemode-staging-planted/escape')
os.symlink({target!r}, '.codemode-staging-linked')
"""


async def test_a_planted_staging_directory_is_swept_without_following_its_links(workspace: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("host file")
    async with _session(workspace) as session:
        await session.write_file("a.txt", "saved")
        snapshot = await session.snapshot_state()
        assert (await session.run(PLANT_LINK_AS_STAGING.format(target=str(outside)))).error is None
        await session.restore_state(snapshot)
        assert await session.read_file("a.txt") == "saved"
    assert (outside / "keep.txt").read_text() == "host file"


# -- what a sandbox sees of the host: node's installation ----------------------------------------


async def test_the_sandbox_sees_no_file_beside_a_node_outside_usr(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    prefix = tmp_path / "srv"  # a server installed with its own node: /srv/bin/node, /srv/tokens.json
    (prefix / "bin").mkdir(parents=True)
    node = prefix / "bin" / "node"
    node.write_text("#!/bin/sh\nexit 0\n")
    node.chmod(node.stat().st_mode | stat.S_IXUSR)
    secret = prefix / "tokens.json"
    secret.write_text('{"server-secret-1618": "alice"}')
    monkeypatch.setenv("PATH", f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}")
    async with _session(workspace) as session:
        result = await session.run(f"import os\nos.path.exists({str(secret)!r})")
    assert result.error is None and result.value is False


# -- venvs: a clean-up between a build's end and its use ------------------------------------------


async def test_a_clean_up_right_after_a_build_does_not_remove_the_new_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cache = VenvCache(tmp_path / "cache")
    publish = venvs._point

    def another_servers_clean_up_first(link: Path, target: Path) -> None:
        remove_unused(cache.root)  # what another server's build or workspace close runs, at this moment
        publish(link, target)

    monkeypatch.setattr(venvs, "_point", another_servers_clean_up_first)
    venv, problem = await cache.ensure(venv_key("review", "py", []), current_python(), [])
    assert problem is None and venv is not None
    assert venv_python(venv).exists(), "the venv just built was removed before it was linked"
