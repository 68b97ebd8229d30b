"""``codemode-mcp`` takes py-code-mode-mcp's command line and workspace as they are."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from codemode.errors import InvalidArgument
from codemode.server.arguments import settings_from_args
from codemode.server.flags import build_parser
from codemode.server.settings import ServerSettings

pytestmark = pytest.mark.anyio


def settings(*argv: str) -> ServerSettings:
    return settings_from_args(build_parser().parse_args(list(argv)))


def test_storage_path_and_tools_path(tmp_path: Path):
    parsed = settings("--storage", str(tmp_path / "data"), "--tools", str(tmp_path))
    assert (parsed.storage, parsed.storage_path, parsed.tools_path) == ("file", tmp_path / "data", tmp_path)


def test_redis_url_and_prefix():
    parsed = settings("--redis", "redis://example:6380/2", "--prefix", "my-agent")
    assert (parsed.storage, parsed.redis_url, parsed.redis_prefix) == ("redis", "redis://example:6380/2", "my-agent")


def test_our_storage_kinds_keep_their_meaning():
    assert settings("--storage", "redis").storage == "redis"
    assert (settings("--storage", "file").storage, settings().storage_path) == ("file", None)


def test_the_other_py_code_mode_flags_are_accepted():
    parsed = settings("--no-runtime-deps", "--timeout", "12", "--no-sync-deps")
    assert (parsed.allow_runtime_deps, parsed.timeout, parsed.sync_deps_on_start) == (False, 12.0, False)
    assert settings("--sync-deps").sync_deps_on_start is True


def test_redis_and_a_storage_directory_together_are_refused(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="give one"):
        settings("--redis", "redis://localhost", "--storage", str(tmp_path))


def test_a_storage_path_that_is_a_file_is_refused(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgument, match="is not a directory"):
        settings("--storage", str(tmp_path / "file"))


TOOL = """\
name: say-it
description: Print a text
command: echo
tags: [text]
schema:
  positional:
    - name: text
      type: string
      required: true
"""
SKILL = '''"""Double a number."""


async def run(x: int) -> int:
    return 2 * x
'''


async def test_a_py_code_mode_command_line_and_workspace_work_over_mcp(tmp_path: Path):
    data, tools = tmp_path / "data", tmp_path / "project-tools"
    (data / "skills").mkdir(parents=True)
    (data / "skills" / "double.py").write_text(SKILL)
    tools.mkdir()
    (tools / "say-it.yaml").write_text(TOOL)
    flags = ["--storage", str(data), "--tools", str(tools), "--no-sync-deps", "--timeout", "30"]
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "codemode", *flags, "--log-level", "WARNING", "--mcp-tools", "full"],
        cwd=str(tmp_path),
    )
    async with Client(command, mode="legacy") as client:
        listed = await client.call_tool("list_tools", {})
        assert [tool["name"] for tool in json.loads(listed.content[0].text)["tools"]] == ["say-it"]  # type: ignore[union-attr]
        skills = await client.call_tool("list_workflows", {})
        assert [w["name"] for w in skills.structured_content["workflows"]] == ["double"]  # type: ignore[index]
        code = "skills.invoke('double', x=tools.say_it(text='21').count('2') + 20)"
        result = await client.call_tool("run_code", {"code": code})
        assert result.structured_content["value"] == 42, result.content  # type: ignore[index]
        saved = await client.call_tool("run_code", {"code": "artifacts.save('notes', 'hi')['name']"})
        assert saved.structured_content["value"] == "notes"  # type: ignore[index]
    assert (data / "artifacts" / "notes").read_text() == "hi"  # saved under --storage, as py-code-mode does
