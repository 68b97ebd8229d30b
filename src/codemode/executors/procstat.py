"""What a worker process uses right now, read from the host's ``/proc`` (Linux).

The worker's pid is its host pid even under bubblewrap, so ``/proc/<pid>`` is the
worker itself. Reading procfs never waits on a disk, so this is cheap enough to do
inline in ``Session.info()``. Elsewhere (no ``/proc``, or the process is gone) the
figures are None.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# utime and stime (fields 14 and 15 of /proc/<pid>/stat, in clock ticks), counted from field 3, the state
_UTIME = 11


class ProcessUsage(BaseModel):
    rss_bytes: int | None = Field(default=None, description="Resident memory of the worker process (VmRSS).")
    cpu_seconds: float | None = Field(default=None, description="CPU time the worker has used, user plus system.")


def process_usage(pid: int | None) -> ProcessUsage:
    """The worker's resident memory and CPU time; Nones where they cannot be read."""
    if pid is None:
        return ProcessUsage()
    return ProcessUsage(rss_bytes=_rss(pid), cpu_seconds=_cpu(pid))


def _rss(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    return None


def stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` from the third (the state) on; OSError if there is no such process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses: the fields that follow start after the last ')'.
    return stat[stat.rfind(")") + 2 :].split()


def _cpu(pid: int) -> float | None:
    try:
        fields = stat_fields(pid)
    except OSError:
        return None
    try:
        ticks = int(fields[_UTIME]) + int(fields[_UTIME + 1])
    except (IndexError, ValueError):
        return None
    return ticks / _CLOCK_TICKS
