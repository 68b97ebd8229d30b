"""Session venvs, made with uv and cached under the user cache dir.

A venv is identified by a key: the workspace, the Python version and the sorted
requirements. ``keys/<key>`` is a symlink to a venv in ``envs/``; publishing a
venv is creating that link, atomically, once the venv is complete, so a crash
half-way never leaves a broken venv behind a key. A build whose install fails
removes its venv; what is left by a build that died with its server, or is no
longer linked from any key and no longer used, is removed by the next build
(:mod:`codemode.workspace.venv_leases`). When packages are added to a
venv while it runs (``deps.add``), its content matches a new key: the link moves
(:meth:`VenvCache.rekey`), and the next session with those requirements finds it
instead of building a new one. A file lock per key keeps two servers on one
machine from building the same venv twice.

Installs take wheels only unless source builds are allowed: building a source
distribution runs the package's own build code, and uv runs on the host, as the
server's user, outside any sandbox. uv gets an allow-list environment
(:func:`~codemode.sandbox.environment.installer_environment`), never the server's secrets.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
from anyio.abc import ByteReceiveStream

from codemode.errors import DepsError
from codemode.sandbox.environment import installer_environment
from codemode.workspace.venv_leases import Lease, build_marker, remove_unused, remove_venv_dir

logger = logging.getLogger(__name__)

DEFAULT_INSTALL_TIMEOUT = 600.0

LineCallback = Callable[[str], Awaitable[None]]
"""``await on_line(line)``: one line of uv's progress output."""

_NO_BUILD = "--no-build"
_NO_WHEEL_MARKS = ("no usable wheels", "building from source is disabled", "--no-build")
NO_WHEEL_HINT = (
    "No wheel of this package (or of one it needs) fits this platform, and building from source is off: "
    "a build runs the package's own code on the host, outside the sandbox. An operator who trusts the "
    "package index can allow it (codemode-mcp --allow-source-builds; allow_source_builds=True)"
)


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

    async def ensure(
        self, key: str, python: str, requirements: Sequence[str], *, build: bool = False
    ) -> tuple[Path | None, str | None]:
        """The venv for ``key``, built if needed: ``(path, None)``, or ``(None, problem)``.

        If installing the requirements fails, the venv is removed and nothing is published
        under the key, so the next start tries again. ``build``: source distributions may be built.
        """
        link = self.root / "keys" / key
        if venv_python(link).exists():
            return link.resolve(), None
        async with await _FileLock.acquire(self.root / "locks" / f"{key}.lock"):
            if venv_python(link).exists():  # built by another process meanwhile
                return link.resolve(), None
            await anyio.to_thread.run_sync(remove_unused, self.root)
            venv, problem = await self._build(python, requirements, build, lambda venv: _point(link, venv))
            return venv, problem

    async def _build(
        self, python: str, requirements: Sequence[str], build: bool, keep: Callable[[Path], object]
    ) -> tuple[Path | None, str | None]:
        """A new venv with ``requirements``, or ``(None, problem)`` with nothing left behind.

        ``keep(venv)`` links or leases it while its build marker still stands: a clean-up in
        between would take an unlinked, unleased venv for an abandoned one.
        """
        venv = self.root / "envs" / uuid.uuid4().hex
        problem, kept = None, False
        with build_marker(self.root / "building" / venv.name):
            try:
                await self.create(venv, python)
                if requirements:
                    problem = await self.install(venv, list(requirements), build=build)
                if problem is None:
                    keep(venv)
                    kept = True
            finally:
                if not kept:  # failed, raised or cancelled: its venv goes, before its marker does
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(remove_venv_dir, venv)
        return (venv, None) if kept else (None, problem)

    async def private(self, python: str) -> Lease:
        """A new venv without packages that no key links to, leased: one workspace's alone."""
        leases: list[Lease] = []
        venv, problem = await self._build(python, [], False, lambda venv: leases.append(Lease(self.root, venv)))
        if venv is None:
            raise DepsError(f"cannot create a venv: {problem}")
        return leases[0]

    async def lease(self, venv: Path) -> Lease:
        """Keep ``venv`` from clean-ups while it is used (release the lease when it no longer is)."""
        return await anyio.to_thread.run_sync(Lease, self.root, venv)

    async def remove_unused(self) -> None:
        """Remove the venvs nothing uses: dead builds', and those no key links to and nobody leases."""
        await anyio.to_thread.run_sync(remove_unused, self.root)

    async def create(self, venv: Path, python: str) -> None:
        venv.parent.mkdir(parents=True, exist_ok=True)
        code, output = await uv(["venv", "--quiet", "--no-project", "--python", python, str(venv)], timeout=120)
        if code != 0:
            raise DepsError(f"cannot create a venv with Python {python!r}: {output}")

    async def install(
        self, venv: Path, packages: list[str], on_line: LineCallback | None = None, *, build: bool = False
    ) -> str | None:
        """Install into ``venv``; the error output, or None on success. ``on_line`` gets uv's progress lines.

        Wheels only unless ``build``: a package with none fails, saying why and how to allow builds.
        """
        # Compiled now, once: sandboxed workers see the venv read-only and could never cache bytecode themselves.
        flags = ["--compile-bytecode", *([] if build else [_NO_BUILD])]
        problem = await self._pip("install", venv, packages, on_line, flags)
        if problem is not None and not build and any(mark in problem for mark in _NO_WHEEL_MARKS):
            return f"{problem}\n{NO_WHEEL_HINT}."  # last: errors keep the end of long outputs
        return problem

    async def restore(self, venv: Path, packages: dict[str, str]) -> str | None:
        """Put ``venv`` back to exactly ``packages`` (name -> version), from uv's cache; the error, or None."""
        pins = "".join(f"{name}=={version}\n" for name, version in sorted(packages.items()))
        with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="codemode-restore-") as listing:
            await anyio.to_thread.run_sync(_write_flushed, listing, pins)
            # Back to what was installed, so its wheels are in uv's cache: nothing to build, ever.
            args = ["pip", "sync", "--quiet", "--offline", _NO_BUILD, "--python", str(venv_python(venv)), listing.name]
            code, output = await uv(args, timeout=self.install_timeout)
        return None if code == 0 else output or f"uv exited with code {code}"

    async def uninstall(self, venv: Path, names: list[str]) -> str | None:
        return await self._pip("uninstall", venv, names)

    async def _pip(
        self,
        action: str,
        venv: Path,
        packages: list[str],
        on_line: LineCallback | None = None,
        flags: Sequence[str] = (),
    ) -> str | None:
        quiet = ["--quiet"] if on_line is None else []  # uv's progress lines are wanted
        args = ["pip", action, *quiet, *flags, "--python", str(venv_python(venv)), *packages]
        code, output = await uv(args, timeout=self.install_timeout, on_line=on_line)
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


async def uv(args: list[str], timeout: float, on_line: LineCallback | None = None) -> tuple[int, str]:
    """Run uv (in an allow-list environment); its exit code and output (stdout, or stderr on failure).

    Never raises for a failed command.

    ``on_line`` gets each line uv writes to stderr (its progress and warnings) as it comes. uv runs
    in a process group of its own: a timeout or a cancellation ends it and whatever it started
    (build backends), so nothing keeps writing to a venv after the call has returned.
    """
    try:
        process = await anyio.open_process(
            [uv_binary(), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=installer_environment(),
            start_new_session=True,
        )
    except OSError as exc:
        return 127, f"cannot run uv: {exc}"
    stdout, stderr = bytearray(), bytearray()
    try:
        with anyio.fail_after(timeout):
            async with anyio.create_task_group() as reading:
                reading.start_soon(_read, process.stdout, stdout, None)
                reading.start_soon(_read, process.stderr, stderr, on_line)
            code = await process.wait()
    except TimeoutError:
        return 124, f"uv {' '.join(args[:2])} took longer than {timeout:g}s"
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                _kill_group(process.pid)
            await process.aclose()
    text = stdout if code == 0 else stderr or stdout
    return code, text.decode("utf-8", "replace").strip()


async def _read(stream: ByteReceiveStream | None, into: bytearray, on_line: LineCallback | None) -> None:
    if stream is None:
        return
    pending = b""
    async for chunk in stream:
        into += chunk
        if on_line is not None:
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                await on_line(line.decode("utf-8", "replace"))
    if on_line is not None and pending:
        await on_line(pending.decode("utf-8", "replace"))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _write_flushed(handle: IO[str], text: str) -> None:
    handle.write(text)
    handle.flush()


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
