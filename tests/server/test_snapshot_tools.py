"""snapshot_session, restore_session, list_snapshots and delete_snapshot through the official MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from mcp import Client

from codemode.server import ServerSettings, create_server
from tests.conftest import REDIS_URL, open_redis_storage
from tests.server.conftest import HttpServer, call, refused, server_command
from tests.server.test_http import ALICE, BOB, tokens_file

pytestmark = pytest.mark.anyio

Start = Callable[..., Awaitable[HttpServer]]


@pytest.fixture(params=["file", "redis"])
async def settings(request: pytest.FixtureRequest, workspace: Path) -> AsyncIterator[ServerSettings]:
    if request.param == "file":
        yield ServerSettings(base=workspace, timeout=10, eager_start=False)
        return
    async with open_redis_storage() as storage:
        yield ServerSettings(
            base=workspace,
            timeout=10,
            eager_start=False,
            storage="redis",
            redis_url=REDIS_URL,
            redis_prefix=storage.prefix,
        )


async def test_snapshot_session_reports_id_size_saved_and_skipped(settings: ServerSettings):
    async with Client(create_server(settings)) as client:
        await call(client, "run_code", code="x = 1\ngen = (i for i in range(2))")
        taken = await call(client, "snapshot_session")
    assert set(taken) == {"session_id", "snapshot_id", "size", "saved", "skipped"}
    assert (taken["saved"], [entry["name"] for entry in taken["skipped"]]) == (["x"], ["gen"])
    assert taken["size"] > 0


async def test_restore_session_brings_the_variables_back(settings: ServerSettings):
    async with Client(create_server(settings)) as client:
        await call(client, "run_code", code="x = 10\ndef f(): return x * 2")
        snapshot_id = (await call(client, "snapshot_session"))["snapshot_id"]
        await call(client, "run_code", code="x = 999")
        restored = await call(client, "restore_session", snapshot_id=snapshot_id)
        assert restored["restored"] == ["f", "x"]
        assert (await call(client, "run_code", code="f()"))["value"] == 20


async def test_list_and_delete_snapshots(settings: ServerSettings):
    async with Client(create_server(settings)) as client:
        snapshot_id = (await call(client, "snapshot_session"))["snapshot_id"]
        listed = await call(client, "list_snapshots")
        assert [entry["snapshot_id"] for entry in listed["snapshots"]] == [snapshot_id]
        assert (await call(client, "delete_snapshot", snapshot_id=snapshot_id))["deleted"] is True
        assert (await call(client, "list_snapshots"))["snapshots"] == []
        assert "no snapshot" in await refused(client, "restore_session", snapshot_id=snapshot_id)


async def test_a_bad_snapshot_id_is_a_clear_tool_error(workspace: Path):
    async with Client(create_server(ServerSettings(base=workspace, timeout=10, eager_start=False))) as client:
        assert "32 hexadecimal" in await refused(client, "restore_session", snapshot_id="../secrets")


async def test_a_snapshot_is_restored_after_a_server_restart(workspace: Path):
    async with Client(server_command(workspace), mode="legacy") as first:
        await call(
            first, "run_code", code="import math\nclass Circle:\n    def __init__(self, r): self.r = r\nc = Circle(2)"
        )
        snapshot_id = (await call(first, "snapshot_session"))["snapshot_id"]
    async with Client(server_command(workspace), mode="legacy") as second:
        await call(second, "restore_session", snapshot_id=snapshot_id)
        area = await call(second, "run_code", code="round(math.pi * c.r ** 2, 2)")
        assert area["value"] == 12.57


async def test_another_principal_cannot_restore_list_or_delete_a_snapshot(http_server: Start, tmp_path: Path):
    server = await http_server("--tokens-file", tokens_file(tmp_path))
    async with server.client(ALICE) as alice, server.client(BOB) as bob:
        await call(alice, "run_code", code="secret = 'alice'")
        snapshot_id = (await call(alice, "snapshot_session"))["snapshot_id"]
        assert (await call(bob, "list_snapshots"))["snapshots"] == []
        stolen = await refused(bob, "restore_session", snapshot_id=snapshot_id)
        missing = await refused(bob, "restore_session", snapshot_id="0" * 32)
        assert stolen.replace(snapshot_id, "ID") == missing.replace("0" * 32, "ID")  # the same answer
        assert "no snapshot" in await refused(bob, "delete_snapshot", snapshot_id=snapshot_id)
        assert len((await call(alice, "list_snapshots"))["snapshots"]) == 1
