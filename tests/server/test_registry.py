"""The session registry under its caps: idle sessions make room, busy ones never do, and owners hear why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from codemode import Session
from codemode.errors import LimitExceeded, SessionExpired, SessionNotFound
from codemode.server.capacity import Limits
from codemode.server.factory import ServerParts
from codemode.server.registry import SessionRegistry
from codemode.server.settings import ServerSettings

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def registry(base: Path, **limits: object) -> AsyncIterator[SessionRegistry]:
    """A registry of real subprocess sessions on ``base``, with these ``Limits``."""
    factory = ServerParts(ServerSettings(base=base, timeout=10))
    workspace = factory.workspace()
    new_session = lambda name, executor: factory.session(workspace, name, executor)  # noqa: E731
    async with SessionRegistry(new_session, workspace, Limits(**limits)) as opened:  # type: ignore[arg-type]
        yield opened


# Runs until the host saves the artifact "release": a signal that reaches a sandboxed worker too.
WAIT_FOR_RELEASE = """
import time
while not artifacts.exists("release"):
    time.sleep(0.01)
"""


@asynccontextmanager
async def running(session: Session) -> AsyncIterator[None]:
    """``session`` is busy running code until the block ends."""

    async def run_until_released() -> None:
        outcome = await session.run(WAIT_FOR_RELEASE)
        assert outcome.is_ok, outcome  # released, not timed out

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run_until_released)
        with anyio.fail_after(10):
            while not session.busy:
                await anyio.sleep(0.01)
        yield
        await session.workspace.artifacts.save("release", True)


async def test_a_full_principal_closes_its_least_recently_used_idle_session(workspace: Path):
    async with registry(workspace, max_per_principal=2) as sessions:
        first = await sessions.open("alice")
        second = await sessions.open("alice")
        await sessions.resolve("alice", first.session_id)  # first is now the more recently used
        third = await sessions.open("alice")
        assert second.closed and not first.closed and not third.closed
        assert sessions.count("alice") == 2


async def test_a_busy_session_is_never_closed_to_make_room(workspace: Path):
    async with registry(workspace, max_per_principal=2) as sessions:
        oldest = await sessions.open("alice")
        newer = await sessions.open("alice")
        async with running(oldest):
            await sessions.open("alice")
            assert newer.closed and not oldest.closed


async def test_when_every_session_is_busy_a_new_one_is_refused_and_nothing_closes(workspace: Path):
    async with registry(workspace, max_per_principal=1) as sessions:
        only = await sessions.open("alice")
        async with running(only):
            with pytest.raises(LimitExceeded, match="every one is running code"):
                await sessions.open("alice")
            assert not only.closed and len(sessions) == 1


async def test_an_evicted_session_answers_expired_to_its_owner(workspace: Path):
    async with registry(workspace, max_per_principal=1) as sessions:
        evicted = await sessions.open("alice")
        await sessions.open("alice")
        with pytest.raises(SessionExpired, match=r"--max-sessions-per-principal.*open_session"):
            await sessions.resolve("alice", evicted.session_id)
        with pytest.raises(SessionExpired):
            await sessions.close("alice", evicted.session_id)


async def test_an_evicted_session_answers_not_found_to_another_principal(workspace: Path):
    async with registry(workspace, max_per_principal=1) as sessions:
        evicted = await sessions.open("alice")
        await sessions.open("alice")
        with pytest.raises(SessionNotFound) as stolen:
            await sessions.resolve("bob", evicted.session_id)
        with pytest.raises(SessionNotFound) as wrong:
            await sessions.resolve("bob", "x" * 32)
        assert not isinstance(stolen.value, SessionExpired)
        assert str(stolen.value).replace(evicted.session_id, "ID") == str(wrong.value).replace("x" * 32, "ID")


async def test_a_session_its_owner_closed_answers_not_found(workspace: Path):
    async with registry(workspace) as sessions:
        closed = await sessions.open("alice")
        await sessions.close("alice", closed.session_id)
        with pytest.raises(SessionNotFound) as raised:
            await sessions.resolve("alice", closed.session_id)
        assert not isinstance(raised.value, SessionExpired)


async def test_the_server_cap_closes_the_callers_own_idle_session_first(workspace: Path):
    async with registry(workspace, max_sessions=3) as sessions:
        bobs = await sessions.open("bob")  # the oldest on the server
        alices_first = await sessions.open("alice")
        alices_second = await sessions.open("alice")
        await sessions.open("alice")
        assert alices_first.closed and not bobs.closed and not alices_second.closed


async def test_the_server_cap_closes_another_principals_idle_session_when_the_caller_has_none(workspace: Path):
    async with registry(workspace, max_sessions=2) as sessions:
        older = await sessions.open("alice")
        newer = await sessions.open("alice")
        await sessions.open("bob")
        assert older.closed and not newer.closed
        with pytest.raises(SessionExpired, match=r"--max-sessions\)"):
            await sessions.resolve("alice", older.session_id)


async def test_an_idle_expired_session_answers_expired(workspace: Path):
    async with registry(workspace, idle_timeout=0.2) as sessions:
        idle = await sessions.open("alice")
        with anyio.fail_after(10):
            while not idle.closed:
                await anyio.sleep(0.05)
        with pytest.raises(SessionExpired, match="--idle-timeout"):
            await sessions.resolve("alice", idle.session_id)


async def test_only_the_latest_expired_ids_are_remembered(workspace: Path):
    async with registry(workspace, max_per_principal=1, remembered_expired=2) as sessions:
        opened = [await sessions.open("alice") for _ in range(4)]  # the first three are evicted
        forgotten, remembered = opened[0], opened[1]
        with pytest.raises(SessionNotFound) as raised:
            await sessions.resolve("alice", forgotten.session_id)
        assert not isinstance(raised.value, SessionExpired)
        with pytest.raises(SessionExpired):
            await sessions.resolve("alice", remembered.session_id)


async def test_an_evicted_default_session_is_replaced_on_the_next_call(workspace: Path):
    async with registry(workspace, max_per_principal=1) as sessions:
        default = await sessions.resolve("alice")
        await sessions.open("alice")
        replacement = await sessions.resolve("alice")
        assert default.closed and replacement is not default and not replacement.closed


async def test_the_first_run_after_a_default_session_was_evicted_says_its_state_was_lost(workspace: Path):
    async with registry(workspace, max_per_principal=1) as sessions:
        await (await sessions.resolve("alice")).run("kept = 1")
        await sessions.open("alice")  # the cap closes the idle default session
        replacement = await sessions.resolve("alice")
        first = await replacement.run("'kept' in globals()")
        second = await replacement.run("1")
    assert first.value is False and first.state_lost
    assert any("your default session was closed" in note for note in first.notes)
    assert not second.state_lost and not second.notes


async def test_sessions_lists_only_the_callers_own(workspace: Path):
    async with registry(workspace) as sessions:
        first = await sessions.open("alice", "first")
        second = await sessions.open("alice")
        await sessions.open("bob")
        listed = await sessions.sessions("alice")
        assert [entry.session_id for entry in listed] == [first.session_id, second.session_id]
        assert listed[0].name == "first" and listed[0].created_at == first.created_at
        assert await sessions.sessions("carol") == []


async def test_sessions_say_which_is_busy_and_when_each_was_last_used(workspace: Path):
    async with registry(workspace) as sessions:
        idle = await sessions.open("alice")
        working = await sessions.open("alice")
        async with running(working):
            listed = {entry.session_id: entry for entry in await sessions.sessions("alice")}
        assert listed[working.session_id].busy and not listed[idle.session_id].busy
        assert listed[working.session_id].last_used_at > listed[idle.session_id].last_used_at


async def test_sessions_filter_on_labels(workspace: Path):
    async with registry(workspace) as sessions:
        tagged = await sessions.open("alice")
        tagged.labels.update({"team": "data", "env": "dev"})
        other = await sessions.open("alice")
        other.labels.update({"team": "web"})
        assert [entry.session_id for entry in await sessions.sessions("alice", {"team": "data"})] == [tagged.session_id]
        assert await sessions.sessions("alice", {"team": "data", "env": "prod"}) == []
        assert len(await sessions.sessions("alice", {})) == 2
