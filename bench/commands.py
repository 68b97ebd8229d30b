"""Benchmark run_command (and JavaScript runs) over stdio with the official MCP client.

Run: uv run python bench/commands.py [--calls 200] [--json bench/results/commands.json]

Measures warm p50/p95 of: run_command ["true"] (no shell), run_command "echo hi" (through
/bin/sh), write_file + read_file of a small file, and run_code language="javascript" of
``n = n + 1``, against a codemode-mcp process started the way a client starts it
(sandboxed where bubblewrap works). Python's run_code ``x = x + 1`` is the reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import jsonschema.validators  # noqa: F401 - the client imports it on its first call_tool; keep that out of the figures
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mcp_stdio import _percentile  # noqa: E402


async def _timed(call: Callable[[], Awaitable[Any]], calls: int) -> dict[str, float]:
    await call()  # warm: starts the worker, node, the shell's page cache
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        outcome = await call()
        samples.append((time.perf_counter() - started) * 1000)
        assert not outcome.is_error, outcome.content[0].text
    return {
        "p50_ms": round(_percentile(samples, 0.5), 2),
        "p95_ms": round(_percentile(samples, 0.95), 2),
        "mean_ms": round(statistics.mean(samples), 2),
    }


async def measure(calls: int, workspace: Path) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "codemode", "--base", str(workspace), "--log-level", "WARNING"]
    )
    async with Client(params, mode="legacy") as client:
        info = (await client.call_tool("session_info", {})).structured_content or {}
        await client.call_tool("run_code", {"code": "x = 0"})
        await client.call_tool("run_code", {"code": "let n = 0", "language": "javascript"})

        async def file_round_trip() -> Any:
            await client.call_tool("write_file", {"path": "bench.txt", "data": "some text\n"})
            return await client.call_tool("read_file", {"path": "bench.txt"})

        cases: dict[str, Callable[[], Awaitable[Any]]] = {
            "run_code python x = x + 1": lambda: client.call_tool("run_code", {"code": "x = x + 1"}),
            "run_command ['true']": lambda: client.call_tool("run_command", {"command": ["true"]}),
            "run_command 'echo hi' (sh)": lambda: client.call_tool("run_command", {"command": "echo hi"}),
            "write_file + read_file": file_round_trip,
            "run_code javascript n = n + 1": lambda: client.call_tool(
                "run_code", {"code": "n = n + 1", "language": "javascript"}
            ),
        }
        results = {name: await _timed(call, calls) for name, call in cases.items()}
    confinement = info.get("confinement") or {}
    return {"sandbox": confinement.get("sandbox"), "calls": calls, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "commands.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codemode-bench-") as workspace:
        report = anyio.run(measure, args.calls, Path(workspace))
    print(f"sandbox: {report['sandbox']}, {report['calls']} calls each, over stdio\n")
    print(f"{'case':34} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, figures in report["results"].items():
        print(f"{name:34} {figures['p50_ms']:8.2f} {figures['p95_ms']:8.2f} {figures['mean_ms']:8.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
