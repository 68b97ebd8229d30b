"""The subprocess executor with a real worker process: every behaviour the worker promises."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import anyio
import pytest

from codemode import Capability, ExecutionLimits, Session, SubprocessExecutor
from codemode.errors import OperationFailed
from codemode.storage import FileStorage
from tests.processes import dies

pytestmark = pytest.mark.anyio


def small_session(workspace: Path, **limits: object) -> Session:
    executor = SubprocessExecutor(limits=ExecutionLimits(**limits))  # type: ignore[arg-type]
    return Session(FileStorage(workspace), executor, timeout=10)


# -- state and values --------------------------------------------------------------


async def test_variables_functions_and_imports_persist(session: Session):
    await session.run("import json\ndef double(x):\n    return 2 * x\ncounter = 1")
    result = await session.run("counter += 1\njson.dumps(double(counter))")
    assert result.is_ok
    assert result.value_repr == "'4'"


async def test_result_counts_and_times_each_run(session: Session):
    first = await session.run("1")
    second = await session.run("2")
    assert (first.execution_count, second.execution_count) == (1, 2)
    assert second.duration_ms > 0
    assert session.execution_count == 2


async def test_top_level_await_works(session: Session):
    result = await session.run("import asyncio\nawait asyncio.sleep(0.01)\n'done'")
    assert result.value_repr == "'done'"


async def test_code_runs_in_a_directory_of_its_own_which_is_its_home(session: Session, workspace: Path):
    result = await session.run("import os\nos.getcwd(), os.environ['HOME']")
    info = session.info()
    assert info.confinement is not None
    assert result.value == (info.confinement.workdir, info.confinement.workdir)
    assert info.confinement.workdir != str(workspace)


async def test_user_code_cannot_import_our_modules_by_accident(session: Session):
    result = await session.run("import subprocess\nsubprocess.__file__")
    assert "codemode" not in (result.value_repr or "")


# -- output ------------------------------------------------------------------------


async def test_print_and_stderr_are_captured_separately(session: Session):
    result = await session.run("import sys\nprint('out')\nprint('err', file=sys.stderr)")
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


async def test_output_of_child_processes_and_c_code_is_captured_in_order(session: Session):
    code = (
        "import ctypes, os, subprocess\n"
        "print('python')\n"
        "os.system('echo shell')\n"
        "subprocess.run(['echo', 'child'])\n"
        "ctypes.CDLL(None).printf(b'from c\\n')\n"
        "os.write(2, b'fd two\\n')"
    )
    result = await session.run(code)
    assert result.stdout == "python\nshell\nchild\nfrom c\n"
    assert result.stderr == "fd two\n"


async def test_fd_output_never_corrupts_the_protocol(session: Session):
    binary = "import os\nos.write(1, bytes(range(256)) * 100)\nos.write(1, b'\\x00\\x00\\x00\\x10{')"
    result = await session.run(binary)
    assert result.is_ok
    assert (await session.run("40 + 2")).value_repr == "42"


async def test_output_above_the_cap_is_cut_and_marked(workspace: Path):
    async with small_session(workspace, output_cap=1000) as session:
        result = await session.run("print('x' * 5000)")
        assert result.truncated
        assert len(result.stdout) == 1000
        follow_up = await session.run("print('small')")
        assert follow_up.stdout == "small\n"
        assert not follow_up.truncated


async def test_a_gigabyte_of_output_does_not_reach_host_memory(session: Session):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await session.run("import os\nos.system('head -c 1000000000 /dev/zero')", timeout=120)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.truncated
    assert len(result.stdout) == 1024 * 1024
    assert grown_mb < 100


# -- errors ------------------------------------------------------------------------


async def test_exception_is_reported_with_a_clean_traceback(session: Session):
    result = await session.run("x = 1\nraise ValueError('bad value')")
    assert not result.is_ok
    assert result.error_info is not None
    assert (result.error_info.type, result.error_info.message, result.error_info.line) == ("ValueError", "bad value", 2)
    assert "worker.py" not in result.error_info.traceback
    assert "interpreter.py" not in result.error_info.traceback


async def test_syntax_error_gives_line_and_column(session: Session):
    result = await session.run("a = 1\nb = a +")
    assert result.error_info is not None
    assert (result.error_info.type, result.error_info.line) == ("SyntaxError", 2)
    assert result.error_info.column == 8


async def test_input_fails_clearly_instead_of_hanging(session: Session):
    result = await session.run("input('your name? ')", timeout=5)
    assert result.error_info is not None
    assert result.error_info.type == "EOFError"
    assert "not available" in result.error_info.message


async def test_reading_stdin_at_fd_level_gets_end_of_file(session: Session):
    result = await session.run("import os\nos.read(0, 10)", timeout=5)
    assert result.value_repr == "b''"


async def test_exit_is_reported_and_the_session_keeps_its_variables(session: Session):
    await session.run("kept = 'yes'")
    result = await session.run("import sys\nsys.exit(2)")
    assert result.error_info is not None
    assert result.error_info.type == "SystemExit"
    assert not result.state_lost
    assert (await session.run("kept")).value_repr == "'yes'"


async def test_worker_that_exits_is_replaced_and_the_result_says_state_was_lost(session: Session):
    await session.run("kept = 1")
    old_pid = session.info().worker_pid
    result = await session.run("import os\nos._exit(3)")
    assert result.error_info is not None
    assert result.error_info.type == "WorkerDied"
    assert "exit code 3" in result.error_info.message
    assert result.state_lost
    assert (await session.run("kept")).error_info.type == "NameError"  # type: ignore[union-attr]
    assert session.info().worker_pid != old_pid


async def test_segfault_is_reported_and_the_next_run_works(session: Session):
    result = await session.run("import ctypes\nctypes.string_at(0)")
    assert result.error_info is not None
    assert result.error_info.type == "WorkerDied"
    assert "SIGSEGV" in result.error_info.message
    assert (await session.run("1 + 1")).value_repr == "2"


# -- timeouts and interruption -----------------------------------------------------


async def test_timeout_interrupts_the_code_and_keeps_variables(session: Session):
    await session.run("kept = [1, 2, 3]")
    result = await session.run("import time\nwhile True:\n    time.sleep(0.01)", timeout=0.5)
    assert result.error_info is not None
    assert result.error_info.type == "TimeoutError"
    assert "intact" in result.error_info.message
    assert "<cell-" in result.error_info.traceback  # where it was interrupted
    assert not result.state_lost
    assert (await session.run("kept")).value_repr == "[1, 2, 3]"


async def test_output_before_a_timeout_is_kept(session: Session):
    result = await session.run("import time\nprint('started')\ntime.sleep(30)", timeout=0.5)
    assert result.stdout == "started\n"


async def test_code_that_ignores_interrupts_is_killed_after_the_grace_period(workspace: Path):
    async with small_session(workspace, interrupt_grace=0.5) as session:
        await session.run("kept = 1")
        old_pid = session.info().worker_pid
        swallow = (
            "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        ..."
        )
        result = await session.run(swallow, timeout=0.3)
        assert result.error_info is not None
        assert result.error_info.type == "TimeoutError"
        assert result.state_lost
        assert old_pid is not None and await dies(old_pid)
        assert (await session.run("kept")).error_info.type == "NameError"  # type: ignore[union-attr]


async def test_code_stuck_with_signals_blocked_is_killed(workspace: Path):
    async with small_session(workspace, interrupt_grace=0.5) as session:
        stuck = "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\ntime.sleep(60)"
        result = await session.run(stuck, timeout=0.3)
        assert result.state_lost
        assert (await session.run("'fresh'")).value_repr == "'fresh'"


async def test_no_timeout_means_no_limit(workspace: Path):
    async with Session.from_base(workspace, timeout=0.1) as session:
        result = await session.run("import time\ntime.sleep(0.3)\n'finished'", timeout=None)
        assert result.value_repr == "'finished'"


async def test_cancelling_a_run_interrupts_it_and_the_session_stays_usable(session: Session):
    await session.run("kept = 'still here'")
    with anyio.move_on_after(0.3):
        await session.run("import time\ntime.sleep(30)")
    result = await session.run("kept")
    assert result.value_repr == "'still here'"


async def test_concurrent_runs_complete_one_after_the_other_in_order(session: Session):
    await session.run("log = []")
    results = {}

    async def run(index: int) -> None:
        results[index] = await session.run(f"import time\ntime.sleep(0.05)\nlog.append({index})\nlen(log)")

    async with anyio.create_task_group() as tasks:
        for index in range(3):
            tasks.start_soon(run, index)
            await anyio.sleep(0.01)  # start them in a known order
    assert [results[index].value_repr for index in range(3)] == ["1", "2", "3"]
    assert (await session.run("log")).value_repr == "[0, 1, 2]"


# -- reset and lifecycle -----------------------------------------------------------


async def test_soft_reset_clears_variables_and_keeps_the_namespaces(session: Session):
    await session.run("x = 1")
    pid = session.info().worker_pid
    await session.reset()
    assert (await session.run("x")).error_info.type == "NameError"  # type: ignore[union-attr]
    assert (await session.run("type(artifacts).__name__")).value_repr == "'Artifacts'"
    assert session.info().worker_pid == pid


async def test_hard_reset_starts_a_fresh_worker(session: Session):
    pid = session.info().worker_pid
    await session.reset(hard=True)
    assert session.info().worker_pid != pid
    assert pid is not None and await dies(pid)


async def test_close_leaves_no_process_behind_not_even_children(workspace: Path):
    session = Session.from_base(workspace, sandbox="none")  # host pids; the sandboxed case is in tests/security
    await session.start()
    result = await session.run("import subprocess\nsubprocess.Popen(['sleep', '60']).pid")
    child = int(result.value_repr or 0)
    worker = session.info().worker_pid
    await session.close()
    assert worker is not None and await dies(worker)
    assert await dies(child)


def test_capability_all_names_every_capability_including_py_code_modes():
    everything = Capability.all()
    assert everything == set(Capability) and isinstance(everything, set)
    assert {"network_filtering", "deps_uninstall", "timeout", "process_isolation"} <= everything


async def test_capabilities_of_an_unconfined_worker_claim_no_isolation(workspace: Path):
    async with Session.from_base(workspace, sandbox="none") as session:
        assert session.supports("timeout")
        assert session.supports(Capability.PROCESS_ISOLATION)
        assert not session.supports("container_isolation")
        assert not session.supports("filesystem_isolation")
        assert not session.supports("network_isolation")
        assert not session.supports("network_filtering")
        assert {"memory_limit", "cpu_limit"} <= session.supported_capabilities()
        confinement = session.info().confinement
        assert confinement is not None and confinement.sandbox == "none" and confinement.not_confined


async def test_worker_that_cannot_start_gives_a_clear_error(workspace: Path):
    executor = SubprocessExecutor(python=str(workspace / "no-such-python"))
    session = Session(FileStorage(workspace), executor)
    with pytest.raises(Exception, match="cannot start the worker"):
        await session.start()


async def test_sigint_to_an_idle_worker_is_harmless(session: Session):
    await session.run("x = 5")
    pid = session.info().worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)
    await anyio.sleep(0.1)
    assert (await session.run("x")).value_repr == "5"


# -- calls from code to the host ---------------------------------------------------


async def test_code_reaches_the_host_while_it_runs(session: Session):
    result = await session.run("artifacts.save('note', 'hello')\nartifacts.load('note')")
    assert result.value_repr == "'hello'"
    assert await session.load_artifact("note") == "hello"


async def test_host_errors_reach_code_as_catchable_exceptions(session: Session):
    code = "try:\n    artifacts.load('missing')\nexcept LookupError as exc:\n    caught = str(exc)\ncaught"
    assert (await session.run(code)).value_repr == "\"no artifact named 'missing'\""


async def test_calls_from_threads_are_served(session: Session):
    code = (
        "import threading\n"
        "def save(i):\n"
        "    artifacts.save(f'item{i}', i)\n"
        "threads = [threading.Thread(target=save, args=(i,)) for i in range(5)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "sorted(a['name'] for a in artifacts.list())"
    )
    result = await session.run(code)
    assert result.value_repr == str([f"item{i}" for i in range(5)])


async def test_data_that_cannot_cross_to_the_host_gives_a_clear_error(session: Session):
    result = await session.run("artifacts.save('bad', {1, 2})")
    assert result.error_info is not None
    assert result.error_info.type == "TypeError"
    assert "JSON" in result.error_info.message


async def test_timeout_while_the_host_serves_a_call_keeps_the_session_consistent(session: Session):
    code = "import time\nwhile True:\n    artifacts.list()"
    result = await session.run(code, timeout=0.5)
    assert result.error_info is not None
    assert result.error_info.type == "TimeoutError"
    assert not result.state_lost
    assert (await session.run("artifacts.list()")).is_ok


async def test_wrong_arguments_to_a_host_call_are_a_clear_error(session: Session):
    result = await session.run("artifacts._call('artifacts.save', {'name': 'x', 'data': 1, 'colour': 'red'})")
    assert result.error_info is not None
    assert result.error_info.type == "InvalidArgument"
    assert "colour" in result.error_info.message


# -- operations besides running code -----------------------------------------------


async def test_an_operation_returns_its_result(session: Session):
    await session.run("alpha = 1\ndef beta(): pass")
    assert await session.executor.request("user_names") == ["alpha", "beta"]


async def test_an_unknown_operation_fails_clearly_and_the_session_goes_on(session: Session):
    with pytest.raises(OperationFailed, match="UnknownOperation: this worker has no operation 'nope'"):
        await session.executor.request("nope")
    assert (await session.run("1 + 1")).value == 2


async def test_operation_modules_load_when_first_used(session: Session):
    # What snapshots and commands import stays out of a worker that never uses them (memory per session).
    probe = "import sys\nsorted(name for name in ('pickle', 'subprocess', 'shutil') if name in sys.modules)"
    assert (await session.run(probe)).value == []
    await session.executor.request("user_names")
    assert (await session.run(probe)).value == []
    with pytest.raises(OperationFailed, match="UnknownOperation"):  # looks through every module, loading each
        await session.executor.request("nope")
    assert (await session.run(probe)).value == ["pickle", "shutil", "subprocess"]


async def test_an_operation_module_that_cannot_load_fails_the_operation_not_the_worker(session: Session):
    await session.run("import sys\nx = 41\nsys.modules['pickle'] = None  # snapshot_ops imports it")
    with pytest.raises(OperationFailed, match="cannot load"):
        await session.executor.request("snapshot_save", {"path": "/nowhere", "serializer": None, "max_bytes": 1})
    result = await session.run("x + 1")
    assert (result.value, result.state_lost) == (42, False)
    await session.run("del sys.modules['pickle']")
    assert "x" in (await session.snapshot_state()).info.saved  # the module loads once it can
