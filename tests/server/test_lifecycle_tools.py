"""Labels, history, named sessions, forks, export/import and deletion through the official MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from codemode.errors import SessionExpired, SessionNotFound
from codemode.server import ServerSettings, create_server
from tests.conftest import open_redis_storage
from tests.server.conftest import HttpServer, call, refused
from tests.server.test_registry import registry

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def connect(settings: ServerSettings) -> AsyncIterator[Client]:
    async with Client(create_server(settings)) as client:
        yield client


def settings_for(workspace: Path, **options: Any) -> ServerSettings:
    return ServerSettings(base=workspace, timeout=10, eager_start=False, **options)


async def runs(client: Client, session_id: str, *codes: str) -> None:
    for code in codes:
        await call(client, "run_code", code=code, session_id=session_id)


async def test_set_labels_then_get_labels_and_session_info_show_them(client: Client):
    assert (await call(client, "set_labels", labels={"team": "data"}))["labels"] == {"team": "data"}
    assert (await call(client, "get_labels"))["labels"] == {"team": "data"}
    assert (await call(client, "session_info"))["labels"] == {"team": "data"}


async def test_bad_labels_are_a_tool_error_naming_the_entry(client: Client):
    message = await refused(client, "set_labels", labels={"team": ""})
    assert "label 'team': the value is empty" in message


async def test_list_sessions_filters_on_labels_given_at_open(client: Client):
    tagged = await call(client, "open_session", labels={"env": "prod"})
    await call(client, "open_session", labels={"env": "dev"})
    listed = (await call(client, "list_sessions", labels={"env": "prod"}))["sessions"]
    assert [entry["session_id"] for entry in listed] == [tagged["session_id"]]


async def test_get_history_returns_the_latest_runs_with_their_outcome(client: Client):
    opened = await call(client, "open_session")
    await runs(client, opened["session_id"], "x = 1", "x + 1")
    history = await call(client, "get_history", limit=1, session_id=opened["session_id"])
    assert [(entry["n"], entry["ok"], entry["summary"]) for entry in history["entries"]] == [(2, True, "2")]
    assert history["history_length"] == 2 and history["history_tokens"] > 0


async def test_opening_a_name_twice_attaches_to_the_same_session(client: Client):
    first = await call(client, "open_session", name="work")
    again = await call(client, "open_session", name="work")
    assert again["session_id"] == first["session_id"]


async def value(client: Client, session_id: str, code: str) -> Any:
    return (await call(client, "run_code", code=code, session_id=session_id))["value"]


async def test_a_closed_named_session_is_listed_as_stored(client: Client):
    opened = await call(client, "open_session", name="work", labels={"k": "v"})
    await runs(client, opened["session_id"], "'hello'")
    await call(client, "close_session", session_id=opened["session_id"])
    (stored,) = (await call(client, "list_sessions"))["sessions"][-1:]
    assert (stored["name"], stored["live"], stored["session_id"], stored["history_length"]) == ("work", False, None, 1)
    assert stored["size_bytes"] > 0 and stored["labels"] == {"k": "v"}


async def test_a_closed_named_session_resumes_with_its_variables_files_and_history(client: Client):
    opened = await call(client, "open_session", name="work", labels={"k": "v"})
    await runs(client, opened["session_id"], "import math\nradius = 2", "open('notes.txt', 'w').write('kept')")
    await call(client, "close_session", session_id=opened["session_id"])
    resumed = await call(client, "open_session", name="work")
    assert resumed["session_id"] != opened["session_id"] and resumed["notes"] == []
    assert (resumed["execution_count"], resumed["labels"], resumed["history_length"]) == (2, {"k": "v"}, 2)
    assert await value(client, resumed["session_id"], "round(math.pi * radius**2, 2)") == 12.57
    assert await value(client, resumed["session_id"], "open('notes.txt').read()") == "kept"


async def test_a_fork_starts_with_the_sources_history_and_needs_a_new_name(client: Client):
    source = await call(client, "open_session", name="main")
    await runs(client, source["session_id"], "items = [1]")
    fork = await call(client, "fork_session", name="experiment", session_id=source["session_id"])
    assert fork["session_id"] != source["session_id"] and fork["name"] == "experiment"
    history = await call(client, "get_history", session_id=fork["session_id"])
    assert [entry["code"] for entry in history["entries"]] == ["items = [1]"]
    await runs(client, fork["session_id"], "items.append(2)")
    assert await value(client, fork["session_id"], "items") == [1, 2]
    assert await value(client, source["session_id"], "items") == [1]
    assert "already have a session named 'main'" in await refused(client, "fork_session", name="main")


async def test_an_exported_session_imports_as_an_equal_session(client: Client):
    source = await call(client, "open_session", name="original", labels={"k": "v"})
    await runs(client, source["session_id"], "answer = 6 * 7\nopen('a.txt', 'w').write('A')")
    document = await call(client, "export_session", session_id=source["session_id"])
    assert document["name"] == "original" and document["format"] == "codemode-session/1"
    imported = await call(client, "import_session", document=document, name="copy")
    assert (imported["name"], imported["labels"], imported["execution_count"]) == ("copy", {"k": "v"}, 1)
    history = await call(client, "get_history", session_id=imported["session_id"])
    assert [entry["code"] for entry in history["entries"]] == ["answer = 6 * 7\nopen('a.txt', 'w').write('A')"]
    assert await value(client, imported["session_id"], "answer") == 42
    assert await value(client, imported["session_id"], "open('a.txt').read()") == "A"


async def test_a_saved_session_that_does_not_run_exports_by_name(client: Client):
    opened = await call(client, "open_session", name="resting")
    await runs(client, opened["session_id"], "x = 1")
    await call(client, "close_session", session_id=opened["session_id"])
    document = await call(client, "export_session", name="resting")
    assert document["name"] == "resting" and document["snapshot"] and document["execution_count"] == 1


async def test_an_unnamed_session_exports_too(client: Client):
    await call(client, "run_code", code="'x'")
    document = await call(client, "export_session")
    assert [entry["code"] for entry in document["history"]] == ["'x'"]


async def test_a_malformed_document_is_a_tool_error(client: Client):
    assert "not a session document" in await refused(client, "import_session", document={"name": "x"})


async def test_delete_session_closes_it_and_forgets_it(client: Client):
    opened = await call(client, "open_session", name="gone")
    assert await call(client, "delete_session", name="gone") == {"name": "gone", "deleted": True}
    assert "gone" not in [entry["name"] for entry in (await call(client, "list_sessions"))["sessions"]]
    assert "no open session" in await refused(client, "run_code", code="1", session_id=opened["session_id"])
    assert "no stored session named 'gone'" in await refused(client, "delete_session", name="gone")


async def test_a_named_session_resumes_after_a_server_restart(workspace: Path):
    async with connect(settings_for(workspace)) as client:
        opened = await call(client, "open_session", name="work")
        await runs(client, opened["session_id"], "kept = 'before'")
    async with connect(settings_for(workspace)) as client:
        resumed = await call(client, "open_session", name="work")
        assert await value(client, resumed["session_id"], "kept") == "before"


async def test_an_idle_named_session_is_saved_when_it_expires(workspace: Path):
    async with connect(settings_for(workspace, idle_timeout=0.2)) as client:
        opened = await call(client, "open_session", name="idle")
        await runs(client, opened["session_id"], "kept = 'idle'")
        with anyio.fail_after(10):
            while (await call(client, "list_sessions"))["sessions"][-1]["live"]:
                await anyio.sleep(0.05)
        resumed = await call(client, "open_session", name="idle")
        assert await value(client, resumed["session_id"], "kept") == "idle"


async def test_a_named_session_moves_between_replicas_sharing_redis(workspace: Path):
    async with open_redis_storage() as redis:
        shared = {"storage": "redis", "redis_prefix": redis.prefix}
        async with connect(settings_for(workspace, **shared)) as first:
            opened = await call(first, "open_session", name="roaming")
            await runs(first, opened["session_id"], "where = 'first'\nopen('f.txt', 'w').write('F')")
            await call(first, "close_session", session_id=opened["session_id"])
        async with connect(settings_for(workspace, **shared)) as second:
            resumed = await call(second, "open_session", name="roaming")
            assert await value(second, resumed["session_id"], "where + open('f.txt').read()") == "firstF"


async def test_an_evicted_named_session_is_saved_and_its_id_says_how_to_resume_it(workspace: Path):
    async with registry(workspace, max_per_principal=1) as sessions:
        named = await sessions.open("alice", "work")
        await named.run("kept = 'evicted'")
        await sessions.open("alice")  # evicts "work" to make room
        with pytest.raises(SessionExpired, match="open_session with name 'work' resumes it"):
            await sessions.resolve("alice", named.session_id)
        resumed = await sessions.open("alice", "work")
        assert (await resumed.run("kept")).value == "evicted"


async def test_two_calls_opening_one_name_at_once_get_one_session(workspace: Path):
    async with registry(workspace) as sessions:
        opened: list[str] = []

        async def open_work() -> None:
            opened.append((await sessions.open("alice", "work")).session_id)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(open_work)
            tasks.start_soon(open_work)
        assert len(set(opened)) == 1 and len(sessions) == 1


async def test_principals_have_separate_sessions_of_the_same_name(workspace: Path):
    async with registry(workspace) as sessions:
        alices = await sessions.open("alice", "work")
        await alices.run("'alice'")
        await sessions.close("alice", alices.session_id)
        bobs = await sessions.open("bob", "work")
        assert bobs.get_history() == [] and [s.name for s in await sessions.sessions("bob")] == ["work"]
        with pytest.raises(SessionNotFound):
            await sessions.delete("carol", "work")


async def test_deleting_a_stored_session_makes_its_name_new_again(workspace: Path):
    async with registry(workspace) as sessions:
        first = await sessions.open("alice", "work")
        await first.run("1")
        await sessions.close("alice", first.session_id)
        await sessions.delete("alice", "work")
        assert (await sessions.open("alice", "work")).execution_count == 0


async def test_a_named_session_survives_a_graceful_restart_of_the_server_process(
    http_server: Callable[..., Awaitable[HttpServer]],
):
    server = await http_server()
    async with server.client() as client:
        opened = await call(client, "open_session", name="durable")
        await runs(client, opened["session_id"], "kept = 'across restarts'")
    assert await server.stop() == 0  # SIGTERM: the server saves its named sessions on the way out
    restarted = await http_server()
    async with restarted.client() as client:
        resumed = await call(client, "open_session", name="durable")
        assert await value(client, resumed["session_id"], "kept") == "across restarts"
