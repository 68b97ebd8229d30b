"""run_command: commands in the session's sandbox and working directory."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from codemode import Session
from codemode.errors import InvalidArgument, PathNotAllowed, Unavailable
from codemode.models import ExecutionLimits
from codemode.storage.redis import RedisStorage
from tests.security.conftest import host_processes_with, sandbox  # noqa: F401  (the fixture)

pytestmark = pytest.mark.anyio


async def test_a_list_runs_without_a_shell(session: Session):
    result = await session.run_command(["echo", "$HOME", "two words"])
    assert (result.exit_code, result.stdout, result.ok) == (0, "$HOME two words\n", True)


async def test_a_string_runs_through_the_shell(session: Session):
    result = await session.run_command("echo $((1 + 2)); echo oops >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr, result.ok) == (3, "3\n", "oops\n", False)


async def test_commands_run_in_the_session_directory(session: Session):
    await session.run_command("echo made by a command > made.txt")
    assert await session.read_file("made.txt") == "made by a command\n"
    assert (await session.run_command(["pwd"])).stdout.strip() == session.info().confinement.workdir  # type: ignore[union-attr]


async def test_cwd_is_relative_to_the_session_directory(session: Session):
    await session.write_file("sub/inside.txt", "x")
    assert (await session.run_command(["ls"], cwd="sub")).stdout == "inside.txt\n"


@pytest.mark.parametrize("cwd", ["/tmp", "..", "sub/../.."])
async def test_a_cwd_outside_the_session_directory_is_refused(session: Session, cwd: str):
    with pytest.raises(PathNotAllowed):
        await session.run_command(["pwd"], cwd=cwd)


async def test_a_cwd_through_a_symlink_is_refused(session: Session):
    await session.run("import os; os.symlink('/', 'root')")
    with pytest.raises(PathNotAllowed, match="symbolic link"):
        await session.run_command(["ls"], cwd="root")


async def test_a_timeout_kills_the_command_and_its_children(session: Session):
    marker = f"1000.{secrets.randbelow(10**6):06d}"  # a sleep no other process runs
    result = await session.run_command(f"sleep {marker} & echo started; wait", timeout=1)
    assert (result.timed_out, result.exit_code, result.stdout) == (True, -9, "started\n")
    assert host_processes_with(f"sleep {marker}") == []


async def test_python_state_survives_a_command(session: Session):
    await session.run("x = 41")
    await session.run_command(["true"])
    assert (await session.run("x + 1")).value == 42


async def test_output_is_capped(workspace: Path):
    async with Session.from_base(workspace, limits=ExecutionLimits(output_cap=100)) as session:
        result = await session.run_command("yes | head -c 100000")
        assert (len(result.stdout), result.truncated, result.exit_code) == (100, True, 0)


async def test_a_missing_program_exits_127(session: Session):
    result = await session.run_command(["no-such-program-here"])
    assert result.exit_code == 127
    assert "no-such-program-here" in result.stderr


@pytest.mark.parametrize("command", ["", "   ", [], [""], [1, 2], None])
async def test_malformed_commands_are_refused(session: Session, command: object):
    with pytest.raises(InvalidArgument, match="command"):
        await session.run_command(command)  # type: ignore[arg-type]


@pytest.mark.usefixtures("sandbox")
async def test_the_command_is_confined_to_the_sandbox(session: Session, workspace: Path):
    (workspace / "visible-to-the-host.txt").write_text("x")
    result = await session.run_command(["ls", str(workspace)])
    assert result.exit_code != 0
    assert "No such file or directory" in result.stderr


async def test_the_inprocess_executor_cannot_run_commands(workspace: Path):
    async with Session.inprocess(workspace) as session:
        with pytest.raises(Unavailable, match="no session directory"):
            await session.run_command(["true"])


async def test_commands_work_in_a_session_on_redis_storage(redis_storage: RedisStorage):
    async with Session(storage=redis_storage) as session:
        assert (await session.run_command("echo redis")).stdout == "redis\n"
