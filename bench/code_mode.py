"""What code mode saves an agent: context bytes, calls and time, against direct tool calls and FastMCP's CodeMode.

Run: uv run python bench/code_mode.py [--json bench/results/code_mode.json] [--no-fastmcp] [--no-npm]

Two tasks, each done three ways by a scripted agent (the calls an agent makes, fixed):
- inventory (a local SDK server, bench/inventory_server.py): list 6 categories of 60 items and
  restock those below their minimum;
- memory (@modelcontextprotocol/server-memory from npm, through npx): create 40 people in 4 teams,
  relate each to its team, and report how many each team has.
The ways: direct calls to the upstream server; one run_code through codemode-mcp (code profile,
the upstream server from an mcpServers file); FastMCP's CodeMode over a proxy of the same server
(run in an environment of its own with uv, since FastMCP pins another MCP SDK).

Context bytes = the model-visible tool definitions (name, description, input schema as compact
JSON, counted once) + every call the agent writes (name and arguments) + every answer it reads
(the text content). Also printed: the definition bytes of each codemode-mcp profile.
Targets (issue 15): code mode at most 20% of direct on the inventory, below FastMCP's ratio on memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
FASTMCP = "fastmcp[code-mode]==3.4.11"  # 4.x lists no tools of servers that send no 2026-07-28 cache hints
MEMORY_PACKAGE = "@modelcontextprotocol/server-memory@2026.8.31"  # the version the tests pin
TEAMS = ["red", "green", "blue", "gold"]

INVENTORY_CODE = """\
restocked = []
for category in tools.inventory.list_categories():
    for item in tools.inventory.list_items(category=category):
        if item["stock"] < item["min_stock"]:
            tools.inventory.restock(item_id=item["id"], quantity=20 - item["stock"])
            restocked.append(item["id"])
print(len(restocked), "restocked:", ", ".join(restocked))
"""
FASTMCP_INVENTORY_CODE = """\
restocked = []
for category in (await call_tool("list_categories", {}))["result"]:
    for item in (await call_tool("list_items", {"category": category}))["result"]:
        if item["stock"] < item["min_stock"]:
            await call_tool("restock", {"item_id": item["id"], "quantity": 20 - item["stock"]})
            restocked.append(item["id"])
return f"{len(restocked)} restocked: " + ", ".join(restocked)
"""
MEMORY_CODE = """\
teams = ["red", "green", "blue", "gold"]
people = [{"name": f"person{i}", "entityType": "person", "observations": [f"joined in {2000 + i}"]} for i in range(40)]
tools.memory.create_entities(entities=people + [{"name": t, "entityType": "team", "observations": []} for t in teams])
tools.memory.create_relations(relations=[
    {"from": p["name"], "to": teams[i % 4], "relationType": "member_of"} for i, p in enumerate(people)])
graph = tools.memory.read_graph()
counts = {t: sum(1 for r in graph["relations"] if r["to"] == t) for t in teams}
print(counts)
"""
FASTMCP_MEMORY_CODE = """\
teams = ["red", "green", "blue", "gold"]
people = [{"name": f"person{i}", "entityType": "person", "observations": [f"joined in {2000 + i}"]} for i in range(40)]
teams_entities = [{"name": t, "entityType": "team", "observations": []} for t in teams]
await call_tool("create_entities", {"entities": people + teams_entities})
await call_tool("create_relations", {"relations": [
    {"from": p["name"], "to": teams[i % 4], "relationType": "member_of"} for i, p in enumerate(people)]})
graph = await call_tool("read_graph", {})
return {t: sum(1 for r in graph["relations"] if r["to"] == t) for t in teams}
"""


@dataclass
class Ledger:
    """What one approach cost the agent."""

    definitions: int = 0
    calls: list[tuple[int, int]] = field(default_factory=list)  # (bytes written, bytes read) per call
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.definitions + sum(written + read for written, read in self.calls)


async def _call(client: Client, ledger: Ledger, name: str, arguments: dict[str, Any]) -> Any:
    """The call's structured content (else its text); the ledger counts what the model writes and reads."""
    result = await client.call_tool(name, arguments)
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    ledger.calls.append((len(json.dumps({"name": name, "arguments": arguments})), len(text.encode())))
    if result.is_error:
        raise RuntimeError(f"{name} failed: {text[:500]}")
    return result.structured_content if result.structured_content is not None else text


async def _definitions(client: Client) -> int:
    tools = (await client.list_tools()).tools
    rows = [{"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in tools]
    return len(json.dumps(rows, separators=(",", ":")))


# -- the inventory task ------------------------------------------------------------------------------


async def inventory_direct(upstream: StdioServerParameters) -> Ledger:
    ledger = Ledger()
    async with Client(upstream) as client:
        ledger.definitions = await _definitions(client)
        started = time.perf_counter()
        categories = (await _call(client, ledger, "list_categories", {}))["result"]
        for category in categories:
            items = (await _call(client, ledger, "list_items", {"category": category}))["result"]
            for item in items:
                if item["stock"] < item["min_stock"]:
                    await _call(client, ledger, "restock", {"item_id": item["id"], "quantity": 20 - item["stock"]})
        ledger.seconds = time.perf_counter() - started
    return ledger


async def through_codemode(server: StdioServerParameters, query: str, code: str) -> Ledger:
    ledger = Ledger()
    async with Client(server) as client:
        ledger.definitions = await _definitions(client)
        started = time.perf_counter()
        await _call(client, ledger, "search", {"query": query})
        await _call(client, ledger, "run_code", {"code": code})
        ledger.seconds = time.perf_counter() - started
    return ledger


async def through_fastmcp(server: StdioServerParameters, query: str, tools: list[str], code: str) -> Ledger:
    ledger = Ledger()
    async with Client(server) as client:
        ledger.definitions = await _definitions(client)
        started = time.perf_counter()
        await _call(client, ledger, "search", {"query": query})
        await _call(client, ledger, "get_schema", {"tools": tools})
        await _call(client, ledger, "execute", {"code": code})
        ledger.seconds = time.perf_counter() - started
    return ledger


# -- the memory task ---------------------------------------------------------------------------------


async def memory_direct(upstream: StdioServerParameters) -> Ledger:
    ledger = Ledger()
    async with Client(upstream) as client:
        ledger.definitions = await _definitions(client)
        started = time.perf_counter()
        people = [
            {"name": f"person{i}", "entityType": "person", "observations": [f"joined in {2000 + i}"]} for i in range(40)
        ]
        teams = [{"name": team, "entityType": "team", "observations": []} for team in TEAMS]
        await _call(client, ledger, "create_entities", {"entities": people + teams})
        relations = [
            {"from": person["name"], "to": TEAMS[i % 4], "relationType": "member_of"} for i, person in enumerate(people)
        ]
        await _call(client, ledger, "create_relations", {"relations": relations})
        await _call(client, ledger, "read_graph", {})  # the agent counts the members in what it reads
        ledger.seconds = time.perf_counter() - started
    return ledger


# -- set-up --------------------------------------------------------------------------------------------


def codemode_server(workspace: Path, config: Path) -> StdioServerParameters:
    args = ["-m", "codemode", "--base", str(workspace), "--mcp-tools", "code", "--log-level", "WARNING"]
    args += ["--mcp-config", str(config)]
    env = {key: value for key, value in os.environ.items() if key != "CODEMODE_MCP_TOOLS"}
    return StdioServerParameters(command=sys.executable, args=args, env=env)


def fastmcp_server(upstream: list[str]) -> StdioServerParameters:
    uv = shutil.which("uv") or "uv"
    args = [
        "run",
        "--quiet",
        "--no-project",
        "--system-certs",
        "--with",
        FASTMCP,
        "python",
        str(HERE / "fastmcp_codemode_server.py"),
    ]
    return StdioServerParameters(command=uv, args=[*args, *upstream])


def memory_command(store: Path) -> tuple[list[str], dict[str, str]]:
    return ["npx", "-y", MEMORY_PACKAGE], {"MEMORY_FILE_PATH": str(store)}


async def profile_bytes(workspace: Path) -> dict[str, int]:
    figures = {}
    for profile in ("code", "py-code-mode", "full"):
        for transport in ("stdio", "http"):
            from codemode.server import ServerSettings, create_server

            settings = ServerSettings(base=workspace, mcp_tools=profile, transport=transport, eager_start=False)
            async with Client(create_server(settings)) as client:
                figures[f"{profile} ({transport})"] = await _definitions(client)
    return figures


def _row(task: str, way: str, ledger: Ledger, direct: Ledger) -> dict[str, Any]:
    return {
        "task": task,
        "way": way,
        "definitions_bytes": ledger.definitions,
        "calls": len(ledger.calls),
        "context_bytes": ledger.total,
        "vs_direct": round(ledger.total / direct.total, 3),
        "seconds": round(ledger.seconds, 3),
    }


async def main(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="codemode-bench-"))
    workspace = scratch / "workspace"
    workspace.mkdir()
    inventory = [sys.executable, str(HERE / "inventory_server.py")]
    servers: dict[str, Any] = {"inventory": {"command": inventory[0], "args": inventory[1:]}}
    run_memory = not args.no_npm and shutil.which("npx") is not None
    if run_memory:
        command, env = memory_command(scratch / "memory.jsonl")
        servers["memory"] = {"command": command[0], "args": command[1:], "env": env}
        subprocess.run([*command, "--help"], capture_output=True, timeout=300, check=False)  # fetch it once
    config = scratch / "mcp.json"
    config.write_text(json.dumps({"mcpServers": servers}))
    rows = []
    direct = await inventory_direct(StdioServerParameters(command=inventory[0], args=inventory[1:]))
    rows.append(_row("inventory", "direct", direct, direct))
    ours = await through_codemode(codemode_server(workspace, config), "inventory restock", INVENTORY_CODE)
    rows.append(_row("inventory", "codemode-mcp", ours, direct))
    if not args.no_fastmcp:
        theirs = await through_fastmcp(
            fastmcp_server(inventory), "inventory restock", ["list_items", "restock"], FASTMCP_INVENTORY_CODE
        )
        rows.append(_row("inventory", "FastMCP CodeMode", theirs, direct))
    if run_memory:
        command, env = memory_command(scratch / "direct.jsonl")
        upstream = StdioServerParameters(command=command[0], args=command[1:], env={**os.environ, **env})
        direct = await memory_direct(upstream)
        rows.append(_row("memory", "direct", direct, direct))
        ours = await through_codemode(codemode_server(workspace, config), "create entities relations", MEMORY_CODE)
        rows.append(_row("memory", "codemode-mcp", ours, direct))
        if not args.no_fastmcp:
            os.environ["MEMORY_FILE_PATH"] = str(scratch / "fastmcp.jsonl")
            tools = ["create_entities", "create_relations", "read_graph"]
            theirs = await through_fastmcp(
                fastmcp_server(command), "create entities relations", tools, FASTMCP_MEMORY_CODE
            )
            rows.append(_row("memory", "FastMCP CodeMode", theirs, direct))
    profiles = await profile_bytes(workspace)
    _print(rows, profiles)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"tasks": rows, "definition_bytes": profiles}, indent=2) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)


def _print(rows: list[dict[str, Any]], profiles: dict[str, int]) -> None:
    print(f"{'task':<10} {'way':<17} {'defs B':>7} {'calls':>5} {'context B':>10} {'vs direct':>9} {'seconds':>8}")
    for row in rows:
        print(
            f"{row['task']:<10} {row['way']:<17} {row['definitions_bytes']:>7} {row['calls']:>5} "
            f"{row['context_bytes']:>10} {row['vs_direct']:>9.2f} {row['seconds']:>8.3f}"
        )
    print()
    print(f"{'profile':<22} {'definition bytes':>16}")
    for name, size in profiles.items():
        print(f"{name:<22} {size:>16}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=HERE / "results" / "code_mode.json")
    parser.add_argument("--no-fastmcp", action="store_true", help="skip FastMCP's CodeMode (needs PyPI)")
    parser.add_argument("--no-npm", action="store_true", help="skip the server-memory task (needs npx)")
    anyio.run(main, parser.parse_args())
