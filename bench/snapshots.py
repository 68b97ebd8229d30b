"""Snapshot and restore of a session's variables: time and size for 1 MB, 10 MB and 100 MB namespaces.

Run: uv run python bench/snapshots.py [--rounds 3] [--json bench/results/snapshots.json]

Through ``Session`` with real workers (sandboxed where bubblewrap works): the data is made in
one session's worker, ``snapshot_state()`` takes it (the worker pickles it into its directory,
the host reads the bytes), ``restore_state()`` loads it into a second, fresh session, and
``store`` is writing it to file storage. Namespaces:

- ``bytes``: one bytes object; ``ints``: a list of ints; ``strings``: a dict of short strings;
- ``mix``: a quarter of each of those plus nested dicts, tuples and floats.

The 100 MB ``ints`` case is left out: a list of 20 million ints takes ~700 MB in each of the
two workers, and the machine is shared. Targets (issue 10): snapshot of 10 MB <= 200 ms,
restore <= 300 ms.
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

from codemode import FileStorage, Session, SnapshotStore

MB = 1024 * 1024
SIZES = (1, 10, 100)
KINDS = ("bytes", "ints", "strings", "mix")
SKIPPED = {("ints", 100)}

# Code that binds `data` to about `n` bytes of pickled data of each kind.
MAKE = {
    "bytes": "data = os.urandom({n})",
    "ints": "data = list(range(10**6, 10**6 + {n} // 5))",
    "strings": "data = {{f'k{{i}}': str(i).rjust(100, 'v') for i in range({n} // 118)}}",
    "mix": (
        "q = {n} // 4\n"
        "data = {{'blob': os.urandom(q), 'ints': list(range(10**6, 10**6 + q // 5)),\n"
        "        'strings': {{f'k{{i}}': str(i).rjust(100, 'v') for i in range(q // 118)}},\n"
        "        'records': [(i, i / 3, {{'id': i, 'ok': i % 2 == 0}}) for i in range(q // 40)]}}\n"
        "del q"
    ),
}


async def _measure(base: Path, kind: str, megabytes: int, rounds: int) -> dict[str, Any]:
    snapshot_ms, restore_ms, store_ms = [], [], []
    size = 0
    store = SnapshotStore(FileStorage(base / "store"))
    async with Session.from_base(base, timeout=300) as source, Session.from_base(base, timeout=300) as target:
        made = await source.run("import os\n" + MAKE[kind].format(n=megabytes * MB))
        assert made.error_info is None, made.error_info
        sandbox = source.info().confinement.sandbox
        for _ in range(rounds):
            started = time.perf_counter()
            snapshot = await source.snapshot_state()
            snapshot_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await target.restore_state(snapshot)
            restore_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            info = await store.save(snapshot, "bench")
            store_ms.append((time.perf_counter() - started) * 1000)
            assert info.snapshot_id is not None
            await store.delete(info.snapshot_id, "bench")
            size = len(snapshot)
            del snapshot
        check = await target.run("type(data).__name__")
        assert check.error_info is None, check.error_info
    return {
        "kind": kind,
        "megabytes": megabytes,
        "size_bytes": size,
        "snapshot_ms": round(statistics.median(snapshot_ms), 1),
        "restore_ms": round(statistics.median(restore_ms), 1),
        "store_ms": round(statistics.median(store_ms), 1),
        "rounds": rounds,
        "sandbox": sandbox,
    }


async def main(rounds: int, output: Path) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="codemode-bench-snapshots-") as directory:
        for megabytes in SIZES:
            for kind in KINDS:
                if (kind, megabytes) in SKIPPED:
                    continue
                rows.append(await _measure(Path(directory), kind, megabytes, 1 if megabytes >= 100 else rounds))
                row = rows[-1]
                print(
                    f"{row['kind']:>8} {row['megabytes']:>4} MB  size {row['size_bytes'] / MB:8.1f} MB  "
                    f"snapshot {row['snapshot_ms']:8.1f} ms  restore {row['restore_ms']:8.1f} ms  "
                    f"store {row['store_ms']:7.1f} ms  ({row['sandbox']})",
                    flush=True,
                )
    ten = [row for row in rows if row["megabytes"] == 10]
    summary = {
        "snapshot_10mb_max_ms": max(row["snapshot_ms"] for row in ten),
        "restore_10mb_max_ms": max(row["restore_ms"] for row in ten),
        "targets": {"snapshot_10mb_ms": 200, "restore_10mb_ms": 300},
    }
    print(json.dumps(summary))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"python": sys.version.split()[0], "rows": rows, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "snapshots.json")
    arguments = parser.parse_args()
    anyio.run(main, arguments.rounds, arguments.json)
