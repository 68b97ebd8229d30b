"""The in-process executor: same results as the worker, no isolation."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode import Session
from codemode.session import javascript

pytestmark = pytest.mark.anyio


@pytest.fixture
async def inprocess(workspace: Path) -> AsyncIterator[Session]:
    async with Session.inprocess(workspace, timeout=10) as session:
        yield session


async def test_values_state_and_count_match_the_worker(inprocess: Session):
    await inprocess.run("x = 20")
    result = await inprocess.run("x + 22")
    assert (result.value_repr, result.execution_count, result.is_ok) == ("42", 2, True)


async def test_python_output_is_captured_and_not_leaked(inprocess: Session, capsys: pytest.CaptureFixture[str]):
    result = await inprocess.run("import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert capsys.readouterr().out == ""


async def test_output_of_other_threads_of_the_host_is_untouched(inprocess: Session):
    await inprocess.run("print('session')")
    assert sys.stdout.write("") == 0  # the host's stream still works


async def test_errors_have_the_same_shape(inprocess: Session):
    result = await inprocess.run("1 / 0")
    assert result.error_info is not None
    assert result.error_info.type == "ZeroDivisionError"
    assert "inprocess.py" not in result.error_info.traceback


async def test_timeout_interrupts_python_code_and_keeps_variables(inprocess: Session):
    await inprocess.run("kept = 1")
    result = await inprocess.run("while True:\n    pass", timeout=0.3)
    assert result.error_info is not None
    assert result.error_info.type == "TimeoutError"
    assert not result.state_lost
    assert (await inprocess.run("kept")).value_repr == "1"


async def test_code_blocked_in_c_is_abandoned_with_a_fresh_namespace(workspace: Path):
    from codemode import ExecutionLimits

    async with Session.inprocess(workspace, limits=ExecutionLimits(interrupt_grace=0.2)) as session:
        await session.run("kept = 1")
        result = await session.run("import time\ntime.sleep(1.5)", timeout=0.2)
        assert result.state_lost
        assert (await session.run("kept")).error_info.type == "NameError"  # type: ignore[union-attr]


async def test_calls_to_the_host_work(inprocess: Session):
    result = await inprocess.run("artifacts.save('a', b'bytes')\nartifacts.load('a')")
    assert result.value_repr == "b'bytes'"


async def test_reports_only_the_capabilities_it_has(inprocess: Session):
    node = {"javascript"} if javascript.available() else set()  # node runs unconfined, like everything here
    assert inprocess.supported_capabilities() == {"timeout", "reset"} | node
    assert not inprocess.supports("process_isolation")


async def test_reset_clears_variables(inprocess: Session):
    await inprocess.run("x = 1")
    await inprocess.reset()
    assert (await inprocess.run("x")).error_info.type == "NameError"  # type: ignore[union-attr]


async def test_threads_started_by_the_code_reach_the_host(inprocess: Session):
    code = (
        "import threading\n"
        "t = threading.Thread(target=lambda: artifacts.save('from_thread', 1))\n"
        "t.start(); t.join()\n"
        "artifacts.load('from_thread')"
    )
    assert (await inprocess.run(code)).value_repr == "1"


async def test_an_operation_runs_in_the_in_process_interpreter_too(workspace: Path):
    async with Session.from_base(workspace, executor="inprocess") as session:
        await session.run("gamma = 3")
        assert await session.executor.request("user_names") == ["gamma"]
