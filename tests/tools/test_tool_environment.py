"""What a tool run on the host sees of the server's environment: an allow-list, --pass-env and its own `env`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from codemode.storage.file import FileStorage
from codemode.tools import cli
from codemode.tools.registry import ToolRegistry
from codemode.tools.spec import CliToolSpec

pytestmark = pytest.mark.anyio

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
MCP_ENV_SERVER = """
import os
from mcp.server.mcpserver import MCPServer

server = MCPServer("env")

@server.tool()
def getenv(name: str) -> str:
    '''A variable of the server's environment, or "unset".'''
    return os.environ.get(name, "unset")

server.run()
"""


@pytest.fixture(autouse=True)
def server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEMODE_TEST_SECRET", "secret-2718")
    monkeypatch.setenv("TOOL_TOKEN", "declared-1618")
    monkeypatch.setenv("OPERATOR_PASSED", "passed-1414")
    monkeypatch.setenv("LC_TEST_LOCALE", "C")


async def _env_of(spec: CliToolSpec, tmp_path: Path, pass_env: tuple[str, ...] = ()) -> dict[str, str]:
    return json.loads(await cli.run(spec, cli.build(spec, None, {}), tmp_path, pass_env))


async def test_a_cli_tool_gets_the_allow_list_and_not_the_servers_other_variables(tmp_path: Path):
    seen = await _env_of(
        CliToolSpec.model_validate({"name": "env", "command": [sys.executable, "-c", PRINT_ENV]}), tmp_path
    )
    assert "CODEMODE_TEST_SECRET" not in seen and "TOOL_TOKEN" not in seen and "OPERATOR_PASSED" not in seen
    assert seen["PATH"] and seen["LC_TEST_LOCALE"] == "C"


async def test_a_cli_tool_gets_the_variables_its_yaml_declares(tmp_path: Path):
    spec = CliToolSpec.model_validate(
        {"name": "env", "command": [sys.executable, "-c", PRINT_ENV], "env": ["TOOL_TOKEN", "NOT_SET_ANYWHERE"]}
    )
    seen = await _env_of(spec, tmp_path)
    assert seen["TOOL_TOKEN"] == "declared-1618"
    assert "NOT_SET_ANYWHERE" not in seen and "CODEMODE_TEST_SECRET" not in seen


async def test_every_tool_gets_the_servers_pass_env_names(tmp_path: Path):
    spec = CliToolSpec.model_validate({"name": "env", "command": [sys.executable, "-c", PRINT_ENV]})
    seen = await _env_of(spec, tmp_path, ("OPERATOR_PASSED",))
    assert seen["OPERATOR_PASSED"] == "passed-1414" and "TOOL_TOKEN" not in seen


def _mcp_tool(tmp_path: Path, env: str) -> ToolRegistry:
    (tmp_path / "server.py").write_text(MCP_ENV_SERVER)
    (tmp_path / "tools").mkdir()
    definition = f"name: envs\ntype: mcp\ncommand: {sys.executable}\nargs: ['{tmp_path / 'server.py'}']\n{env}"
    (tmp_path / "tools" / "envs.yaml").write_text(definition)
    return ToolRegistry(FileStorage(tmp_path), tmp_path, pass_env=("OPERATOR_PASSED",))


@pytest.mark.parametrize(
    "declared", ["env: [TOOL_TOKEN]", "env: {TOOL_TOKEN: '${TOOL_TOKEN}'}"], ids=["names", "values"]
)
async def test_an_mcp_server_gets_the_allow_list_pass_env_and_what_it_declares(tmp_path: Path, declared: str):
    registry = _mcp_tool(tmp_path, declared)
    async with anyio.create_task_group() as tasks:
        registry.bind(tasks)
        seen = {
            name: await registry.call("envs", "getenv", {"name": name})
            for name in ("CODEMODE_TEST_SECRET", "TOOL_TOKEN", "OPERATOR_PASSED", "LC_TEST_LOCALE")
        }
        await registry.aclose()
    assert seen == {
        "CODEMODE_TEST_SECRET": "unset",
        "TOOL_TOKEN": "declared-1618",
        "OPERATOR_PASSED": "passed-1414",
        "LC_TEST_LOCALE": "C",
    }
