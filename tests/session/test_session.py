"""The Session façade: lifecycle, options and info."""

from __future__ import annotations

from pathlib import Path

import pytest

from codemode import InvalidArgument, Session, SessionClosed
from codemode.storage import FileStorage

pytestmark = pytest.mark.anyio


async def test_start_is_idempotent(workspace: Path):
    session = Session.from_base(workspace)
    await session.start()
    pid = session.info().worker_pid
    await session.start()
    assert session.info().worker_pid == pid
    await session.close()


async def test_run_starts_the_session_if_needed(workspace: Path):
    session = Session.from_base(workspace)
    try:
        assert (await session.run("1 + 1")).value_repr == "2"
    finally:
        await session.close()


async def test_a_closed_session_refuses_to_run(workspace: Path):
    session = Session.from_base(workspace)
    await session.start()
    await session.close()
    with pytest.raises(SessionClosed):
        await session.run("1")
    await session.close()  # closing twice is harmless


async def test_default_timeout_applies_and_can_be_overridden(workspace: Path):
    async with Session.from_base(workspace, timeout=0.3) as session:
        assert (await session.run("import time\ntime.sleep(2)")).error_info.type == "TimeoutError"  # type: ignore[union-attr]
        assert (await session.run("import time\ntime.sleep(0.5)\n1", timeout=5)).value_repr == "1"


@pytest.mark.parametrize("timeout", [0, -1, "soon"])
async def test_invalid_timeouts_are_refused(session: Session, timeout: object):
    with pytest.raises(InvalidArgument, match="timeout"):
        await session.run("1", timeout=timeout)  # type: ignore[arg-type]


async def test_code_must_be_a_string(session: Session):
    with pytest.raises(InvalidArgument, match="code must be a string"):
        await session.run(b"1")  # type: ignore[arg-type]


async def test_result_names_the_session(session: Session):
    assert (await session.run("1")).session_id == session.session_id


async def test_info_describes_the_session(session: Session, workspace: Path):
    await session.run("1")
    info = session.info()
    assert info.session_id == session.session_id
    assert info.execution_count == 1
    assert info.executor == "subprocess"
    assert info.python_version and info.python_executable and info.worker_pid
    assert info.default_timeout == 10
    assert len(info.session_id) >= 22  # at least 128 random bits


async def test_constructor_defaults_to_a_subprocess_executor(workspace: Path):
    async with Session(FileStorage(workspace)) as session:
        assert session.supports("process_isolation")
        assert session.storage.location == str(workspace.resolve())


async def test_unknown_executor_name_is_refused(workspace: Path):
    with pytest.raises(InvalidArgument, match="unknown executor"):
        Session.from_base(workspace, executor="docker")  # type: ignore[arg-type]


async def test_named_constructors_pick_their_executor(workspace: Path):
    assert Session.subprocess(workspace).executor.name == "subprocess"
    assert Session.inprocess(workspace).executor.name == "inprocess"
