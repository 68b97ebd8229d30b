"""Packages of a workspace: the configured list, and the venv its sessions run in.

``requirements.txt`` at the workspace root (in storage) is the configured list;
``extra_deps`` adds to it. A package spec is a PEP 508 requirement string and
nothing else: options (``--index-url``, ``-e``), paths and URLs are refused, so
what an agent passes cannot point uv somewhere else. Where uv looks is the
operator's choice, through uv's own environment (``UV_INDEX_URL``, ``UV_FIND_LINKS``).
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from pydantic import BaseModel, Field

from codemode.errors import InvalidArgument, RuntimeDepsDisabled
from codemode.storage.base import WORKSPACE, Storage
from codemode.venvs import VenvCache, current_python, venv_key, venv_python

if TYPE_CHECKING:
    from packaging.requirements import Requirement

logger = logging.getLogger(__name__)

CONFIG = WORKSPACE
REQUIREMENTS = "requirements.txt"


class DepsResult(BaseModel):
    """What ``add``/``sync`` did, package by package."""

    installed: list[str] = Field(default_factory=list)
    already_present: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict, description="Why each failed package failed.")


class RemoveResult(BaseModel):
    removed: list[str] = Field(default_factory=list)
    not_found: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    removed_from_config: bool = False
    errors: dict[str, str] = Field(default_factory=dict)


def parse_requirement(spec: object) -> Requirement:
    """A requirement string, or ``InvalidArgument`` saying what is allowed."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgument("a package spec is a requirement string such as 'requests' or 'pandas>=2.0'")
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
        python: str | None = None,
    ) -> None:
        self._storage = storage
        self._venvs = venvs or VenvCache()
        self._extra = [str(parse_requirement(spec)) for spec in extra_deps]
        self.allow_runtime_deps = allow_runtime_deps
        self._python = python or current_python()
        self._python_label = python or f"{platform.python_implementation()}-{platform.python_version()}"
        self._venv: Path | None = None
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
                self._venv, self.problem = await self._venvs.ensure(self._key, self._python, requirements)
                if self.problem:
                    logger.warning("configured packages could not be installed: %s", self.problem)
            return self._venv

    async def python(self) -> Path:
        return venv_python(await self.environment())

    async def add(self, package: str) -> DepsResult:
        self._refuse_if_disabled("add", package)
        requirement = parse_requirement(package)
        result = await self._install([requirement])
        if requirement.name in result.installed or requirement.name in result.already_present:
            await self._write_config_entry(requirement)
        return result

    async def sync(self) -> DepsResult:
        """Install every configured package that is missing."""
        return await self._install([parse_requirement(spec) for spec in await self.list()])

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

    async def _install(self, requirements: list[Requirement]) -> DepsResult:
        venv = await self.environment()
        result = DepsResult()
        async with self._lock:
            present = await self._venvs.installed(venv)
            missing = []
            for requirement in requirements:
                version = present.get(canonicalize_name(requirement.name))
                if version is not None and requirement.specifier.contains(version, prereleases=True):
                    result.already_present.append(requirement.name)
                else:
                    missing.append(requirement)
            if missing and await self._venvs.install(venv, [str(item) for item in missing]) is not None:
                # Something failed: install one by one to tell which.
                for requirement in missing:
                    problem = await self._venvs.install(venv, [str(requirement)])
                    (result.failed if problem else result.installed).append(requirement.name)
                    if problem:
                        result.errors[requirement.name] = _tail(problem)
            else:
                result.installed += [item.name for item in missing]
        return result

    def _refuse_if_disabled(self, action: str, package: str) -> None:
        if not self.allow_runtime_deps:
            raise RuntimeDepsDisabled(
                f"cannot {action} {package!r}: this session does not allow changing packages at runtime "
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


def _tail(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]
