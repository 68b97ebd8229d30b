"""Attacks a confinement review tried that were already stopped, kept so that they stay stopped.

Only what ``test_sandbox_attacks.py``, ``test_confinement.py`` and ``test_storage_attacks.py``
do not already try. Session code is hostile: it may replace the worker's own operations,
plant FIFOs and call any host method with any arguments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from codemode import Session
from codemode.errors import InvalidArgument, SnapshotError
from tests.security.conftest import legacy_client
from tests.server.conftest import HttpServer
from tests.test_images import PNG_MAKER

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("sandbox")]

ALICE, BOB = "alice-token-secret-0123456789", "bob-token-secret-0123456789"


def _session(workspace: Path) -> Session:
    return Session.from_base(workspace, timeout=30, sandbox="bwrap")


async def _two_principals(http_server, tmp_path: Path, *flags: str) -> HttpServer:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    return await http_server("--tokens-file", str(tokens), *flags)


# -- snapshots: the host reads a file the worker wrote ---------------------------------------

SWAP_SNAPSHOT_FILE = """
import gc, os
def swapped(interp, params):
    os.{plant}
    return {{"size": 1, "saved": [], "skipped": [], "modules": {{}}}}
for table in [o for o in gc.get_objects() if type(o) is dict and callable(o.get('snapshot_save'))]:
    table['snapshot_save'] = swapped
"""


@pytest.mark.parametrize(
    "plant", ["symlink({secret!r}, params['path'])", "mkfifo(params['path'])"], ids=["symlink", "fifo"]
)
async def test_a_snapshot_file_the_worker_swaps_for_a_link_or_a_fifo_is_refused(
    workspace: Path, tmp_path: Path, plant: str
):
    secret = tmp_path / "server-secret.txt"
    secret.write_text("server-secret-2718")
    async with _session(workspace) as session:
        await session.snapshot_state()  # the worker loads its snapshot operations on first use: load them to swap
        swapped = await session.run(SWAP_SNAPSHOT_FILE.format(plant=plant.format(secret=str(secret))))
        assert swapped.error is None, swapped.error
        with anyio.fail_after(20), pytest.raises(SnapshotError, match="snapshot file"):
            await session.snapshot_state()
        assert (await session.run("1 + 1")).value == 2


# -- the session directory -------------------------------------------------------------------


async def test_a_fifo_planted_by_code_hangs_neither_read_file_nor_packing(workspace: Path):
    async with _session(workspace) as session:
        await session.run("import os\nos.mkfifo('pipe')\nopen('plain.txt', 'w').write('kept')")
        with anyio.fail_after(20):
            with pytest.raises(InvalidArgument, match="not a regular file"):
                await session.read_file("pipe")
            packed = await session.directory.pack()
    assert b"plain.txt" in packed and b"pipe" not in packed


# -- the host API ----------------------------------------------------------------------------


async def test_host_calls_with_names_that_leave_their_place_are_refused(workspace: Path, tmp_path: Path):
    # `_call` is the raw RPC every namespace uses: code can name any host method with any arguments.
    code = """
refused = {}
for method, params in [
    ('workflows.source', {'name': '../../etc/passwd'}),
    ('workflows.create', {'name': '../escape', 'source': 'def run():\\n    return 1\\n'}),
    ('artifacts.load', {'name': '../../etc/passwd'}),
    ('artifacts.save', {'name': '../escape', 'data': 'x'}),
    ('tools.call', {'tool': '../../bin/sh', 'recipe': None, 'args': {}}),
    ('no.such.method', {}),
]:
    try:
        artifacts._call(method, params)
        refused[method] = False
    except Exception as exc:
        refused[method] = isinstance(exc, (LookupError, ValueError))
refused
"""
    async with _session(workspace) as session:
        result = await session.run(code)
    assert result.value is not None and all(result.value.values()), result.value
    assert not (workspace.parent / "escape").exists() and not (workspace.parent / "escape.py").exists()


# -- the sandbox from inside -----------------------------------------------------------------


async def test_code_cannot_nest_namespaces_gain_capabilities_or_kill_its_init(workspace: Path):
    code = """
import os, signal, subprocess
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\\t' in line)
nested = subprocess.run(['unshare', '--user', '--map-root-user', 'true'], capture_output=True).returncode
os.kill(1, signal.SIGKILL)  # the sandbox's init: ignored from inside its PID namespace
[os.getuid(), status['CapEff'].strip(), status['NoNewPrivs'].strip(), nested]
"""
    async with _session(workspace) as session:
        result = await session.run(code)
        after = await session.run("1 + 1")
    assert result.value == [1000, "0000000000000000", "1", 1]
    assert after.value == 2 and not after.state_lost


async def test_replacing_workers_again_and_again_leaks_no_descriptor_of_the_server(workspace: Path):
    deaths = [
        "import os\nos._exit(3)",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass",
    ]
    async with _session(workspace) as session:
        await session.run("1")
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(4):
            for code in deaths:
                assert (await session.run(code, timeout=0.5)).state_lost
        assert (await session.run("1 + 1")).value == 2
        assert len(os.listdir("/proc/self/fd")) <= before


# -- principals over MCP ---------------------------------------------------------------------


async def test_another_principals_files_and_pictures_are_not_resources(http_server, tmp_path: Path):
    server = await _two_principals(http_server, tmp_path, "--image-max-bytes", "4096")
    async with server.client(ALICE) as alice, server.client(BOB) as bob:
        written = await alice.call_tool("write_file", {"path": "secret.txt", "data": "alice-private-42"})
        assert not written.is_error
        await alice.call_tool("run_code", {"code": PNG_MAKER})
        pictured = await alice.call_tool("run_code", {"code": "Picture(100, 100, noisy=True)"})
        image_uri = pictured.structured_content["images"][0]["full_size_uri"]  # type: ignore[index]
        session_id = pictured.structured_content["session_id"]  # type: ignore[index]
        assert (await alice.read_resource(image_uri)).contents
        for uri in (image_uri, f"session-file://{session_id}/secret.txt"):
            with pytest.raises(MCPError, match="no open session"):
                await bob.read_resource(uri)


async def test_a_handshake_era_session_id_is_bound_to_the_credential_that_made_it(http_server, tmp_path: Path):
    server = await _two_principals(http_server, tmp_path)
    async with legacy_client(server.url, ALICE) as (alice, transport_ids):
        await alice.call_tool("run_code", {"code": "secret = 'alice-private-42'"})
        call = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "run_code", "arguments": {"code": "secret"}},
        }
        headers = {
            "Authorization": f"Bearer {BOB}",
            "mcp-session-id": transport_ids[-1],
            "mcp-protocol-version": "2025-06-18",
            "Accept": "application/json, text/event-stream",
        }
        async with httpx2.AsyncClient() as raw:
            stolen = await raw.post(f"{server.url}/mcp", json=call, headers=headers)
    assert stolen.status_code == 404
    assert "alice-private-42" not in stolen.text
