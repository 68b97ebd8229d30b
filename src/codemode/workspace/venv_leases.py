"""Which venvs of a cache are in use, and removing the ones nothing uses.

A venv is in use while it is being built (a marker in ``building/``, locked by the
build) or while a workspace runs sessions in it (a lease: a shared ``flock`` on
``leases/<venv>``, held by the process for as long as it uses the venv, and
released by the kernel if that process dies). A venv that no key links to
(``deps.add`` filed another venv under its key, or it was a session's private
fallback) and that nobody builds or leases is removed by the next clean-up. Several
servers may share one cache: the locks are what they agree on.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class Lease:
    """A shared lock that keeps a venv from clean-ups; :meth:`release` it when the venv is no longer used."""

    def __init__(self, root: Path, venv: Path) -> None:
        path = root / "leases" / venv.name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.venv = venv
        self._fd: int | None = os.open(path, _FLAGS, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


@contextlib.contextmanager
def build_marker(path: Path) -> Iterator[None]:
    """``path`` exists, locked, while the block runs; removed (then unlocked) after it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}")  # locked before it gets a name a sweep looks at
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(temporary, path)
        yield
    finally:
        for name in (path, temporary):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        os.close(fd)


def remove_unused(root: Path) -> None:
    """Remove the venvs of builds that died, then those no key links to and nobody leases (blocking)."""
    _remove_dead_builds(root)
    try:
        venvs = [entry.name for entry in os.scandir(root / "envs") if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    linked = _linked(root)
    building = set(_names(root / "building"))
    for name in venvs:
        if name not in linked and name not in building:
            _remove_if_unleased(root, name)


def remove_venv_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_if_unleased(root: Path, name: str) -> None:
    lease = root / "leases" / name
    lease.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lease, _FLAGS, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return  # a workspace runs sessions in it
    try:
        if name in _linked(root):  # linked again meanwhile (another server's deps.add)
            return
        remove_venv_dir(root / "envs" / name)
        if not (root / "envs" / name).exists():
            os.unlink(lease)
            logger.info("removed venv %s: no key links to it and no workspace uses it", name)
    finally:
        os.close(fd)


def _linked(root: Path) -> set[str]:
    linked = set()
    for name in _names(root / "keys"):
        with contextlib.suppress(OSError):
            linked.add(os.path.basename(os.readlink(root / "keys" / name)))
    return linked


def _names(directory: Path) -> list[str]:
    try:
        return [name for name in os.listdir(directory) if not name.startswith(".")]
    except FileNotFoundError:
        return []


def _remove_dead_builds(root: Path) -> None:
    """Remove the venvs of builds that died (a killed server): a marker nobody holds a lock on."""
    markers = root / "building"
    for name in _names(markers):
        try:
            fd = os.open(markers / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # gone meanwhile: its build ended
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # A build that ended removed its marker before unlocking it: only a dead build's is still linked.
            if os.fstat(fd).st_nlink:
                remove_venv_dir(root / "envs" / name)
                if (root / "envs" / name).exists():
                    raise OSError(f"{root / 'envs' / name} could not be removed whole")  # next build retries
                os.unlink(markers / name)
                logger.info("removed venv %s, left behind by a build that did not finish", name)
        except BlockingIOError:
            pass  # a build in progress
        except OSError as exc:
            logger.warning("could not remove the leftovers of venv build %s: %s", name, exc)
        finally:
            os.close(fd)
