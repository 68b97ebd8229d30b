"""MCP clients' config files: ``mcpServers`` (Claude Desktop, Cursor) and ``servers`` (VS Code), read as tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codemode.errors import InvalidArgument
from codemode.tools.mcp_config import check_mcp_configs, parse_mcp_config
from codemode.tools.spec import parse_tool_file

CLAUDE = {
    "mcpServers": {
        "memory": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-memory"],
            "env": {"MEMORY_FILE_PATH": "${HOME}/memory.jsonl"},
        }
    }
}


def parse(data: Any, path: Path = Path("/cfg/claude_desktop_config.json")) -> tuple[list[Any], list[str]]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return parse_mcp_config(path, raw)


def one_problem(servers: dict[str, Any], key: str = "mcpServers") -> str:
    specs, problems = parse({key: servers})
    assert specs == [] and len(problems) == 1, problems
    return problems[0]


def test_an_mcpservers_entry_is_the_spec_a_yaml_mcp_tool_would_be():
    (spec,), problems = parse(CLAUDE)
    assert problems == []
    yaml = (
        "name: memory\ntype: mcp\ncommand: npx\nargs: [-y, '@modelcontextprotocol/server-memory']\n"
        "env: {MEMORY_FILE_PATH: '${HOME}/memory.jsonl'}\n"
        "description: MCP server 'memory' from claude_desktop_config.json"
    )
    assert spec == parse_tool_file("memory.yaml", yaml.encode()).spec


def test_vs_code_servers_with_http_and_sse_types():
    specs, problems = parse(
        {
            "inputs": [],
            "servers": {
                "github": {
                    "type": "http",
                    "url": "https://api.example/mcp",
                    "headers": {"Authorization": "Bearer ${T}"},
                },
                "events": {"type": "sse", "url": "https://events.example/sse"},
                "local": {"type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"]},
            },
        }
    )
    assert problems == []
    assert [(spec.name, spec.transport) for spec in specs] == [
        ("github", "streamable_http"),
        ("events", "sse"),
        ("local", "stdio"),
    ]
    assert specs[0].headers == {"Authorization": "Bearer ${T}"}


def test_a_url_without_a_type_is_streamable_http():
    (spec,), _ = parse({"mcpServers": {"remote": {"url": "http://127.0.0.1:9/mcp"}}})
    assert spec.transport == "streamable_http" and spec.url == "http://127.0.0.1:9/mcp"


def test_disabled_servers_are_skipped_and_other_clients_keys_ignored():
    specs, problems = parse(
        {"mcpServers": {"off": {"command": "x", "disabled": True}, "on": {"command": "y", "autoApprove": ["a"]}}}
    )
    assert problems == [] and [spec.name for spec in specs] == ["on"]


def test_server_names_become_tool_names():
    specs, _ = parse(
        {"mcpServers": {"my.server": {"command": "x"}, "9lives": {"command": "x"}, "a-b": {"command": "x"}}}
    )
    assert [spec.name for spec in specs] == ["my_server", "_9lives", "a-b"]


def test_cwd_is_relative_to_the_file_and_vs_code_variables_are_read(tmp_path: Path):
    config = tmp_path / "project" / ".vscode" / "mcp.json"
    entry = {"command": "x", "cwd": "tools", "env": {"ROOT": "${workspaceFolder}", "TOKEN": "${env:GH_TOKEN}"}}
    (spec,), _ = parse({"servers": {"s": entry}}, config)
    assert spec.cwd == str(config.parent / "tools")
    assert spec.env == {"ROOT": str(tmp_path / "project"), "TOKEN": "${GH_TOKEN}"}


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ({"x": {"type": "grpc", "url": "http://x"}}, "server 'x': unknown type 'grpc'; use 'stdio', 'http'"),
        ({"x": {"args": ["a"]}}, "server 'x': needs a 'command' (a stdio server) or a 'url' (an HTTP server)"),
        ({"x": {"type": "stdio", "url": "http://x"}}, "server 'x': a stdio server needs a 'command'"),
        ({"x": {"type": "http", "command": "x"}}, "server 'x': an 'http' server needs a 'url'"),
        ({"x": "npx server"}, "server 'x': expected an object with 'command'"),
        ({"x": {"command": ["npx", "y"]}}, "server 'x': 'command' must be a string"),
        ({"x": {"command": "npx", "args": "-y server"}}, "server 'x': 'args' must be a list of strings"),
        ({"x": {"command": "npx", "env": ["A=1"]}}, "server 'x': 'env' must be an object"),
        ({"x": {"command": "npx", "env": {"A": {"nested": 1}}}}, "server 'x': 'env.A' must be a string, not dict"),
        ({"x": {"command": "npx", "env": {"BAD-NAME": "1"}}}, "server 'x': env: 'BAD-NAME' is not an environment"),
        ({"x": {"command": "npx", "envFile": ".env"}}, "server 'x': 'envFile' is not supported"),
        ({"x": {"url": "http://x", "headers": {"A": "${input:token}"}}}, "VS Code input variables"),
        ({"x": {"type": "sse", "url": "localhost:8000/sse"}}, "server 'x': 'url' must be an http:// or https:// URL"),
    ],
)
def test_a_server_that_cannot_work_is_named_with_its_file_and_what_is_wrong(servers: dict[str, Any], message: str):
    problem = one_problem(servers)
    assert problem.startswith("--mcp-config /cfg/claude_desktop_config.json: ")
    assert message in problem


def test_the_good_servers_of_a_file_load_beside_a_bad_one():
    specs, problems = parse({"mcpServers": {"good": {"command": "x"}, "bad": {"type": "grpc"}}})
    assert [spec.name for spec in specs] == ["good"] and len(problems) == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON: Expecting property name"),
        (b"[1, 2]", 'expected a JSON object with "mcpServers" (Claude Desktop, Cursor) or "servers" (VS Code)'),
        (b'{"mcp": {}}', 'expected a JSON object with "mcpServers"'),
        (b'{"mcpServers": ["a"]}', 'expected a JSON object with "mcpServers"'),
    ],
)
def test_a_file_that_is_not_a_config_is_named(raw: bytes, message: str):
    specs, problems = parse(raw)
    assert specs == [] and len(problems) == 1
    assert problems[0].startswith("--mcp-config /cfg/claude_desktop_config.json: ") and message in problems[0]


def test_checking_raises_for_a_missing_file_or_a_bad_server(tmp_path: Path):
    with pytest.raises(InvalidArgument, match=r"--mcp-config .*missing.json: cannot be read: No such file"):
        check_mcp_configs([tmp_path / "missing.json"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mcpServers": {"good": {"command": "x"}, "broken": {}}}))
    with pytest.raises(InvalidArgument, match=r"bad.json: server 'broken': needs a 'command'"):
        check_mcp_configs([bad])
    good = tmp_path / "good.json"
    good.write_text(json.dumps(CLAUDE))
    check_mcp_configs([good])
