"""Session venvs, made with uv and cached under the user cache dir.

A venv is identified by a key: the workspace, the Python version and the sorted
requirements. ``keys/<key>`` is a symlink to a venv in ``envs/``; publishing a
venv is creating that link, atomically, once the venv is complete, so a crash
half-way never leaves a broken venv behind a key. When packages are added to a
venv while it runs (``deps.add``), its content matches a new key: the link moves
(:meth:`VenvCache.rekey`), and the next session with those requirements finds it
instead of building a new one. A file lock per key keeps two servers on one
machine from building the same venv twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from codemode.errors import DepsError

DEFAULT_INSTALL_TIMEOUT = 600.0


def cache_root() -> Path:
    """``$CODEMODE_CACHE_DIR``, else ``$XDG_CACHE_HOME/codemode``, else ``~/.cache/codemode``."""
    explicit = os.environ.get("CODEMODE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codemode"


def uv_binary() -> str:
    """The uv executable: the one installed with codemode (the ``uv`` package), else the one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return "uv"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_key(scope: str, python: str, requirements: Sequence[str]) -> str:
    text = json.dumps([scope, python, sorted(requirements)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class VenvCache:
    def __init__(self, root: Path | None = None, install_timeout: float = DEFAULT_INSTALL_TIMEOUT) -> None:
        self.root = (root or cache_root()) / "venvs"
        self.install_timeout = install_timeout

    async def ensure(self, key: str, python: str, requirements: Sequence[str]) -> tuple[Path, str | None]:
        """The venv for ``key``, built if needed: ``(path, problem)``.

        If installing the requirements fails, the venv is still returned (so the
        session starts, without them) with the problem, and is not published
        under the key, so the next start tries again.
        """
        link = self.root / "keys" / key
        if venv_python(link).exists():
            return link.resolve(), None
        async with await _FileLock.acquire(self.root / "locks" / f"{key}.lock"):
            if venv_python(link).exists():  # built by another process meanwhile
                return link.resolve(), None
            venv = self.root / "envs" / uuid.uuid4().hex
            await self.create(venv, python)
            problem = None
            if requirements:
                problem = await self.install(venv, list(requirements))
            if problem is None:
                _point(link, venv)
            return venv, problem

    async def create(self, venv: Path, python: str) -> None:
        venv.parent.mkdir(parents=True, exist_ok=True)
        code, output = await uv(["venv", "--quiet", "--no-project", "--python", python, str(venv)], timeout=120)
        if code != 0:
            raise DepsError(f"cannot create a venv with Python {python!r}: {output}")

    async def install(self, venv: Path, packages: list[str]) -> str | None:
        """Install into ``venv``; the error output, or None on success."""
        return await self._pip("install", venv, packages)

    async def uninstall(self, venv: Path, names: list[str]) -> str | None:
        return await self._pip("uninstall", venv, names)

    async def _pip(self, action: str, venv: Path, packages: list[str]) -> str | None:
        args = ["pip", action, "--quiet", "--python", str(venv_python(venv)), *packages]
        code, output = await uv(args, timeout=self.install_timeout)
        return None if code == 0 else output or f"uv exited with code {code}"

    async def installed(self, venv: Path) -> dict[str, str]:
        """Distribution name (canonical) -> version, of what is installed in ``venv``."""
        code, output = await uv(["pip", "list", "--format", "json", "--python", str(venv_python(venv))], timeout=60)
        if code != 0:
            raise DepsError(f"cannot list the packages of {venv}: {output}")
        from packaging.utils import canonicalize_name  # imported when first needed: start-up time

        return {canonicalize_name(item["name"]): item["version"] for item in json.loads(output or "[]")}

    def rekey(self, old_key: str, new_key: str, venv: Path) -> None:
        """``venv`` now holds the requirements of ``new_key`` (and no longer those of ``old_key``)."""
        keys = self.root / "keys"
        _point(keys / new_key, venv)
        old = keys / old_key
        if old_key != new_key and old.is_symlink() and old.resolve() == venv.resolve():
            old.unlink(missing_ok=True)


async def uv(args: list[str], timeout: float) -> tuple[int, str]:
    """Run uv; its exit code and output (stdout, or stderr on failure), never raising for a failed command."""
    try:
        with anyio.fail_after(timeout):
            result = await anyio.run_process([uv_binary(), *args], check=False, stdin=subprocess.DEVNULL)
    except TimeoutError:
        return 124, f"uv {' '.join(args[:2])} took longer than {timeout:g}s"
    except OSError as exc:
        return 127, f"cannot run uv: {exc}"
    text = result.stdout if result.returncode == 0 else result.stderr or result.stdout
    return result.returncode, text.decode("utf-8", "replace").strip()


def _point(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.with_name(f".{link.name}.{uuid.uuid4().hex}")
    temporary.symlink_to(target)
    os.replace(temporary, link)


class _FileLock:
    """An exclusive ``flock`` taken in a thread, so waiting never blocks the event loop."""

    def __init__(self, handle: int) -> None:
        self._handle = handle

    @classmethod
    async def acquire(cls, path: Path) -> _FileLock:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        await anyio.to_thread.run_sync(fcntl.flock, handle, fcntl.LOCK_EX, abandon_on_cancel=False)
        return cls(handle)

    async def __aenter__(self) -> _FileLock:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        os.close(self._handle)


def current_python() -> str:
    """The interpreter the server runs on (uv finds its base installation)."""
    return sys.executable
