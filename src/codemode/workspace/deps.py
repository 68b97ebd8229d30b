"""Packages of a workspace: the configured list, and the venv its sessions run in.

``requirements.txt`` at the workspace root (in storage) is the configured list;
``extra_deps`` adds to it. A package spec is a PEP 508 requirement string and
nothing else: options (``--index-url``, ``-e``), paths and URLs are refused, so
what an agent passes cannot point uv somewhere else. Where uv looks is the
operator's choice, through uv's own environment (``UV_INDEX_URL``, ``UV_FIND_LINKS``).

Every install takes wheels only, unless the operator allows source builds
(``allow_source_builds``): a build runs the package's code on the host, outside
the sandbox. That holds for the configured list too, since ``deps.add`` writes to
``requirements.txt``: what code added once is installed again at the next start.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from pydantic import Field

from codemode.errors import InvalidArgument, RuntimeDepsDisabled
from codemode.record import Record
from codemode.storage.base import WORKSPACE, Storage
from codemode.workspace.venv_leases import Lease
from codemode.workspace.venvs import LineCallback, VenvCache, current_python, venv_key, venv_python

if TYPE_CHECKING:
    from packaging.requirements import Requirement

logger = logging.getLogger(__name__)

CONFIG = WORKSPACE
REQUIREMENTS = "requirements.txt"
MAX_SPEC_CHARS = 1024
"""Longer package specs are refused unread: real ones are short, and errors must not echo a megabyte back."""


class DepsResult(Record):
    """What ``add``/``sync`` did, package by package."""

    installed: list[str] = Field(default_factory=list, description="Packages installed now.")
    already_present: list[str] = Field(default_factory=list, description="Packages that were installed already.")
    failed: list[str] = Field(default_factory=list, description="Packages that could not be installed (see errors).")
    errors: dict[str, str] = Field(default_factory=dict, description="Why each failed package failed.")


class RemoveResult(Record):
    removed: list[str] = Field(default_factory=list, description="Packages removed.")
    not_found: list[str] = Field(default_factory=list, description="Packages that were not installed.")
    failed: list[str] = Field(default_factory=list, description="Packages that could not be removed (see errors).")
    removed_from_config: bool = Field(
        default=False, description="True if a package was taken out of the configured list too."
    )
    errors: dict[str, str] = Field(default_factory=dict, description="Why each failed package failed.")


def parse_requirement(spec: object) -> Requirement:
    """A requirement string, or ``InvalidArgument`` saying what is allowed."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgument("a package spec is a requirement string such as 'requests' or 'pandas>=2.0'")
    if len(spec) > MAX_SPEC_CHARS:
        raise InvalidArgument(f"{_shown(spec)} is too long: a package spec has at most {MAX_SPEC_CHARS:,} characters")
    text = spec.strip()
    rule = "only requirement strings such as 'requests' or 'pandas>=2.0' are allowed"
    if text.startswith("-"):
        raise InvalidArgument(f"{text!r} is an option, not a package; {rule}")
    if any(mark in text for mark in ("/", "\\", "://")) or text.startswith("."):
        raise InvalidArgument(f"{text!r} looks like a path or URL; {rule}")
    from packaging.requirements import InvalidRequirement, Requirement  # imported when first needed: start-up time

    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise InvalidArgument(f"{text!r} is not a valid requirement (PEP 508): {exc}; {rule}") from None
    if requirement.url:
        raise InvalidArgument(f"{text!r} is a direct URL reference; {rule}")
    return requirement


class DepsManager:
    """The configured packages of one workspace and the venv that holds them."""

    def __init__(
        self,
        storage: Storage,
        venvs: VenvCache | None = None,
        *,
        extra_deps: Sequence[str] = (),
        allow_runtime_deps: bool = True,
        allow_source_builds: bool = False,
        python: str | None = None,
    ) -> None:
        self._storage = storage
        self._venvs = venvs or VenvCache()
        self._extra = [str(parse_requirement(spec)) for spec in extra_deps]
        self.allow_runtime_deps = allow_runtime_deps
        self.allow_source_builds = allow_source_builds
        self._python = python or current_python()
        self._python_label = python or f"{platform.python_implementation()}-{platform.python_version()}"
        self._venv: Path | None = None
        self._lease: Lease | None = None  # keeps our venv from clean-ups while we use it
        self._key: str | None = None
        self.problem: str | None = None
        self._lock = anyio.Lock()

    async def list(self) -> list[str]:
        """The configured packages: requirements.txt, then extra_deps not already named there."""
        configured = await self._read_config()
        names = {_name_of(line) for line in configured}
        return configured + [spec for spec in self._extra if _name_of(spec) not in names]

    async def environment(self) -> Path:
        """The venv for the configured packages (built the first time): what sessions run in."""
        async with self._lock:
            if self._venv is None or not venv_python(self._venv).exists():
                requirements = await self.list()
                self._key = venv_key(self._storage.location, self._python_label, requirements)
                venv, self.problem = await self._venvs.ensure(
                    self._key, self._python, requirements, build=self.allow_source_builds
                )
                if venv is None:
                    # Sessions start without the packages, in a venv of their own: what deps.add puts there
                    # changes no venv another workspace finds under a key. The next start tries again.
                    logger.warning("configured packages could not be installed: %s", self.problem)
                    self._use(await self._venvs.private(self._python))
                else:
                    self._use(await self._venvs.lease(venv))
            assert self._venv is not None
            return self._venv

    def _use(self, lease: Lease) -> None:
        if self._lease is not None:
            self._lease.release()
        self._venv, self._lease = lease.venv, lease

    async def close(self) -> None:
        """Stop using the venv, and remove the venvs nothing uses any more (our private one, replaced ones)."""
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        self._venv = None  # reopened, the workspace finds (and leases) its venv again
        with anyio.CancelScope(shield=True):
            await self._venvs.remove_unused()

    async def python(self) -> Path:
        return venv_python(await self.environment())

    async def add(self, package: str, progress: LineCallback | None = None) -> DepsResult:
        """Install ``package`` and add it to requirements.txt; ``progress`` gets uv's output lines.

        Cancelled, uv is stopped and the venv is put back as it was.
        """
        self._refuse_if_disabled("add", package)
        requirement = parse_requirement(package)
        result = await self._install([requirement], progress)
        if requirement.name in result.installed or requirement.name in result.already_present:
            await self._write_config_entry(requirement)
        return result

    async def sync(self, progress: LineCallback | None = None) -> DepsResult:
        """Install every configured package that is missing (cancelled: the venv is put back as it was)."""
        return await self._install([parse_requirement(spec) for spec in await self.list()], progress)

    async def remove(self, package: str) -> RemoveResult:
        self._refuse_if_disabled("remove", package)
        requirement = parse_requirement(package)
        name = canonicalize_name(requirement.name)
        venv = await self.environment()
        result = RemoveResult()
        async with self._lock:
            if name in await self._venvs.installed(venv):
                problem = await self._venvs.uninstall(venv, [requirement.name])
                if problem is None:
                    result.removed.append(requirement.name)
                else:
                    result.failed.append(requirement.name)
                    result.errors[requirement.name] = problem
            else:
                result.not_found.append(requirement.name)
            result.removed_from_config = await self._drop_config_entry(name)
            await self._rekey()
        return result

    async def _install(self, requirements: list[Requirement], progress: LineCallback | None = None) -> DepsResult:
        venv = await self.environment()
        async with self._lock:
            present = await self._venvs.installed(venv)
            try:
                return await self._install_missing(venv, present, requirements, progress)
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):  # uv is already stopped (its process group killed)
                    await self._restore(venv, present)
                raise

    async def _restore(self, venv: Path, before: dict[str, str]) -> None:
        """Undo what a cancelled install changed: the venv holds exactly what it held before."""
        if await self._venvs.installed(venv) == before:
            return
        problem = await self._venvs.restore(venv, before)
        if problem:
            logger.error("could not put venv %s back after a cancelled install: %s", venv, _tail(problem))

    async def _install_missing(
        self, venv: Path, present: dict[str, str], requirements: list[Requirement], progress: LineCallback | None
    ) -> DepsResult:
        result = DepsResult()
        missing = []
        for requirement in requirements:
            version = present.get(canonicalize_name(requirement.name))
            if version is not None and requirement.specifier.contains(version, prereleases=True):
                result.already_present.append(requirement.name)
            else:
                missing.append(requirement)
        build = self.allow_source_builds
        if missing and await self._venvs.install(venv, [str(item) for item in missing], progress, build=build):
            # Something failed: install one by one to tell which.
            for requirement in missing:
                problem = await self._venvs.install(venv, [str(requirement)], progress, build=build)
                (result.failed if problem else result.installed).append(requirement.name)
                if problem:
                    result.errors[requirement.name] = _tail(problem)
        else:
            result.installed += [item.name for item in missing]
        return result

    def _refuse_if_disabled(self, action: str, package: str) -> None:
        if not self.allow_runtime_deps:
            raise RuntimeDepsDisabled(
                f"cannot {action} {_shown(package)}: this session does not allow changing packages at runtime "
                f"(allow_runtime_deps=False / --no-runtime-deps); add it to requirements.txt instead"
            )

    async def _read_config(self) -> list[str]:
        lines = []
        for number, line in enumerate(await self._config_lines(), 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                lines.append(str(parse_requirement(text)))
            except InvalidArgument as exc:
                logger.warning("requirements.txt line %d ignored: %s", number, exc)
        return lines

    async def _write_config_entry(self, requirement: Requirement) -> None:
        async with self._lock:
            lines = await self._config_lines()
            name = canonicalize_name(requirement.name)
            kept = [line for line in lines if _line_name(line) != name]
            await self._write_lines([*kept, str(requirement)])
            await self._rekey()

    async def _drop_config_entry(self, name: str) -> bool:
        lines = await self._config_lines()
        kept = [line for line in lines if _line_name(line) != name]
        if len(kept) == len(lines):
            return False
        await self._write_lines(kept)
        return True

    async def _config_lines(self) -> list[str]:
        raw = await self._storage.read(CONFIG, REQUIREMENTS)
        return (raw or b"").decode("utf-8", "replace").splitlines()

    async def _write_lines(self, lines: list[str]) -> None:
        await self._storage.write(CONFIG, REQUIREMENTS, ("\n".join(lines) + "\n").lstrip("\n").encode())

    async def _rekey(self) -> None:
        if self._venv is None or self._key is None or self.problem:
            return
        new_key = venv_key(self._storage.location, self._python_label, await self.list())
        self._venvs.rekey(self._key, new_key, self._venv)
        self._key = new_key


def _line_name(line: str) -> str | None:
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith("-"):
        return None
    try:
        return _name_of(text)
    except InvalidArgument:
        return None


def _name_of(spec: str) -> str:
    return canonicalize_name(parse_requirement(spec).name)


def canonicalize_name(name: str) -> str:
    """The normalized distribution name (PEP 503), as installers compare them."""
    from packaging.utils import canonicalize_name as canonical

    return canonical(name)


def _shown(spec: object) -> str:
    """How an error names a spec: quoted when short, by its size when not (never echoed whole)."""
    if isinstance(spec, str) and len(spec) <= MAX_SPEC_CHARS:
        return repr(spec)
    if isinstance(spec, str):
        return f"a package spec of {len(spec):,} characters"
    return f"a {type(spec).__name__}"


def _tail(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]
