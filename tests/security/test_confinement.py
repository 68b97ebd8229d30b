"""Each confinement claim (``supports()``, ``session_info``) attacked through ``Session``.

The claims differ with what the machine offers: bubblewrap (namespaces, private file
system), cgroups (a memory and process limit for the whole tree), or only rlimits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from codemode import Session
from codemode.models import ExecutionLimits
from codemode.sandbox.launcher import SandboxConfig
from tests.processes import unique_seconds
from tests.security.conftest import CONNECT, host_can_connect, host_processes_with, until_gone

pytestmark = pytest.mark.anyio


def _session(workspace: Path, sandbox: str | SandboxConfig = "bwrap", **limits: object) -> Session:
    return Session.from_base(workspace, timeout=20, sandbox=sandbox, limits=ExecutionLimits(**limits))  # type: ignore[arg-type]


@pytest.mark.usefixtures("sandbox")
async def test_filesystem_isolation_hides_the_workspace_the_server_and_other_sessions(workspace: Path):
    (workspace / "secret.txt").write_text("workspace internals")
    async with _session(workspace) as first, _session(workspace) as second:
        assert first.supports("filesystem_isolation") and first.supports("container_isolation")
        other_home = second.info().confinement.workdir  # type: ignore[union-attr]
        hidden = [str(workspace / "secret.txt"), other_home, str(Path.cwd() / "pyproject.toml"), "/var", "/etc/shadow"]
        probe = f"""
import os
found = {{}}
for path in {hidden!r}:
    found[path] = os.path.exists(path)
writes = {{}}
for path in ['/usr/evil', '/etc/evil', '/evil']:
    try:
        open(path, 'w')
        writes[path] = 'written'
    except OSError as exc:
        writes[path] = exc.errno
[found, writes, sorted(os.listdir('/'))]
"""
        result = await first.run(probe)
    found, writes, root = result.value
    assert not any(found.values()), found
    assert "written" not in writes.values()
    assert set(root) <= _SYSTEM_ROOTS | _roots_of_bound_paths(other_home), root


_SYSTEM_ROOTS = {"bin", "lib", "lib32", "lib64", "libx32", "sbin", "usr", "etc", "proc", "dev", "tmp"}


def _roots_of_bound_paths(session_dir: str) -> set[str]:
    """The top-level directories leading to what the sandbox binds: interpreter, venv, package, session state.

    Where a checkout lives differs per machine (``/work``, ``/check``, ``/home/...``); anything else at the
    root (``/var``, ``/srv``, ``/root``) is the host showing through.
    """
    import codemode

    bound = [sys.prefix, sys.base_prefix, os.path.realpath(sys.executable), codemode.__file__, session_dir]
    return {Path(path).parts[1] for path in bound}


@pytest.mark.usefixtures("sandbox")
async def test_tmp_is_private_to_the_session(workspace: Path):
    async with _session(workspace) as first, _session(workspace) as second:
        await first.run("open('/tmp/mine', 'w').write('first')")
        result = await second.run("import os\nos.path.exists('/tmp/mine')")
    assert result.value is False


@pytest.mark.usefixtures("sandbox")
async def test_network_off_is_an_empty_namespace_and_on_reaches_loopback(workspace: Path, loopback_port: int):
    assert await host_can_connect(loopback_port)
    code = CONNECT.format(port=loopback_port)
    async with _session(workspace, SandboxConfig(mode="bwrap", network=False)) as off:
        assert off.supports("network_isolation")
        assert not off.supports("network_filtering")  # no allow_hosts: nothing is let through
        assert (await off.run(code)).value == "ConnectionRefusedError"  # its own loopback, where nothing listens
    async with _session(workspace, SandboxConfig(mode="bwrap", network=True)) as on:
        assert not on.supports("network_isolation")
        assert (await on.run(code)).value == "reached"


async def test_the_environment_is_an_allow_list_plus_what_is_passed(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CODEMODE_SECRET_PROBE", "s3cret")
    monkeypatch.setenv("WANTED_BY_CODE", "yes")
    config = SandboxConfig(mode="auto", pass_env=("WANTED_BY_CODE",))
    async with _session(workspace, config) as session:
        result = await session.run("import os\ndict(os.environ)")
    assert "CODEMODE_SECRET_PROBE" not in result.value
    assert result.value["WANTED_BY_CODE"] == "yes"
    assert result.value["HOME"] == session.info().confinement.workdir  # type: ignore[union-attr]


FSTAT_EVERY_FD = """
import os
fds = []
for fd in os.listdir('/proc/self/fd'):
    try:
        fds.append(list(os.fstat(int(fd))[1:3]))
    except OSError:
        pass
fds
"""


async def test_the_worker_inherits_no_descriptor_of_the_server(workspace: Path):
    server_stderr = os.fstat(2)
    async with _session(workspace, "auto") as session:
        result = await session.run(FSTAT_EVERY_FD)
    assert [server_stderr.st_ino, server_stderr.st_dev] not in result.value


async def test_cpu_limit_stops_a_busy_loop_and_the_session_goes_on(workspace: Path):
    async with _session(workspace, "auto", cpu_seconds=1) as session:
        assert session.supports("cpu_limit")
        result = await session.run("while True:\n    pass")
        assert result.error == "CpuLimitReached: CPU time limit of 1 s reached"
        assert (await session.run("1 + 1")).value == 2


async def test_memory_limit_covers_the_whole_process_tree_where_cgroups_work(workspace: Path):
    code = """
import subprocess, sys
hog = "x = bytearray(120 * 1024**2); x[::4096] = b'1' * len(x[::4096]); import time; time.sleep(5)"
children = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(4)]
[child.wait() for child in children]
"""
    async with _session(workspace, "auto", memory_bytes=300 * 1024**2) as session:
        if not session.info().confinement.cgroup:  # type: ignore[union-attr]
            pytest.skip("cgroups are not writable here: memory is limited per process only")
        result = await session.run(code)
    assert -9 in result.value  # the kernel killed one of them: 4 x 120 MiB do not fit in 300 MiB


async def test_unconfined_workers_still_lose_escaped_children_where_cgroups_work(workspace: Path):
    seconds = unique_seconds()
    async with _session(workspace, "none") as session:
        if not session.info().confinement.cgroup:  # type: ignore[union-attr]
            pytest.skip("cgroups are not writable here: an unconfined worker's setsid children can escape")
        await session.run(f"import subprocess\nsubprocess.Popen(['setsid', 'sleep', '{seconds}'])")
        with anyio.move_on_after(5):  # setsid forks before it execs sleep: give a loaded machine a moment
            while not host_processes_with(f"sleep {seconds}"):
                await anyio.sleep(0.05)
        assert host_processes_with(f"sleep {seconds}")
    assert await until_gone(f"sleep {seconds}", 5) == []


async def test_in_process_executor_claims_no_confinement(workspace: Path):
    async with Session.from_base(workspace, executor="inprocess", sandbox="none") as session:
        capabilities = session.supported_capabilities()
        confinement = session.info().confinement
    assert not capabilities & {"process_isolation", "container_isolation", "filesystem_isolation", "memory_limit"}
    assert confinement is not None and confinement.sandbox == "none" and confinement.limits.memory_bytes is None


async def test_session_directory_size_is_checked_with_a_clear_error(workspace: Path):
    async with _session(workspace, "auto", max_workdir_bytes=4 * 1024**2) as session:
        result = await session.run("open('blob', 'wb').write(b'x' * 6 * 1024**2)")
        assert result.error_info is not None and result.error_info.type == "DiskLimitExceeded"
        assert "limit of 4 MiB" in result.error
        cleaned = await session.run("import os\nos.remove('blob')")
        assert cleaned.is_ok


def test_an_unconfined_server_says_so_once_at_start(workspace: Path):
    done = subprocess.run(
        [sys.executable, "-m", "codemode", "--base", str(workspace), "--sandbox", "none"],
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,  # stdio ends at once: the server starts, warns and exits
    )
    warnings = [line for line in done.stderr.decode().splitlines() if "NOT sandboxed" in line]
    assert len(warnings) == 1, done.stderr.decode()
    assert "(--sandbox none)" in warnings[0]
