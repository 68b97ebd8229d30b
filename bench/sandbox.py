"""The sandbox's cost: bubblewrap vs an unconfined worker, over streamable HTTP, in one run.

Run: uv run python bench/sandbox.py [--rounds 5] [--json bench/results/sandbox.json]

Two servers run side by side (``--sandbox bwrap`` and ``--sandbox none``, both with the
network off where it can be, both without a worker pool so that every new session pays
for its worker) and are measured in alternating rounds, so that the machine's noise
falls on both alike. Per round and mode:

- new session -> first result: ``open_session`` (a worker is started) + the first ``run_code``;
- warm ``run_code`` p50/p95 in one session;
- memory each idle session adds to the server's process tree, sandbox processes included: PSS
  (shared pages such as libc counted once, which is what the machine pays) and RSS (each
  process's resident pages, shared ones counted again in every process).

Targets (issue 8): warm p50 within +0.1 ms of unconfined, new session within +25 ms,
RSS per idle session within +2 MB.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import jsonschema.validators  # noqa: F401 - imported by the client on its first call; keep it out of the figures
from mcp import Client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mcp_http import _free_port, _wait_ready, _warm_calls  # noqa: E402
from mcp_stdio import _percentile, _tree_kb, _tree_rss_mb  # noqa: E402

MODES = ("bwrap", "none")
IDLE_SESSIONS = 8


def _start(mode: str, workspace: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "codemode", "--transport", "http", "--port", str(port), "--base", workspace,
        "--log-level", "ERROR", "--pool-size", "0", "--sandbox", mode, "--network", "off",
        "--max-sessions-per-principal", "512", "--idle-timeout", "none",
    ]  # fmt: skip
    return subprocess.Popen(command), f"http://127.0.0.1:{port}"


async def _new_sessions(client: Client, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        opened = await client.call_tool("open_session", {})
        sid = opened.structured_content["session_id"]  # type: ignore[index]
        result = await client.call_tool("run_code", {"code": "1 + 1", "session_id": sid})
        samples.append((time.perf_counter() - started) * 1000)
        assert result.structured_content["value"] == 2, result  # type: ignore[index]
        await client.call_tool("close_session", {"session_id": sid})
    return samples


def _tree_pss_mb(root: int) -> float:
    """Proportional set size of a process tree: shared pages (libc, the interpreter) counted once in all."""
    return _tree_kb(root, "smaps_rollup", "Pss:") / 1024


async def _idle_memory(client: Client, server_pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB that each idle session adds to the server's process tree."""
    before = (_tree_rss_mb(server_pid), _tree_pss_mb(server_pid))
    opened = []
    for _ in range(IDLE_SESSIONS):
        session = await client.call_tool("open_session", {})
        sid = session.structured_content["session_id"]  # type: ignore[index]
        await client.call_tool("run_code", {"code": "1", "session_id": sid})
        opened.append(sid)
    await anyio.sleep(0.5)
    after = (_tree_rss_mb(server_pid), _tree_pss_mb(server_pid))
    for sid in opened:
        await client.call_tool("close_session", {"session_id": sid})
    return (after[0] - before[0]) / IDLE_SESSIONS, (after[1] - before[1]) / IDLE_SESSIONS


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-sessions", type=int, default=10, help="per round")
    parser.add_argument("--calls", type=int, default=200, help="warm calls per round")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "sandbox.json")
    args = parser.parse_args()
    workspace = tempfile.mkdtemp(prefix="codemode-bench-")
    servers = {mode: _start(mode, workspace) for mode in MODES}
    samples: dict[str, dict[str, list[float]]] = {mode: {"new": [], "warm": [], "rss": [], "pss": []} for mode in MODES}
    try:
        for _process, url in servers.values():
            await _wait_ready(url)
        for _ in range(args.rounds):
            for mode, (process, url) in servers.items():
                async with Client(f"{url}/mcp", mode="2026-07-28") as client:
                    samples[mode]["new"] += await _new_sessions(client, args.new_sessions)
                    samples[mode]["warm"] += await _warm_calls(client, args.calls)
                    rss, pss = await _idle_memory(client, process.pid)
                    samples[mode]["rss"].append(rss)
                    samples[mode]["pss"].append(pss)
    finally:
        for process, _ in servers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    report = {mode: _summary(values) for mode, values in samples.items()}
    _print(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")


def _summary(values: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "new_session_first_result_ms": {
            "p50": statistics.median(values["new"]),
            "p95": _percentile(values["new"], 0.95),
        },
        "warm_run_code_ms": {"p50": statistics.median(values["warm"]), "p95": _percentile(values["warm"], 0.95)},
        "rss_per_idle_session_mb": statistics.median(values["rss"]),
        "pss_per_idle_session_mb": statistics.median(values["pss"]),
    }


def _print(report: dict[str, Any]) -> None:
    bwrap, none = report["bwrap"], report["none"]
    rows = [
        ("new session -> first result p50 (ms)", "new_session_first_result_ms", "p50", "+25"),
        ("new session -> first result p95 (ms)", "new_session_first_result_ms", "p95", ""),
        ("warm run_code p50 (ms)", "warm_run_code_ms", "p50", "+0.1"),
        ("warm run_code p95 (ms)", "warm_run_code_ms", "p95", ""),
    ]
    print(f"{'':40} {'bwrap':>9} {'none':>9} {'delta':>9} {'target':>7}")
    for label, key, stat, target in rows:
        on, off = bwrap[key][stat], none[key][stat]
        print(f"{label:40} {on:>9.2f} {off:>9.2f} {on - off:>+9.2f} {target:>7}")
    for label, key, target in [
        ("memory (PSS) per idle session (MB)", "pss_per_idle_session_mb", "+2"),
        ("RSS per idle session (MB)", "rss_per_idle_session_mb", ""),
    ]:
        on, off = bwrap[key], none[key]
        print(f"{label:40} {on:>9.2f} {off:>9.2f} {on - off:>+9.2f} {target:>7}")


if __name__ == "__main__":
    anyio.run(main)
