"""Bad entries, planted links and killed writers cannot break or mislead artifact and workflow storage.

The attacks (issue 8), each replayed here:

- a file named ``a..b`` in ``artifacts/`` (or a foreign field in the Redis hash) made
  ``list_artifacts`` fail for everyone: now every listing skips a bad entry with a warning;
- ``load_artifact`` followed a symbolic link planted in ``artifacts/`` (it returned
  ``/etc/hostname``): links are never followed;
- killing a process during repeated large saves left a record that did not match the data,
  and ``.tmp-*`` files for ever: now a load finds the old artifact or the new one, each with
  its own record, and leftovers are removed when the storage is next used;
- a package spec of any length was accepted and echoed back in errors.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from codemode.errors import InvalidArgument, RuntimeDepsDisabled, StorageError
from codemode.storage import FileStorage, Storage
from codemode.storage.redis import RedisStorage
from codemode.workspace.artifacts import ArtifactStore
from codemode.workspace.deps import MAX_SPEC_CHARS, DepsManager
from codemode.workspace.workflows import WorkflowStore
from tests.conftest import REDIS_URL, open_redis_storage
from tests.server.conftest import HttpServer, text_of

pytestmark = pytest.mark.anyio

Start = Callable[..., Awaitable[HttpServer]]
WRITER = Path(__file__).with_name("artifact_writer.py")
KILLS = 6
WORKFLOW = "def run():\n    return 1\n"


def _outside_file(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text("server secret")
    return secret


# One bad entry never fails a listing.


async def test_a_file_named_a_dot_dot_b_does_not_break_list_artifacts(http_server: Start, workspace: Path):
    (workspace / "artifacts").mkdir()
    (workspace / "artifacts" / "a..b").write_text("x")
    (workspace / "artifacts" / "good").write_text("kept")
    server = await http_server()
    async with server.client() as client:
        listed = await client.call_tool("list_artifacts", {})
    assert not listed.is_error, text_of(listed)
    assert [item["name"] for item in listed.structured_content["artifacts"]] == ["good"]  # type: ignore[index]


async def test_foreign_redis_fields_do_not_break_list_artifacts(http_server: Start):
    async with open_redis_storage() as redis:
        await ArtifactStore(redis).save("good", "kept")
        raw = aioredis.Redis.from_url(REDIS_URL)
        await raw.hset(f"{redis.prefix}:artifacts", mapping={b"a..b": b"x", b"\xff\xfe": b"x", b".hidden": b"x"})
        await raw.hset(f"{redis.prefix}:artifacts/.meta", "good.json", b"not a record")
        await raw.aclose()
        server = await http_server("--storage", "redis", "--redis-url", REDIS_URL, "--redis-prefix", redis.prefix)
        async with server.client() as client:
            listed = await client.call_tool("list_artifacts", {})
    assert not listed.is_error, text_of(listed)
    assert [item["name"] for item in listed.structured_content["artifacts"]] == ["good"]  # type: ignore[index]


async def test_every_listing_skips_bad_entries_and_logs_them_by_name(
    storage: Storage,  # noqa: F811  (the fixture)
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
):
    await ArtifactStore(storage).save("good", "kept")
    await WorkflowStore(storage).add("fine", WORKFLOW)
    await _plant_bad_entries(storage, tmp_path)
    with caplog.at_level(logging.WARNING):
        assert [info.name for info in await ArtifactStore(storage).list()] == ["good"]
        assert [info.name for info in await WorkflowStore(storage).list()] == ["fine"]
    assert "'a..b'" in caplog.text
    assert "'broken.py'" in caplog.text


async def _plant_bad_entries(backend: Storage, tmp_path: Path) -> None:
    await backend.write("workflows", "broken.py", b"def run(:\n")
    if isinstance(backend, FileStorage):
        (backend.base_path / "artifacts" / "a..b").write_text("x")
        (backend.base_path / "workflows" / "x..py").write_text(WORKFLOW)
        return
    assert isinstance(backend, RedisStorage)
    raw = aioredis.Redis.from_url(REDIS_URL)
    await raw.hset(f"{backend.prefix}:artifacts", mapping={b"a..b": b"x", b"\xff": b"x"})
    await raw.hset(f"{backend.prefix}:workflows", mapping={b"x..py": WORKFLOW.encode(), b"\xff.py": b""})
    await raw.aclose()


async def test_a_redis_key_that_is_not_a_hash_lists_as_empty(caplog: pytest.LogCaptureFixture):
    async with open_redis_storage() as redis:
        raw = aioredis.Redis.from_url(REDIS_URL)
        await raw.set(f"{redis.prefix}:artifacts", b"a string, not a hash")
        await raw.aclose()
        with caplog.at_level(logging.WARNING):
            assert await ArtifactStore(redis).list() == []
    assert "not a Redis hash" in caplog.text


# Links are never followed.


async def test_load_artifact_refuses_a_planted_symlink(http_server: Start, workspace: Path, tmp_path: Path):
    secret = _outside_file(tmp_path)
    (workspace / "artifacts").mkdir()
    (workspace / "artifacts" / "host").symlink_to(secret)
    server = await http_server()
    async with server.client() as client:
        loaded = await client.call_tool("load_artifact", {"name": "host"})
        listed = await client.call_tool("list_artifacts", {})
    assert loaded.is_error
    assert "symbolic link" in text_of(loaded)
    assert "server secret" not in text_of(loaded)
    assert listed.structured_content["artifacts"] == []  # type: ignore[index]


async def test_a_symlinked_artifacts_directory_is_not_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    secret = _outside_file(tmp_path)
    base = tmp_path / "workspace"
    base.mkdir()
    (base / "artifacts").symlink_to(secret.parent, target_is_directory=True)
    store = ArtifactStore(FileStorage(base))
    with caplog.at_level(logging.WARNING):
        assert await store.list() == []
    with pytest.raises(StorageError, match="symbolic link"):
        await store.load("secret.txt")
    with pytest.raises(StorageError, match="symbolic link"):
        await store.save("planted", "x")
    assert sorted(os.listdir(secret.parent)) == ["secret.txt"]


async def test_a_symlinked_workflow_is_neither_listed_nor_loaded(tmp_path: Path):
    target = tmp_path / "outside.py"
    target.write_text(WORKFLOW)
    base = tmp_path / "workspace"
    (base / "workflows").mkdir(parents=True)
    (base / "workflows" / "evil.py").symlink_to(target)
    store = WorkflowStore(FileStorage(base))
    assert await store.list() == []
    with pytest.raises(StorageError, match="symbolic link"):
        await store.get("evil")


async def test_a_fifo_under_an_artifact_name_is_refused_without_hanging(tmp_path: Path):
    (tmp_path / "artifacts").mkdir()
    os.mkfifo(tmp_path / "artifacts" / "pipe")
    store = ArtifactStore(FileStorage(tmp_path))
    with anyio.fail_after(10), pytest.raises(StorageError, match="not a regular file"):
        await store.load("pipe")
    assert await store.list() == []


# Data and record change together, whatever moment a writer dies at.


@pytest.mark.parametrize("backend", ["file", "redis"])
async def test_killing_a_writer_at_random_points_leaves_a_matching_artifact(backend: str, tmp_path: Path):
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    async with open_redis_storage() if backend == "redis" else _file_storage(tmp_path) as opened:
        where = [str(tmp_path)] if isinstance(opened, FileStorage) else [REDIS_URL, opened.prefix]
        saved = 0
        for kill in range(KILLS):
            saved += await _run_writer_and_kill_it(backend, where, first=saved + 1000 * kill, rng=rng)
            reopened = _reopen(opened)
            await _assert_consistent(ArtifactStore(reopened), f"kill {kill}, seed {seed}")
            await reopened.close()
        if backend == "file":
            leftovers = [name for name in _artifact_files(tmp_path) if name.startswith(".tmp-")]
            assert leftovers == [], f"seed {seed}"


async def _run_writer_and_kill_it(backend: str, where: list[str], first: int, rng: random.Random) -> int:
    """Start the writer, time a few of its saves, then kill it at a random point of the next one."""
    process = subprocess.Popen(
        [sys.executable, str(WRITER), backend, *where, str(first)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines = process.stdout

    async def next_line(expected: str) -> float:
        line = await anyio.to_thread.run_sync(lines.readline)
        assert line.strip() == expected, f"the writer stopped by itself: {line!r}"
        return time.monotonic()

    finished = 0
    try:
        longest = 0.0
        for _ in range(rng.randint(1, 3)):
            started = await next_line("saving")
            longest = max(longest, await next_line("saved") - started)
            finished += 1
        await next_line("saving")
        await anyio.sleep(rng.uniform(0, longest * 1.2))
    finally:
        process.send_signal(signal.SIGKILL)
        await anyio.to_thread.run_sync(process.wait)
        lines.close()
    return finished + 1


async def _assert_consistent(store: ArtifactStore, context: str) -> None:
    payload, info = await store.load_raw("big")
    number, digest = info.description.split()
    assert hashlib.sha256(payload).hexdigest() == digest, context
    assert info.size == len(payload), context
    assert info.kind == ("bytes" if int(number) % 2 == 0 else "text"), context
    assert await store.list() == [info], context


class _file_storage:  # noqa: N801  (used like the Redis context manager beside it)
    def __init__(self, base: Path) -> None:
        self.storage = FileStorage(base)

    async def __aenter__(self) -> FileStorage:
        return self.storage

    async def __aexit__(self, *exc: object) -> None:
        await self.storage.close()


def _reopen(backend: Storage) -> Storage:
    """A new storage object on the same data: what a restarted server gets."""
    if isinstance(backend, FileStorage):
        return FileStorage(backend.base_path)
    assert isinstance(backend, RedisStorage)
    return RedisStorage(REDIS_URL, backend.prefix)


def _artifact_files(base: Path) -> list[str]:
    return os.listdir(base / "artifacts") + os.listdir(base / "artifacts" / ".meta")


async def test_leftover_temporary_files_are_removed_when_storage_is_next_used(tmp_path: Path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / ".tmp-0123456789abcdef").write_bytes(b"partial")
    assert await FileStorage(tmp_path).keys("artifacts") == []
    assert os.listdir(tmp_path / "artifacts") == []


async def test_a_live_writers_temporary_file_is_left_alone(tmp_path: Path):
    (tmp_path / "artifacts").mkdir()
    temp = tmp_path / "artifacts" / ".tmp-fedcba9876543210"
    with open(temp, "wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a writer in another process holds it while writing
        assert await FileStorage(tmp_path).keys("artifacts") == []
        assert temp.exists()


# Package specs have a length limit, and errors do not echo them.


@pytest.mark.parametrize("tool", ["add_dep", "remove_dep"])
async def test_an_overlong_package_spec_is_refused_without_being_echoed(http_server: Start, tool: str):
    spec = "requests" + "x" * (MAX_SPEC_CHARS * 4)
    server = await http_server()
    async with server.client() as client:
        result = await client.call_tool(tool, {"package": spec})
    assert result.is_error
    assert f"at most {MAX_SPEC_CHARS:,} characters" in text_of(result)
    assert len(text_of(result)) < 500


async def test_an_overlong_spec_is_not_echoed_when_runtime_deps_are_off(tmp_path: Path):
    deps = DepsManager(FileStorage(tmp_path), allow_runtime_deps=False)
    with pytest.raises(RuntimeDepsDisabled) as refused:
        await deps.add("x" * 100_000)
    assert len(str(refused.value)) < 500
    with pytest.raises(InvalidArgument, match="at most"):
        DepsManager(FileStorage(tmp_path), extra_deps=["y" * (MAX_SPEC_CHARS + 1)])
