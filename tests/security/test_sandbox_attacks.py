"""Hostile code against the sandbox: the attacks of issue 8, replayed through the official MCP client.

One HTTP server, two principals (alice and bob), secrets in the server's environment,
on its command line and in its tokens file. Each test runs an attack as session code
and asserts the safe outcome. Limits are proved with small limits, never with a bomb.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.processes import dies, unique_seconds
from tests.security.conftest import host_can_connect, host_processes_with, sleeping, until_gone
from tests.server.conftest import HttpServer, server_command, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("sandbox")]

Start = Callable[..., Awaitable[HttpServer]]
ALICE, BOB = "alice-token-secret-0123456789", "bob-token-secret-0123456789"
REDIS_PASSWORD = "redis-password-secret-42"
SECRET_ENV = {
    "CODEMODE_AUTH_TOKEN": "",
    "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
    "CLOUD_API_KEY": "cloud-key-secret-77",
}
SECRETS = [ALICE, BOB, REDIS_PASSWORD, "cloud-key-secret-77"]
SMALL_LIMITS = ["--memory-limit", "300M", "--max-processes", "40", "--max-open-files", "64", "--max-file-size", "8M"]


async def _run(client: Client, code: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("run_code", {"code": code, **arguments})
    assert result.structured_content is not None, result.content
    return result.structured_content


@pytest.fixture
async def server(http_server: Start, tmp_path: Path) -> HttpServer:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    return await http_server("--tokens-file", str(tokens), *SMALL_LIMITS, env=SECRET_ENV)


# -- secrets -----------------------------------------------------------------------------


READ_PROC = """
import os
seen = [repr(dict(os.environ))]
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    for name in ('environ', 'cmdline'):
        try:
            seen.append(open(f'/proc/{pid}/{name}', 'rb').read().decode(errors='replace'))
        except OSError:
            pass
"""


async def test_code_sees_none_of_the_servers_secrets(server: HttpServer, tmp_path: Path):
    code = f"""{READ_PROC}
try:
    seen.append(open({str(tmp_path / "tokens.json")!r}).read())
except OSError as exc:
    seen.append(type(exc).__name__)
'\\n'.join(seen)
"""
    async with server.client(BOB) as bob:
        seen = (await _run(bob, code))["value"]
    assert "FileNotFoundError" in seen  # the tokens file does not exist in the sandbox
    assert "CODEMODE" not in seen and "REDIS_URL" not in seen
    for secret in SECRETS:
        assert secret not in seen


async def test_code_cannot_read_the_auth_token_from_the_servers_command_line(http_server: Start):
    token = f"auth-token-secret-{uuid.uuid4().hex}"
    server = await http_server("--auth-token", token)
    assert host_processes_with(token)  # it is on the server's command line, for whoever may read it
    async with server.client(token) as client:
        seen = (await _run(client, READ_PROC + "'\\n'.join(seen)"))["value"]
    assert "worker" in seen  # it read its own command line: the probe works
    assert token not in seen


async def test_network_is_off_over_http_so_the_hosts_loopback_cannot_be_reached(server: HttpServer, loopback_port: int):
    assert await host_can_connect(loopback_port)
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {loopback_port}), timeout=3)"
    async with server.client(BOB) as bob:
        result = await _run(bob, code)
        info = (await bob.call_tool("session_info", {})).structured_content
    assert result["error"] is not None and result["error"].startswith("ConnectionRefusedError")  # its own loopback
    assert info is not None and info["confinement"]["network"] == "off"
    assert "network_isolation" in info["capabilities"]


# -- other sessions ----------------------------------------------------------------------


async def test_another_principal_cannot_see_or_kill_a_worker(server: HttpServer):
    async with server.client(ALICE) as alice, server.client(BOB) as bob:
        await _run(alice, "precious = 42")
        alice_info = (await alice.call_tool("session_info", {})).structured_content
        assert alice_info is not None
        alice_pid = alice_info["worker_pid"]
        attack = f"""
import os, signal
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
outcomes = []
own = {{1, *(int(tid) for tid in os.listdir('/proc/self/task'))}}  # its own init and threads: self-harm only
for target in {{{alice_pid}, *range(1, 64)}} - own:
    try:
        os.kill(target, signal.SIGKILL)
        outcomes.append(target)
    except OSError:
        pass
try:
    open('/proc/{alice_pid}/mem', 'rb')
    outcomes.append('mem')
except OSError:
    pass
[pids, outcomes]
"""
        result = await _run(bob, attack)
        assert result["error"] is None, result
        visible, killed = result["value"]
        assert len(visible) <= 3  # bwrap's init, the worker, and at most the child it ran
        assert "mem" not in killed
        assert (await _run(alice, "precious"))["value"] == 42


async def test_code_cannot_plant_a_pth_file_in_the_shared_venv(server: HttpServer):
    plant = """
import site, sysconfig, os
target = os.path.join(sysconfig.get_paths()['purelib'], 'evil.pth')
try:
    open(target, 'w').write('import os; os.environ["PWNED"] = "1"')
    outcome = 'written'
except OSError as exc:
    outcome = type(exc).__name__ + ': ' + str(exc.errno)
outcome
"""
    async with server.client(BOB) as bob:
        planted = await _run(bob, plant)
    assert planted["value"] == "OSError: 30"  # EROFS: the venv is read-only in the sandbox
    async with server.client(ALICE) as alice:
        assert (await _run(alice, "import os\nos.environ.get('PWNED')"))["value"] is None


# -- limits ------------------------------------------------------------------------------


async def test_memory_limit_fails_the_run_and_the_session_goes_on(server: HttpServer):
    async with server.client(BOB) as bob:
        await _run(bob, "kept = 'still here'")
        result = await _run(bob, "hog = bytearray(400 * 1024**2)")
        assert result["error"] == "MemoryError: memory limit of 300 MiB reached"
        assert (await _run(bob, "kept"))["value"] == "still here"


async def test_process_limit_stops_a_fork_loop(server: HttpServer):
    code = """
import subprocess
children = []
try:
    for _ in range(80):
        children.append(subprocess.Popen(['sleep', '30']))
finally:
    started = len(children)
    for child in children:
        child.kill()
        child.wait()
"""
    async with server.client(BOB) as bob:
        result = await _run(bob, code)
        assert result["error"] is not None and "process limit of 40 per session reached" in result["error"]
        assert (await _run(bob, "started"))["value"] < 40


async def test_open_file_and_file_size_limits_name_themselves(server: HttpServer):
    async with server.client(BOB) as bob:
        files = await _run(bob, "handles = [open('/dev/null') for _ in range(200)]")
        big = await _run(bob, "open('big', 'wb').write(b'x' * (20 * 1024**2))")
        assert (await _run(bob, "1 + 1"))["value"] == 2
    assert "open file limit of 64 reached" in files["error"]
    assert "file size limit of 8 MiB reached" in big["error"]


@pytest.mark.parametrize("timeout", ["inf", 1e308, 601, "NaN", -1, 0])
async def test_timeouts_beyond_the_maximum_are_refused(server: HttpServer, timeout: object):
    async with server.client(BOB) as bob:
        result = await bob.call_tool("run_code", {"code": "1", "timeout": timeout})
        assert result.is_error
        assert "it must be over 0 and at most 600 s (--max-timeout)" in text_of(result)
        assert (await _run(bob, "2"))["value"] == 2


# -- nothing outlives its session ------------------------------------------------------


ESCAPES = """
import os, subprocess, time
subprocess.Popen(['sleep', '{seconds}'], start_new_session=True)
subprocess.Popen(['sh', '-c', '(sleep {seconds} &) ; exit 0'])   # double fork
subprocess.Popen(['setsid', 'sh', '-c', 'nohup sleep {seconds} >/dev/null 2>&1 &'])


def sleeping():
    count = 0
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            count += open('/proc/' + pid + '/cmdline', 'rb').read() == b'sleep\\x00{seconds}\\x00'
        except OSError:
            pass
    return count


for _ in range(500):  # the shells start theirs after the run could return: wait for all three (10 s at most)
    if sleeping() == 3:
        break
    time.sleep(0.02)
"""


async def _escape(client: Client, **arguments: Any) -> str:
    """Leave three escaped ``sleep`` processes behind; their duration, which names them."""
    seconds = unique_seconds()
    assert (await _run(client, ESCAPES.format(seconds=seconds), **arguments))["error"] is None
    assert len(sleeping(seconds)) == 3
    return seconds


async def test_escaped_children_end_with_a_hard_reset_and_with_close(server: HttpServer):
    async with server.client(BOB) as bob:
        escaped = await _escape(bob)
        await bob.call_tool("reset_session", {"hard": True})
        assert await until_gone(f"sleep {escaped}") == []

        opened = (await bob.call_tool("open_session", {})).structured_content
        assert opened is not None
        escaped = await _escape(bob, session_id=opened["session_id"])
        await bob.call_tool("close_session", {"session_id": opened["session_id"]})
        assert await until_gone(f"sleep {escaped}") == []


async def test_escaped_children_end_when_an_idle_session_expires(http_server: Start):
    server = await http_server("--idle-timeout", "1")
    async with server.client() as client:
        opened = (await client.call_tool("open_session", {})).structured_content
        assert opened is not None
        escaped = await _escape(client, session_id=opened["session_id"])
        assert await until_gone(f"sleep {escaped}") == []


async def test_escaped_children_end_when_the_server_stops_on_sigterm(http_server: Start):
    server = await http_server()
    async with server.client(mode="2026-07-28") as client:
        opened = (await client.call_tool("open_session", {})).structured_content
        assert opened is not None
        escaped = await _escape(client, session_id=opened["session_id"])
    assert len(sleeping(escaped)) == 3  # an opened session outlives its client
    assert await server.stop() == 0
    assert await until_gone(f"sleep {escaped}") == []


async def test_escaped_children_end_when_the_server_is_killed(workspace: Path):
    async with Client(server_command(workspace), mode="legacy") as client:
        escaped = await _escape(client)
        server_pids = host_processes_with(f"codemode --base {workspace}")
        for pid in server_pids:
            os.kill(pid, signal.SIGKILL)
        assert await until_gone(f"sleep {escaped}") == []


# -- nothing is lost silently ------------------------------------------------------------


def _after_the_run(action: str) -> str:
    """Code that leaves a thread behind: once the host creates ``go`` in the session directory, it runs ``action``."""
    return f"""
import os, threading, time
def later():
    for _ in range(1500):  # 30 s at most
        if os.path.exists('go'):
            break
        time.sleep(0.02)
    {action}
threading.Thread(target=later, daemon=True).start()
"""


async def _session_info(client: Client) -> dict[str, Any]:
    info = (await client.call_tool("session_info", {})).structured_content
    assert info is not None
    return info


async def test_a_worker_killed_between_calls_is_reported_on_the_next_one(server: HttpServer):
    async with server.client(BOB) as bob:
        await _run(bob, "x = 1")
        info = await _session_info(bob)
        await _run(bob, _after_the_run("os.kill(os.getpid(), 9)"))
        (Path(info["confinement"]["workdir"]) / "go").touch()
        assert await dies(info["worker_pid"])
        result = await _run(bob, "'x' in globals()")
    assert result["state_lost"] is True
    assert result["value"] is False
    assert any("killed by signal SIGKILL" in note for note in result["notes"])


async def test_output_of_threads_after_a_run_is_marked_as_such(server: HttpServer):
    async with server.client(BOB) as bob:
        workdir = Path((await _session_info(bob))["confinement"]["workdir"])
        await _run(bob, _after_the_run("print('late words'); open('printed', 'w').close()"))
        (workdir / "go").touch()
        with anyio.fail_after(30):
            while not (workdir / "printed").exists():
                await anyio.sleep(0.02)
        result = await _run(bob, "print('own words')")
    assert result["stdout"].startswith("[output written by the session's threads after the previous run returned]")
    assert result["stdout"].endswith("late words\nown words\n")


# -- stdio ------------------------------------------------------------------------------


async def test_over_stdio_the_network_is_on_but_secrets_stay_out(workspace: Path):
    params = server_command(workspace)
    params.env = {**os.environ, **SECRET_ENV}
    async with Client(params, mode="legacy") as client:
        result = await _run(client, "import os\nrepr(dict(os.environ)) + open('/proc/1/environ').read()")
        info = (await client.call_tool("session_info", {})).structured_content
    assert info is not None and info["confinement"]["network"] == "on"
    assert info["confinement"]["sandbox"] == "bwrap"
    for secret in SECRETS:
        assert secret not in result["value"]


def test_the_cli_refuses_bwrap_when_it_cannot_run(workspace: Path, tmp_path: Path):
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "codemode", "--base", str(workspace), "--sandbox", "bwrap"],
        env={**os.environ, "PATH": str(empty)},
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert b"bubblewrap is not installed" in done.stderr


# -- the protocol ------------------------------------------------------------------------


async def test_code_that_forges_protocol_frames_loses_only_its_own_worker(server: HttpServer):
    forge = """
import json, os, socket, struct
fd = json.loads(open('/proc/self/cmdline').read().split('\\0')[2])['fd']
body = b'[' * 200000 + b']' * 200000
os.write(fd, struct.pack('>I', len(body)) + body)
import time; time.sleep(5)
"""
    async with server.client(BOB) as bob, server.client(ALICE) as alice:
        await _run(alice, "mine = 'alice'")
        forged = await _run(bob, forge)
        assert forged["state_lost"] is True
        assert (await _run(bob, "1 + 1"))["value"] == 2
        assert (await _run(alice, "mine"))["value"] == "alice"
