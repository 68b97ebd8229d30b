"""Attacks found by a confinement review, each replayed and asserting the safe outcome.

They go through the host side of the sandbox: installs, tools, the protocol socket, the
host API, the session directory, and limits where there are no cgroups.

Every attack is bounded (small limits, a few megabytes, a few dozen processes). Session
code is hostile: it may forge frames on its protocol socket, plant files in its
directory and call the host API with any arguments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tracemalloc
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from codemode import Session
from codemode.errors import LimitExceeded
from codemode.models import ExecutionLimits
from codemode.sandbox import cgroups
from codemode.sandbox.workdir import remove_stale_dirs
from tests.processes import unique_seconds
from tests.security.conftest import legacy_client, sleeping
from tests.server.conftest import HttpServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("sandbox")]

REPO_TOOLS = Path(__file__).resolve().parents[2] / "tools"
ALICE, BOB = "alice-token-secret-0123456789", "bob-token-secret-0123456789"
SOCKET_FD = "json.loads(open('/proc/self/cmdline').read().split('\\0')[2])['fd']"
DEEP_TREE = """
import os
top = os.getcwd()
for _ in range(1500):
    os.mkdir('d')
    os.chdir('d')
os.chdir(top)
"""


def _session(workspace: Path, **limits: object) -> Session:
    return Session.from_base(workspace, timeout=60, sandbox="bwrap", limits=ExecutionLimits(**limits))  # type: ignore[arg-type]


def _without_cgroups(monkeypatch: pytest.MonkeyPatch) -> None:
    """As under Docker's default profile or for a user who cannot write cgroups: rlimits only."""
    monkeypatch.setattr(cgroups, "_LAYOUT", [None])


# -- the host API runs things on the host --------------------------------------------------


def _sdist_that_reports_where_it_builds(index: Path, marker: Path) -> None:
    """A source distribution whose in-tree build backend writes ``marker`` (and the environment) when run."""
    source = index / "src" / "codemode_review_probe-0.1"
    source.mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "codemode-review-probe"\nversion = "0.1"\n'
    )
    (source / "backend.py").write_text(
        f"import os, pathlib\npathlib.Path({str(marker)!r}).write_text(repr(dict(os.environ)))\n"
        "raise SystemExit('the build backend ran')\n"
    )
    (source / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: codemode-review-probe\nVersion: 0.1\n")
    with tarfile.open(index / "codemode_review_probe-0.1.tar.gz", "w:gz") as archive:
        archive.add(source, arcname=source.name)


async def test_a_package_that_code_installs_is_never_built_on_the_host(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # An index the operator trusts (here a local one) serving a package whose name the code chose:
    # on PyPI anyone can publish such a source distribution.
    index, marker = tmp_path / "index", tmp_path / "built-on-the-host"
    _sdist_that_reports_where_it_builds(index, marker)
    monkeypatch.setenv("UV_FIND_LINKS", str(index))
    monkeypatch.setenv("UV_NO_INDEX", "1")
    async with Session.from_base(workspace, timeout=120, sandbox="bwrap", cache_venv=False) as session:
        result = await session.run("deps.add('codemode-review-probe')")
    assert not marker.exists(), "the package's build backend ran on the host, outside the sandbox"
    assert result.value["failed"] == ["codemode-review-probe"], result
    refusal = result.value["errors"]["codemode-review-probe"]
    assert "building from source is off" in refusal and "--allow-source-builds" in refusal


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
async def test_a_workspace_tool_does_not_inherit_the_servers_secrets(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    (workspace / "tools").mkdir()
    shutil.copy(REPO_TOOLS / "jq.yaml", workspace / "tools")
    monkeypatch.setenv("CODEMODE_REVIEW_SECRET", "server-secret-3141")
    async with _session(workspace) as session:
        result = await session.run("tools.jq(filter='env', input='{}')")
    assert result.error is None, result.error
    assert "server-secret-3141" not in str(result.value)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_tool_cannot_read_the_hosts_files(workspace: Path, tmp_path: Path):
    (workspace / "tools").mkdir()
    shutil.copy(REPO_TOOLS / "curl.yaml", workspace / "tools")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"alice-token-secret-0123456789": "alice"}))
    async with _session(workspace) as session:
        result = await session.run(f"tools.curl(url='file://{tokens}')")
    assert result.error is not None and "alice-token-secret" not in result.error
    assert "tool 'curl' exited with code 1" in result.error and 'Protocol "file"' in result.error


# -- principals ------------------------------------------------------------------------------


async def test_another_principals_mcp_session_id_does_not_reach_its_session(http_server, tmp_path: Path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    server: HttpServer = await http_server("--tokens-file", str(tokens))
    async with legacy_client(server.url, ALICE) as (alice, transport_ids):
        await alice.call_tool("run_code", {"code": "secret = 'alice-private-42'"})
        # Bob learnt Alice's Mcp-Session-Id (a log, a proxy) and sends it on a modern request.
        headers = {"Authorization": f"Bearer {BOB}", "mcp-session-id": transport_ids[-1]}
        bob_http = httpx2.AsyncClient(headers=headers)
        async with Client(streamable_http_client(f"{server.url}/mcp", http_client=bob_http), mode="auto") as bob:
            stolen = await bob.call_tool("run_code", {"code": "secret"})
    assert "alice-private-42" not in str(stolen.structured_content or stolen.content)


# -- the protocol socket ---------------------------------------------------------------------


async def test_a_forged_frame_costs_the_host_no_more_memory_than_its_size(workspace: Path):
    frame_bytes = 12 * 1024**2
    forge = f"""
import json, os, socket, struct
body = b'{{"op":"noise","x":[' + b'{{}},' * ({frame_bytes} // 3) + b'{{}}]}}'
channel = socket.socket(fileno=os.dup({SOCKET_FD}))
channel.sendall(struct.pack('>I', len(body)) + body)
"""
    async with _session(workspace) as session:
        await session.run("1")
        tracemalloc.start()
        try:
            result = await session.run(forge)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (await session.run("1 + 1")).value == 2
    assert result.state_lost, result
    # Decoding it took ~25x its size in dicts, on the event loop (a 60 MB frame: 1.5 GB, 4 s blocked).
    assert peak < 5 * frame_bytes, (
        f"the host used {peak / 2**20:.0f} MiB to decode a {frame_bytes / 2**20:.0f} MiB frame"
    )


async def test_a_call_frame_with_a_malformed_id_ends_the_run_with_a_result(workspace: Path):
    forge = f"""
import json, os, socket, struct, time
channel = socket.socket(fileno=os.dup({SOCKET_FD}))
body = json.dumps({{"op": "call", "id": [1], "method": "artifacts.list", "params": {{}}}}).encode()
channel.sendall(struct.pack('>I', len(body)) + body)
time.sleep(1)
"""
    async with _session(workspace) as session:
        result = await session.run(forge)  # the worker is killed for breaking the protocol: a result, not a crash
        assert result.error is not None and result.state_lost, result
        assert (await session.run("1 + 1")).value == 2


HOLD_TOOL = """
name: hold
description: Wait a while
command: sleep
timeout: 30
schema:
  positional:
    - name: seconds
      type: string
      required: true
"""


async def test_one_session_runs_no_more_host_calls_at_once_than_its_process_limit(workspace: Path):
    (workspace / "tools").mkdir()
    (workspace / "tools" / "hold.yaml").write_text(HOLD_TOOL)
    seconds = unique_seconds()
    forge = f"""
import json, os, socket, struct, time
channel = socket.socket(fileno=os.dup({SOCKET_FD}))
for n in range(60):
    params = {{"tool": "hold", "recipe": None, "args": {{}}, "positional": ["{seconds}"]}}
    body = json.dumps({{"op": "call", "id": 10**6 + n, "method": "tools.call", "params": params}}).encode()
    channel.sendall(struct.pack('>I', len(body)) + body)
time.sleep(3)
"""
    most = 0
    async with _session(workspace, max_processes=20) as session:
        async with anyio.create_task_group() as tasks:

            async def watch() -> None:
                nonlocal most
                while True:
                    most = max(most, len(sleeping(seconds)))
                    await anyio.sleep(0.05)

            tasks.start_soon(watch)
            await session.run(forge)
            tasks.cancel_scope.cancel()
    assert 0 < most <= 20, f"{most} host processes ran for one session whose process limit is 20"


# -- the session directory -------------------------------------------------------------------


async def test_a_deep_directory_tree_made_by_code_is_removed_when_the_session_closes(workspace: Path):
    session = _session(workspace)
    await session.start()
    assert (await session.run(DEEP_TREE)).error is None
    workdir = Path(session.info().confinement.workdir).parent  # type: ignore[union-attr, arg-type]
    try:
        await session.close()
    finally:
        leftover = workdir.exists()
        if leftover:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    assert not leftover


def test_a_stale_deep_worker_directory_does_not_stop_the_next_start(tmp_path: Path):
    stale = tmp_path / "workers" / "4194305-deadbeefdeadbeef"  # above any pid_max: its server is gone
    stale.mkdir(parents=True)
    fd = os.open(stale, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(1500):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    try:
        remove_stale_dirs(tmp_path)  # what the server runs at start
        assert not stale.exists()
    finally:
        subprocess.run(["rm", "-rf", str(stale)], check=False)


async def test_packing_a_deep_directory_tree_fails_with_a_clear_error(workspace: Path):
    async with _session(workspace) as session:
        assert (await session.run(DEEP_TREE)).error is None
        try:
            with pytest.raises(LimitExceeded, match="too deep"):
                await session.directory.pack()  # what saving a named session, a fork and an export do
        finally:
            await session.run("import shutil, subprocess\nsubprocess.run(['rm', '-rf', 'd'])")


async def test_empty_files_and_directories_count_against_the_session_directory_limit(workspace: Path):
    async with _session(workspace, max_workdir_bytes=1024**2) as session:
        # 3000 directories are ~12 MB of disk (and 3000 inodes) but 0 bytes of file data.
        result = await session.run("import os\nfor n in range(3000):\n    os.mkdir(f'd{n}')")
    assert result.error_info is not None and result.error_info.type == "DiskLimitExceeded"


# -- limits without cgroups -------------------------------------------------------------------


async def test_dev_holds_no_data_beyond_the_limits_without_cgroups(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    _without_cgroups(monkeypatch)
    code = """
written = 0
for place in ('/dev', '/dev/shm'):
    for n in range(6):
        try:
            with open(f'{place}/blob{n}', 'wb') as blob:
                blob.write(b'x' * 8 * 1024**2)
            written += 8
        except OSError:
            break
written
"""
    async with _session(workspace, memory_bytes=64 * 1024**2, max_workdir_bytes=16 * 1024**2) as session:
        result = await session.run(code)
    # Both are a tmpfs (memory) outside the session directory: neither limit sees them.
    assert result.error is not None or result.value < 64, f"{result.value} MiB held in /dev"


async def test_memory_limit_covers_shared_mappings_or_is_not_claimed(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    _without_cgroups(monkeypatch)
    code = """
import mmap
block = mmap.mmap(-1, 128 * 1024**2)  # MAP_SHARED: not counted by RLIMIT_DATA
for offset in range(0, len(block), 4096):
    block[offset] = 1
"""
    async with _session(workspace, memory_bytes=64 * 1024**2) as session:
        result = await session.run(code)
        claimed = session.supports("memory_limit")
    assert result.error is not None or not claimed, "128 MiB in use under a claimed memory limit of 64 MiB"
