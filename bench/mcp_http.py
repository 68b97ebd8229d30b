"""Benchmark codemode-mcp over streamable HTTP with the official client.

Run: uv run python bench/mcp_http.py [--clients 10 50 100] [--json bench/results/mcp_http.json]

Measures: a new client's time to its first result (connect, open a session, which
takes a pre-started worker from the pool, first run_code; target 50 ms), warm run_code p50/p95, and N
concurrent clients each running 20 calls in a session of its own: throughput,
p95, errors, crossed results (every client checks its own counter), the server's
total RSS and the RSS each idle session adds (target 25 MB).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jsonschema.validators  # noqa: F401 - imported by the client on its first call; keep it out of the figures
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mcp_stdio import _percentile, _tree_rss_mb  # noqa: E402

CALLS_PER_CLIENT = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _wait_ready(url: str) -> None:
    with anyio.fail_after(60):
        while True:
            try:
                async with httpx2.AsyncClient() as http:
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        return
            except httpx2.TransportError:
                pass
            await anyio.sleep(0.1)


async def new_client_first_result(url: str, rounds: int, mode: str) -> dict[str, float]:
    """A new MCP client, a new codemode session (from the pool), its first run_code.

    Handshake-era clients get a session per Mcp-Session-Id; modern ones open one. The
    clients share one HTTP connection pool, as an application's clients would: creating
    an httpx client (its TLS context) is the client's cost, not the server's.
    """
    samples = []
    async with httpx2.AsyncClient(timeout=30) as http:
        for _ in range(rounds):
            await anyio.sleep(0.3)  # let the pool refill, as between real clients
            started = time.perf_counter()
            transport = streamable_http_client(f"{url}/mcp", http_client=http)
            async with Client(transport, mode=mode) as client:
                session = {}
                if mode != "legacy":
                    opened = await client.call_tool("open_session", {})
                    session = {"session_id": opened.structured_content["session_id"]}  # type: ignore[index]
                result = await client.call_tool("run_code", {"code": "1 + 1", **session})
                samples.append((time.perf_counter() - started) * 1000)
                assert result.structured_content["value"] == 2, result  # type: ignore[index]
                if session:
                    await client.call_tool("close_session", session)
    return {"p50_ms": statistics.median(samples), "p95_ms": _percentile(samples, 0.95)}


async def warm(url: str, calls: int) -> dict[str, float]:
    async with Client(f"{url}/mcp", mode="2026-07-28") as client:
        samples = await _warm_calls(client, calls)
        final = await client.call_tool("run_code", {"code": "x"})
        assert final.structured_content["value"] == calls  # type: ignore[index]
    return {"p50_ms": statistics.median(samples), "p95_ms": _percentile(samples, 0.95)}


async def _warm_calls(client: Client, calls: int) -> list[float]:
    """Milliseconds of each of ``calls`` run_code calls (``x = x + 1``) in one warm session; leaves x == calls."""
    await client.call_tool("run_code", {"code": "x = 0"})
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await client.call_tool("run_code", {"code": "x = x + 1"})
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def concurrent(url: str, clients: int, server_pid: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    crossed = 0
    opened = anyio.Event()
    ready = 0
    sessions_rss_before = _tree_rss_mb(server_pid)

    async def one(index: int) -> None:
        nonlocal errors, crossed, ready
        async with Client(f"{url}/mcp", mode="2026-07-28") as client:
            session = await client.call_tool("open_session", {"name": f"bench-{index}"})
            if session.is_error:
                errors += 1
                return
            sid = session.structured_content["session_id"]  # type: ignore[index]
            await client.call_tool("run_code", {"code": f"mine = {index}\ncounter = 0", "session_id": sid})
            ready += 1
            if ready == clients:
                opened.set()
            await opened.wait()
            for _ in range(CALLS_PER_CLIENT):
                started = time.perf_counter()
                result = await client.call_tool(
                    "run_code", {"code": "counter += 1\n(mine, counter)", "session_id": sid}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                errors += bool(result.is_error)
            final = await client.call_tool("run_code", {"code": "(mine, counter)", "session_id": sid})
            if final.structured_content["value"] != f"({index}, {CALLS_PER_CLIENT})":  # type: ignore[index]
                crossed += 1
            await client.call_tool("close_session", {"session_id": sid})

    async def measure_idle() -> float:
        await opened.wait()
        return _tree_rss_mb(server_pid)

    idle_rss: list[float] = []

    async def watch() -> None:
        idle_rss.append(await measure_idle())

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        for index in range(clients):
            tasks.start_soon(one, index)
    elapsed = time.perf_counter() - started
    with_sessions = idle_rss[0] if idle_rss else 0.0
    return {
        "clients": clients,
        "calls": len(latencies),
        "throughput_calls_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) if latencies else 0.0,
        "p95_ms": _percentile(latencies, 0.95) if latencies else 0.0,
        "errors": errors,
        "crossed_results": crossed,
        "server_rss_mb": with_sessions,
        "rss_per_idle_session_mb": (with_sessions - sessions_rss_before) / clients,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--new-clients", type=int, default=20)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "mcp_http.json")
    args = parser.parse_args()
    workspace = tempfile.mkdtemp(prefix="codemode-bench-")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "codemode", "--transport", "http", "--port", str(port), "--base", workspace,
        "--log-level", "WARNING", "--pool-size", "4", "--max-sessions", "512",
        "--max-sessions-per-principal", "512", "--idle-timeout", "none",
    ]  # fmt: skip
    server = subprocess.Popen(command)
    try:
        await _wait_ready(url)
        await anyio.sleep(1)  # the pool fills
        first = await new_client_first_result(url, args.new_clients, "2026-07-28")
        first_legacy = await new_client_first_result(url, args.new_clients, "legacy")
        steady = await warm(url, args.calls)
        loads = [await concurrent(url, count, server.pid) for count in args.clients]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    print(f"new client -> first result   p50 {first['p50_ms']:.1f} ms  p95 {first['p95_ms']:.1f} ms  (target <= 50)")
    print(f"  handshake-era client       p50 {first_legacy['p50_ms']:.1f} ms  p95 {first_legacy['p95_ms']:.1f} ms")
    print(f"warm run_code over HTTP      p50 {steady['p50_ms']:.2f} ms  p95 {steady['p95_ms']:.2f} ms")
    print()
    header = f"{'clients':>7} {'calls/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6} {'crossed':>7} {'RSS MB':>7}"
    header += f" {'MB/idle session':>15}"
    print(header)
    for row in loads:
        print(
            f"{row['clients']:>7} {row['throughput_calls_per_s']:>8.0f} {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} "
            f"{row['errors']:>6} {row['crossed_results']:>7} {row['server_rss_mb']:>7.0f} "
            f"{row['rss_per_idle_session_mb']:>15.1f}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "new_client_first_result": first,
        "new_handshake_era_client_first_result": first_legacy,
        "warm": steady,
        "concurrent": loads,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    anyio.run(main)
