"""The worker's resource limits: set them on itself, and name the one an error came from.

Standard library only: :mod:`codemode.worker.worker` loads this module by path,
as it loads its other siblings.
"""

from __future__ import annotations

import signal
from typing import Any

_CPU_GRACE = 2
_LIMIT_ERRNOS = {11: "max_processes", 24: "max_open_files", 27: "max_file_bytes"}  # EAGAIN, EMFILE, EFBIG


class CpuLimitReached(BaseException):
    """Raised in the running code when the worker's CPU time limit is reached (SIGXCPU)."""


def apply_limits(rlimits: dict[str, int]) -> None:
    """Lower our own limits before any user code runs; without privileges, code cannot raise them again."""
    import resource

    for name, value in rlimits.items():
        soft = hard = value
        if name == "RLIMIT_CPU":
            hard = value + _CPU_GRACE  # SIGXCPU at the soft limit lets the run fail cleanly first
        _, current_hard = resource.getrlimit(getattr(resource, name))
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(getattr(resource, name), (soft, hard))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write raises OSError(EFBIG) instead of killing us


def name_the_limit(error: dict[str, Any] | None, limits: dict[str, Any]) -> None:
    """Say which limit an error came from (``MemoryError: memory limit of 2 GiB reached``)."""
    if not error:
        return
    if error["type"] == "MemoryError" and limits.get("memory"):
        error["message"] = f"memory limit of {limits['memory']} reached"
    elif error["type"] == "CpuLimitReached":
        error["message"] = f"CPU time limit of {limits.get('cpu')} reached"
    else:
        for errno, key in _LIMIT_ERRNOS.items():
            if error["message"].startswith(f"[Errno {errno}]") and limits.get(key):
                error["message"] += f" ({limits[key]})"
