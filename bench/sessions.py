"""Named sessions: how long a fresh server takes to resume one that holds 10 MB of data.

Run: uv run python bench/sessions.py [--rounds 5] [--mb 10] [--storage file|redis] [--json bench/results/sessions.json]

Per round: a server opens the named session, fills it with ``--mb`` MB of Python data
(a dict of distinct 1 KB strings) and shuts down, which saves the session (snapshot, files,
history). A second, fresh server on the same storage then resumes it: ``open_session``
with that name, timed from the call to the reply, its worker pool warm as on a server
that has been up a moment. A ``run_code`` checks the data came back. The servers run
in this process behind the official MCP client (in memory), with the CLI's defaults.

Target (issue 10): resume <= 300 ms for 10 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from codemode.server import ServerSettings, create_server

FILL = "import os\ndata = {{i: os.urandom(512).hex() for i in range({count})}}"  # 1 KB strings, all distinct
CHECK = "sum(len(value) for value in data.values())"
POOL_WARMUP = 2.0  # seconds for a fresh server's worker pool to start its workers


async def _call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    outcome = await client.call_tool(tool, arguments)
    if outcome.is_error:
        raise RuntimeError(f"{tool}: {outcome.content[0].text}")  # type: ignore[union-attr]
    return outcome.structured_content or {}


async def _round(settings: ServerSettings, name: str, megabytes: int) -> dict[str, Any]:
    count = megabytes * 1024
    async with Client(create_server(settings)) as client:
        opened = await _call(client, "open_session", name=name)
        await _call(client, "run_code", code=FILL.format(count=count), session_id=opened["session_id"])
        saving = time.perf_counter()
    save_ms = (time.perf_counter() - saving) * 1000  # the shutdown, which saves the session
    async with Client(create_server(settings)) as client:
        await anyio.sleep(POOL_WARMUP)
        stored = [s for s in (await _call(client, "list_sessions"))["sessions"] if s["name"] == name]
        started = time.perf_counter()
        resumed = await _call(client, "open_session", name=name)
        resume_ms = (time.perf_counter() - started) * 1000
        check = await client.call_tool("run_code", {"code": CHECK, "session_id": resumed["session_id"]})
        await _call(client, "delete_session", name=name)
    return {
        "resume_ms": resume_ms,
        "save_ms": save_ms,
        "restored": (check.structured_content or {}).get("value") == count * 1024,
        "history_length": resumed["history_length"],
        "stored_bytes": stored[0].get("size_bytes") if stored else None,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workspace = Path(tempfile.mkdtemp(prefix="codemode-bench-sessions-"))
    options: dict[str, Any] = {"base": workspace, "log_level": "ERROR", "idle_timeout": None}
    if args.storage == "redis":
        options |= {"storage": "redis", "redis_prefix": f"codemode-bench-{uuid.uuid4().hex[:8]}"}
    settings = ServerSettings(**options)
    rounds = [await _round(settings, f"bench-{index}", args.mb) for index in range(args.rounds)]
    resume = [round_["resume_ms"] for round_ in rounds]
    return {
        "storage": args.storage,
        "megabytes": args.mb,
        "rounds": rounds,
        "resume_ms_p50": statistics.median(resume),
        "resume_ms_max": max(resume),
        "save_ms_p50": statistics.median(round_["save_ms"] for round_ in rounds),
        "restored": all(round_["restored"] for round_ in rounds),
        "stored_bytes": rounds[-1]["stored_bytes"],
        "target_resume_ms": 300,
        "cpus": os.cpu_count(),
    }


def _print(figures: dict[str, Any]) -> None:
    print(f"named session resume, {figures['megabytes']} MB of data, {figures['storage']} storage")
    resume = f"p50 {figures['resume_ms_p50']:7.1f} ms   max {figures['resume_ms_max']:7.1f} ms"
    print(f"  resume (open_session on a fresh server)  {resume}   (target <= 300 ms)")
    print(f"  save (server shutdown)                   p50 {figures['save_ms_p50']:7.1f} ms")
    print(f"  stored size {figures['stored_bytes']} bytes; data restored: {figures['restored']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--storage", choices=("file", "redis"), default="file")
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    results = anyio.run(main, arguments)
    _print(results)
    if arguments.json is not None:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(results, indent=2))
