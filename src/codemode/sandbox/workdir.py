"""A worker's private directory, and removing what session code leaves on disk.

Each worker gets one directory under the state directory: ``home`` (its cwd and
``HOME``), ``tmp`` and ``shm`` (its ``/tmp`` and ``/dev/shm`` in the sandbox), and
``egress`` (the ``--allow-host`` proxy's socket). The directory is named after the
server's pid, so a server that starts after a crash can tell which ones are left
over. Session code may have built any shape of tree there: removal copes with all.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_BLOCK = 4096


def state_root() -> Path:
    """``$CODEMODE_STATE_DIR``, else ``$XDG_STATE_HOME/codemode``, else ``~/.local/state/codemode``."""
    explicit = os.environ.get("CODEMODE_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "codemode"


@dataclass
class WorkerDir:
    """A worker's private files: ``home`` (its cwd and HOME), ``tmp`` and ``shm`` (its /tmp and /dev/shm), and
    ``egress`` (the ``--allow-host`` proxy's socket)."""

    root: Path

    @classmethod
    def create(cls, state_dir: Path | None) -> WorkerDir:
        parent = (state_dir or state_root()) / "workers"
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        root = parent / f"{os.getpid()}-{secrets.token_hex(8)}"
        (root / "home").mkdir(parents=True, mode=0o700)
        (root / "tmp").mkdir(mode=0o700)
        (root / "shm").mkdir(mode=0o700)
        return cls(root)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def shm(self) -> Path:
        return self.root / "shm"

    @property
    def egress(self) -> Path:
        """The egress proxy's socket directory (``--allow-host``): read-only in the sandbox, not in ``home``."""
        return self.root / "egress"

    def size(self, budget: int) -> int:
        """Bytes used (links not followed; every entry is at least one block); stops counting past ``budget``."""
        total = 0
        stack = [str(self.root)]
        while stack and total <= budget:
            try:
                entries = list(os.scandir(stack.pop()))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    # An empty file or directory still takes an inode and a block: count it.
                    total += max(entry.stat(follow_symlinks=False).st_blocks * 512, _BLOCK)
                except OSError:
                    continue
        return total

    def remove(self) -> None:
        remove_tree(self.root)


def remove_stale_dirs(state_dir: Path | None) -> None:
    """Remove the worker directories of servers that are no longer running (killed, crashed)."""
    parent = (state_dir or state_root()) / "workers"
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        owner = entry.name.split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            remove_tree(entry)


def remove_tree(path: Path) -> None:
    """Remove a tree that session code made, whatever its shape; never raises (a leftover is logged)."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:  # nested deeper than Python's recursion: rm walks it iteratively
        pass
    if path.exists():
        done = subprocess.run(["rm", "-rf", "--", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            logger.warning("could not remove %s: %s", path, done.stderr.decode(errors="replace").strip())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
