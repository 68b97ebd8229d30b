"""run_command and the session file tools and resources, through the official MCP client."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from codemode.server import ServerSettings, create_server
from tests.conftest import open_redis_storage
from tests.server.conftest import call, refused

pytestmark = pytest.mark.anyio


async def test_run_command_returns_exit_code_and_output(client: Client):
    ran = await call(client, "run_command", command="echo out; echo err >&2; exit 2")
    assert (ran["exit_code"], ran["stdout"], ran["stderr"], ran["ok"]) == (2, "out\n", "err\n", False)


async def test_run_command_with_a_list_uses_no_shell(client: Client):
    ran = await call(client, "run_command", command=["echo", "$HOME"])
    assert ran["stdout"] == "$HOME\n"


async def test_run_command_times_out(client: Client):
    ran = await call(client, "run_command", command="sleep 30", timeout=0.5)
    assert (ran["timed_out"], ran["exit_code"]) == (True, -9)


async def test_run_command_cwd_is_confined(client: Client):
    assert "contains '..'" in await refused(client, "run_command", command=["ls"], cwd="..")


async def test_files_written_by_a_tool_are_seen_by_code_and_commands(client: Client):
    written = await call(client, "write_file", path="in/note.txt", data="hello")
    assert written["size"] == 5
    ran = await call(client, "run_code", code="open('in/note.txt').read()")
    assert ran["value"] == "hello"
    assert (await call(client, "run_command", command=["cat", "note.txt"], cwd="in"))["stdout"] == "hello"


async def test_read_file_gives_text_or_base64(client: Client):
    await call(client, "run_code", code="open('t.txt', 'w').write('text'); open('b.bin', 'wb').write(b'\\xff')")
    text = await call(client, "read_file", path="t.txt")
    assert (text["encoding"], text["content"]) == ("utf-8", "text")
    blob = await call(client, "read_file", path="b.bin")
    assert (blob["encoding"], base64.b64decode(blob["content"])) == ("base64", b"\xff")


async def test_write_file_takes_base64(client: Client):
    await call(client, "write_file", path="b.bin", data=base64.b64encode(b"\x00\x01").decode(), encoding="base64")
    assert (await call(client, "run_code", code="open('b.bin', 'rb').read()"))["value_repr"] == "b'\\x00\\x01'"


async def test_list_and_delete_files(client: Client):
    await call(client, "write_file", path="a.txt", data="x")
    listed = await call(client, "list_files")
    assert [(entry["name"], entry["type"]) for entry in listed["entries"]] == [("a.txt", "file")]
    assert (await call(client, "delete_file", path="a.txt"))["deleted"] is True
    assert (await call(client, "list_files"))["entries"] == []


async def test_escapes_are_tool_errors(client: Client):
    await call(client, "run_code", code="import os; os.symlink('/etc/passwd', 'pw')")
    assert "symbolic link" in await refused(client, "read_file", path="pw")
    assert "absolute path" in await refused(client, "write_file", path="/etc/x", data="x")
    assert "contains '..'" in await refused(client, "list_files", path="../")
    assert "not valid base64" in await refused(client, "write_file", path="x", data="@@", encoding="base64")


async def test_session_files_are_resources_of_their_session(client: Client):
    info = await call(client, "session_info")
    await call(client, "write_file", path="report.csv", data="a,b\n")
    templates = (await client.list_resource_templates()).resource_templates
    assert any(t.uri_template == "session-file://{session_id}/{path}" for t in templates)
    read = (await client.read_resource(f"session-file://{info['session_id']}/report.csv")).contents[0]
    assert (read.text, read.mime_type) == ("a,b\n", "text/csv")  # type: ignore[union-attr]


async def test_another_sessions_files_are_not_found_by_a_guessed_id(client: Client):
    with pytest.raises(MCPError, match="no open session with id"):
        await client.read_resource("session-file://not-a-session-of-yours/x.txt")


async def test_file_tools_work_on_redis_storage(workspace: Path):
    async with open_redis_storage() as redis:
        settings = ServerSettings(base=workspace, timeout=10, storage="redis", redis_prefix=redis.prefix)
        async with Client(create_server(settings)) as client:
            await call(client, "write_file", path="r.txt", data="redis")
            assert (await call(client, "run_command", command=["cat", "r.txt"]))["stdout"] == "redis"
