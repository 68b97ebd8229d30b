"""Benchmark calls into the namespaces over MCP: CLI tools, workflows, artifacts, tool search.

Run: uv run python bench/mcp_namespaces.py [--calls 200] [--json bench/results/mcp_namespaces.json]

Spawns codemode-mcp on a scratch workspace with a trivial CLI tool (``echo``) and a
trivial workflow, and times ``run_code`` calls that use them with the official client
over stdio. Target: a workflow invoke over MCP at most 3 ms p50.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import jsonschema.validators  # noqa: F401 - imported by the client on its first call; keep it out of the figures
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mcp_stdio import _percentile  # noqa: E402

ECHO_TOOL = """\
name: echo
description: Print text
command: echo
schema:
  positional:
    - {name: text, required: true}
recipes:
  say:
    description: Print the text
    params: {text: {}}
"""
NOOP_WORKFLOW = '"""Return its argument."""\n\ndef run(x: int = 0) -> int:\n    return x\n'

CASES = {
    "run_code x = 1 (baseline)": ("run_code", {"code": "x = 1"}),
    "tools.echo.say (CLI tool)": ("run_code", {"code": "tools.echo.say(text='hi')"}),
    "workflows.invoke (sync)": ("run_code", {"code": "workflows.invoke('noop', x=1)"}),
    "artifacts.save + load": ("run_code", {"code": "artifacts.save('b', {'k': 1})\nartifacts.load('b')"}),
    "search_tools (MCP tool)": ("search_tools", {"query": "print text"}),
    "list_workflows (MCP tool)": ("list_workflows", {}),
}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "mcp_namespaces.json")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="codemode-bench-"))
    (workspace / "tools").mkdir()
    (workspace / "tools" / "echo.yaml").write_text(ECHO_TOOL)
    (workspace / "workflows").mkdir()
    (workspace / "workflows" / "noop.py").write_text(NOOP_WORKFLOW)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "codemode", "--base", str(workspace), "--log-level", "WARNING"]
    )
    rows: list[dict[str, Any]] = []
    async with Client(params, mode="legacy") as client:
        for name, (tool, arguments) in CASES.items():
            for _ in range(20):  # warm up
                await client.call_tool(tool, arguments)
            samples = []
            for _ in range(args.calls):
                started = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                samples.append((time.perf_counter() - started) * 1000)
                assert not result.is_error, result
            rows.append({"case": name, "p50_ms": statistics.median(samples), "p95_ms": _percentile(samples, 0.95)})
    width = max(len(row["case"]) for row in rows)
    print(f"{'case':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}")
    for row in rows:
        print(f"{row['case']:<{width}}  {row['p50_ms']:>8.2f}  {row['p95_ms']:>8.2f}")
    invoke = next(row for row in rows if row["case"].startswith("workflows.invoke"))
    print(f"\nworkflow invoke p50 {invoke['p50_ms']:.2f} ms (target <= 3 ms)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"calls": args.calls, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    anyio.run(main)
