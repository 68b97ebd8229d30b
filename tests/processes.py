"""Processes seen from outside, for tests and benchmarks: is one still running, wait for its end, its children."""

from __future__ import annotations

import os
import random

import anyio

from codemode.executors.procstat import stat_fields


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
        return stat_fields(pid)[0] != "Z"
    except OSError:
        return False


async def dies(pid: int, seconds: float = 10) -> bool:
    """True as soon as ``pid`` is dead; False if it still runs after ``seconds``."""
    with anyio.move_on_after(seconds):
        while alive(pid):
            await anyio.sleep(0.05)
    return not alive(pid)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(stat_fields(int(entry))[1])
            except OSError:
                continue
            if parent == pid:
                found.append(int(entry))
    return found


def unique_seconds() -> str:
    """A ``sleep`` duration no other process on this machine runs, to find a test's own processes by it."""
    return f"{random.randint(10**6, 10**7 - 1)}.{random.randint(1, 999):03d}"
