"""One cgroup per worker, where the machine lets us write cgroups.

A cgroup holds every process a worker starts, whatever it does (``setsid``,
double forks), so it gives what rlimits cannot: a memory limit for the whole
tree, a process count that binds root too, and a list of every process to kill.
Both layouts are handled: cgroup v2 (one unified tree) and v1 (one tree per
controller). The worker's launcher joins the groups before it execs anything
(see :meth:`WorkerCgroup.wrap`), so no child can be started outside them.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("memory", "pids")
_KILL_ROUNDS = 50
_JOIN_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'


@dataclass(frozen=True)
class _Layout:
    """Where this server's cgroups go: one parent directory per hierarchy."""

    version: int
    parents: dict[str, Path]  # controller ("unified" for v2) -> this server's directory


_LAYOUT: list[_Layout | None] = []


def layout() -> _Layout | None:
    """This server's cgroup directories, made on first use; None where cgroups are not writable."""
    if not _LAYOUT:
        _LAYOUT.append(_make_layout())
    return _LAYOUT[0]


def _own_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else ["unified"]:
            paths[controller] = path
    return paths


def _make_layout() -> _Layout | None:
    own = _own_paths()
    name = f"codemode-{os.getpid()}"
    if (_ROOT / "cgroup.controllers").is_file():  # pure v2
        candidates = {"unified": _ROOT / own.get("unified", "/").lstrip("/")}
        version = 2
    else:
        candidates = {c: _ROOT / c / own.get(c, "/").lstrip("/") for c in _V1_CONTROLLERS if (_ROOT / c).is_dir()}
        version = 1
    if not candidates:
        return None
    parents: dict[str, Path] = {}
    for controller, base in candidates.items():
        _remove_stale(base)
        try:
            (base / name).mkdir(exist_ok=True)
        except OSError as exc:
            logger.debug("cgroups are not writable here (%s): %s", base, exc)
            for made in parents.values():
                _rmdir(made)
            return None
        parents[controller] = base / name
    if version == 2 and not _enable_v2_controllers(parents["unified"]):
        _rmdir(parents["unified"])
        return None
    return _Layout(version, parents)


def _enable_v2_controllers(parent: Path) -> bool:
    try:
        (parent / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError as exc:
        logger.debug("cannot enable cgroup v2 controllers in %s: %s", parent, exc)
        return False
    return True


def _remove_stale(base: Path) -> None:
    """Kill what is left in the cgroups of servers that died, and remove them."""
    try:
        entries = [entry for entry in base.iterdir() if entry.name.startswith("codemode-")]
    except OSError:
        return
    for entry in entries:
        pid = entry.name.removeprefix("codemode-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for child in [c for c in entry.iterdir() if c.is_dir()]:
                _kill_all(child)
                _rmdir(child)
            _rmdir(entry)


@dataclass
class WorkerCgroup:
    """The cgroup(s) of one worker."""

    version: int
    dirs: dict[str, Path]

    @classmethod
    def create(cls, memory_bytes: int | None, max_processes: int | None) -> WorkerCgroup | None:
        try:
            return cls._create(memory_bytes, max_processes)
        except FileNotFoundError:  # this server's directory was removed from under it: make it again, once
            _LAYOUT.clear()
            return cls._create(memory_bytes, max_processes)

    @classmethod
    def _create(cls, memory_bytes: int | None, max_processes: int | None) -> WorkerCgroup | None:
        found = layout()
        if found is None:
            return None
        name = f"w-{secrets.token_hex(6)}"
        dirs = {controller: parent / name for controller, parent in found.parents.items()}
        group = cls(found.version, dirs)
        try:
            for directory in dirs.values():
                directory.mkdir()
            group._set_limits(memory_bytes, max_processes)
        except FileNotFoundError:
            group.remove()
            raise
        except OSError as exc:
            logger.warning("could not set up a cgroup for a worker: %s", exc)
            group.remove()
            return None
        return group

    def _set_limits(self, memory_bytes: int | None, max_processes: int | None) -> None:
        if self.version == 2:
            unified = self.dirs["unified"]
            if memory_bytes is not None:
                (unified / "memory.max").write_text(str(memory_bytes))
                _write_if_present(unified / "memory.swap.max", "0")
            if max_processes is not None:
                (unified / "pids.max").write_text(str(max_processes))
            return
        if memory_bytes is not None and "memory" in self.dirs:
            (self.dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
            _write_if_present(self.dirs["memory"] / "memory.memsw.limit_in_bytes", str(memory_bytes))
        if max_processes is not None and "pids" in self.dirs:
            (self.dirs["pids"] / "pids.max").write_text(str(max_processes))

    @property
    def limits_memory(self) -> bool:
        return "unified" in self.dirs or "memory" in self.dirs

    @property
    def limits_processes(self) -> bool:
        return "unified" in self.dirs or "pids" in self.dirs

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv``, run by a shell that first moves itself into this cgroup (so everything it starts is in it)."""
        procs = [str(directory / "cgroup.procs") for directory in self.dirs.values()]
        return ["/bin/sh", "-c", _JOIN_SCRIPT, "sh", str(len(procs)), *procs, *argv]

    def oom_kills(self) -> int:
        """How often the kernel killed a process of this worker for memory."""
        directory = self.dirs.get("unified") or self.dirs.get("memory")
        if directory is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in (directory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup, including those that left the worker's process group."""
        for directory in self.dirs.values():
            _kill_all(directory)

    def remove(self) -> None:
        self.kill_all()
        for directory in self.dirs.values():
            _rmdir(directory)


def _kill_all(directory: Path) -> None:
    kill_file = directory / "cgroup.kill"
    if kill_file.exists():
        try:
            kill_file.write_text("1")
        except OSError:
            pass
    for _ in range(_KILL_ROUNDS):  # a fork racing the kill can add a process: go round until empty
        try:
            pids = [int(pid) for pid in (directory / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.002)


def _write_if_present(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError:
        pass  # e.g. no swap accounting in this kernel


def _rmdir(directory: Path) -> None:
    for _ in range(_KILL_ROUNDS):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.002)  # the last process is still being reaped
    logger.debug("could not remove cgroup %s", directory)
