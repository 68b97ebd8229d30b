"""End to end: spawn ``codemode-mcp`` and talk to it with the official MCP client over stdio."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.processes import children, dies, unique_seconds
from tests.security.conftest import sleeping, until_gone
from tests.server.conftest import server_command, text_of

pytestmark = pytest.mark.anyio


async def test_lists_the_session_tools_with_schemas_and_annotations(stdio_client: Client):
    tools = {tool.name: tool for tool in (await stdio_client.list_tools()).tools}
    assert {"run_code", "reset_session", "session_info"} <= set(tools)
    run_code = tools["run_code"]
    assert run_code.output_schema is not None
    assert {"value", "stdout", "stderr", "error", "execution_count", "session_id"} <= set(
        run_code.output_schema["properties"]
    )
    assert run_code.annotations is not None and run_code.annotations.read_only_hint is False
    assert tools["session_info"].annotations.read_only_hint is True  # type: ignore[union-attr]


async def test_state_persists_across_run_code_calls(stdio_client: Client):
    await stdio_client.call_tool("run_code", {"code": "total = 40"})
    result = await stdio_client.call_tool("run_code", {"code": "total += 2\ntotal"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["value"] == 42
    assert result.structured_content["execution_count"] == 2
    assert "42" in text_of(result)


async def test_output_written_to_fd_1_does_not_corrupt_stdio(stdio_client: Client):
    code = "import os\nos.system('echo from a child')\nos.write(1, b'raw bytes on fd 1\\n')"
    result = await stdio_client.call_tool("run_code", {"code": code})
    assert result.structured_content["stdout"] == "from a child\nraw bytes on fd 1\n"  # type: ignore[index]
    follow_up = await stdio_client.call_tool("run_code", {"code": "'still talking'"})
    assert follow_up.structured_content["value"] == "still talking"  # type: ignore[index]


async def test_code_that_raises_is_an_error_result_with_the_details(stdio_client: Client):
    result = await stdio_client.call_tool("run_code", {"code": "undefined_name"})
    assert result.is_error
    assert result.structured_content["error_info"]["type"] == "NameError"  # type: ignore[index]
    assert "NameError" in text_of(result)


async def test_malformed_arguments_get_a_clear_error_and_the_server_keeps_working(stdio_client: Client):
    wrong_type = await stdio_client.call_tool("run_code", {"code": 123})
    missing = await stdio_client.call_tool("run_code", {})
    bad_timeout = await stdio_client.call_tool("run_code", {"code": "1", "timeout": -5})
    unknown = await stdio_client.call_tool("session_info", {"session_id": "not-a-session"})
    assert wrong_type.is_error and "code" in text_of(wrong_type)
    assert missing.is_error and "code" in text_of(missing)
    assert bad_timeout.is_error and "it must be over 0" in text_of(bad_timeout)
    assert unknown.is_error and "no open session" in text_of(unknown)
    assert not (await stdio_client.call_tool("run_code", {"code": "1"})).is_error


async def test_timeout_argument_interrupts_and_variables_survive(stdio_client: Client):
    await stdio_client.call_tool("run_code", {"code": "kept = 'yes'"})
    result = await stdio_client.call_tool("run_code", {"code": "import time\ntime.sleep(20)", "timeout": 0.5})
    assert result.is_error
    assert result.structured_content["error_info"]["type"] == "TimeoutError"  # type: ignore[index]
    assert result.structured_content["state_lost"] is False  # type: ignore[index]
    kept = await stdio_client.call_tool("run_code", {"code": "kept"})
    assert kept.structured_content["value"] == "yes"  # type: ignore[index]


async def test_reset_and_session_info(stdio_client: Client):
    await stdio_client.call_tool("run_code", {"code": "x = 1"})
    info = await stdio_client.call_tool("session_info", {})
    assert info.structured_content["executor"] == "subprocess"  # type: ignore[index]
    assert info.structured_content["execution_count"] == 1  # type: ignore[index]
    assert "process_isolation" in info.structured_content["capabilities"]  # type: ignore[index]
    reset = await stdio_client.call_tool("reset_session", {"hard": True})
    assert reset.structured_content["hard"] is True  # type: ignore[index]
    after = await stdio_client.call_tool("run_code", {"code": "x"})
    assert after.structured_content["error_info"]["type"] == "NameError"  # type: ignore[index]
    new_info = await stdio_client.call_tool("session_info", {})
    assert new_info.structured_content["worker_pid"] != info.structured_content["worker_pid"]  # type: ignore[index]


async def test_cancelling_a_call_interrupts_the_code_and_the_session_goes_on(stdio_client: Client):
    await stdio_client.call_tool("run_code", {"code": "kept = 7"})
    with anyio.move_on_after(0.5):
        await stdio_client.call_tool("run_code", {"code": "import time\ntime.sleep(60)"})
    result = await stdio_client.call_tool("run_code", {"code": "kept"})
    assert result.structured_content["value"] == 7  # type: ignore[index]


async def test_client_disconnect_ends_the_server_and_its_worker(workspace: Path):
    seconds = unique_seconds()
    async with Client(server_command(workspace), mode="legacy") as client:
        info = await client.call_tool("session_info", {})
        worker = info.structured_content["worker_pid"]  # type: ignore[index]
        await client.call_tool("run_code", {"code": f"import subprocess\nsubprocess.Popen(['sleep', '{seconds}'])"})
        assert sleeping(seconds)  # pids inside a sandbox are not the host's: find it by its command
    assert await dies(worker)
    assert await until_gone(f"sleep {seconds}", 5) == []


async def test_sigterm_closes_sessions_and_leaves_no_worker(workspace: Path):
    params = server_command(workspace)
    process = subprocess.Popen(
        [params.command, *params.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        worker = await _worker_of(process.pid)
        process.send_signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(process.wait, 10) == 0
        assert await dies(worker)
    finally:
        process.kill()


async def _worker_of(server_pid: int) -> int:
    """The worker is started with the server; find it among the server's children."""
    with anyio.fail_after(10):
        while True:
            for child in children(server_pid):
                try:
                    cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"worker.py" in cmdline:
                    return child
            await anyio.sleep(0.05)


def test_the_cli_refuses_a_missing_workspace(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "codemode", "--base", str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "is not a directory" in result.stderr
