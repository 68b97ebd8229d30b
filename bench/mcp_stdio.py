"""Benchmark codemode-mcp over stdio with the official MCP client, against the floor server.

Run: uv run python bench/mcp_stdio.py [--calls 200] [--json bench/results/mcp_stdio.json]

Measures, for each server: spawn -> initialized, the first run_code, warm run_code
p50/p95 (``x = x + 1``, final value checked), printing 10,000 lines (p50), and the
RSS of the server's process tree once idle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import jsonschema.validators  # noqa: F401 - the client imports it on its first call_tool; keep that out of the figures
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.processes import children  # noqa: E402

PRINT_CODE = "for i in range(10000):\n    print('line', i)"


def _tree_rss_mb(root: int) -> float:
    return _tree_kb(root, "status", "VmRSS:") / 1024


def _tree_kb(root: int, file: str, field: str) -> int:
    """The kB figures of ``/proc/<pid>/<file>`` lines starting with ``field``, summed over a process tree."""
    total = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/{file}") as handle:
                total += sum(int(line.split()[1]) for line in handle if line.startswith(field))
        except OSError:
            continue
        pending.extend(children(pid))
    return total


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(name: str, params: StdioServerParameters, calls: int, prints: int) -> dict[str, Any]:
    before = set(children(os.getpid()))
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        initialized = time.perf_counter()
        first = await client.call_tool("run_code", {"code": "x = 0"})
        first_done = time.perf_counter()
        assert not first.is_error, first
        warm = []
        for _ in range(calls):
            t0 = time.perf_counter()
            result = await client.call_tool("run_code", {"code": "x = x + 1"})
            warm.append((time.perf_counter() - t0) * 1000)
            assert not result.is_error, result
        check = await client.call_tool("run_code", {"code": "x"})
        assert str(calls) in check.content[0].text, check  # type: ignore[union-attr]
        printing = []
        for _ in range(prints):
            t0 = time.perf_counter()
            result = await client.call_tool("run_code", {"code": PRINT_CODE})
            printing.append((time.perf_counter() - t0) * 1000)
            assert "line 9999" in result.content[0].text, result  # type: ignore[union-attr]
        await anyio.sleep(1.0)  # idle: let the worker settle
        servers = [pid for pid in children(os.getpid()) if pid not in before]
        rss = sum(_tree_rss_mb(pid) for pid in servers)
    return {
        "server": name,
        "spawn_to_initialized_ms": (initialized - started) * 1000,
        "first_run_code_ms": (first_done - initialized) * 1000,
        "spawn_to_first_result_ms": (first_done - started) * 1000,
        "warm_p50_ms": statistics.median(warm),
        "warm_p95_ms": _percentile(warm, 0.95),
        "print_10k_p50_ms": statistics.median(printing),
        "idle_tree_rss_mb": rss,
    }


def _median_row(name: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [key for key in samples[0] if key != "server"]
    return {"server": name, **{key: statistics.median(sample[key] for sample in samples) for key in keys}}


def _table(rows: list[dict[str, Any]]) -> str:
    keys = [key for key in rows[0] if key != "server"]
    header = f"{'metric':<26}" + "".join(f"{row['server']:>16}" for row in rows)
    lines = [header, "-" * len(header)]
    lines += [f"{key:<26}" + "".join(f"{row[key]:>16.2f}" for row in rows) for key in keys]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--prints", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="runs per server (alternating); figures are medians")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "mcp_stdio.json")
    args = parser.parse_args()
    workspace = tempfile.mkdtemp(prefix="codemode-bench-")
    # Measure servers as installed: with bytecode caches (some sandboxes set PYTHONDONTWRITEBYTECODE,
    # which would make every start compile every module from source).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    servers = {
        "floor": StdioServerParameters(command=sys.executable, args=[str(HERE / "floor_server.py")], env=env),
        "codemode": StdioServerParameters(
            command=sys.executable, args=["-m", "codemode", "--base", workspace, "--log-level", "WARNING"], env=env
        ),
    }
    for params in servers.values():  # a discarded first run writes the caches (and the session venv)
        await measure("warm-up", params, 10, 1)
    # Rounds alternate between the servers, and each figure is the median over rounds:
    # this machine is a shared VM, and a single run can be off by a factor of two.
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, params in servers.items():
            runs[name].append(await measure(name, params, args.calls, args.prints))
    rows = [_median_row(name, samples) for name, samples in runs.items()]
    floor, ours = rows
    print(_table(rows))
    print()
    print(f"warm p50 over floor:        {ours['warm_p50_ms'] - floor['warm_p50_ms']:+.2f} ms (target <= +0.5)")
    first = ours["spawn_to_first_result_ms"] - floor["spawn_to_first_result_ms"]
    print(f"spawn->first result over floor: {first:+.1f} ms (target <= +150)")
    print(f"10k-line print ratio:       {ours['print_10k_p50_ms'] / floor['print_10k_p50_ms']:.2f}x (target <= 1.5x)")
    print(f"idle RSS over floor:        {ours['idle_tree_rss_mb'] - floor['idle_tree_rss_mb']:+.1f} MB (target <= +20)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"calls": args.calls, "prints": args.prints, "rounds": args.rounds, "results": rows, "runs": runs}
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    anyio.run(main)
