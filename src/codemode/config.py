"""Executor configurations, shaped like py-code-mode's ``SubprocessConfig`` and ``InProcessConfig``.

``SubprocessExecutor(config=SubprocessConfig(tools_path=...))`` works as there. A config
describes the session around the executor (where tools are, which packages, the default
timeout), so :class:`~codemode.Session` reads it when it builds the workspace.
"""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_PYTHON_VERSION = re.compile(r"^\d+\.\d+$")


class ExecutorConfig(BaseModel):
    """What both executors accept. Unknown options are refused, naming the allowed ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    tools_path: Path | None = Field(
        default=None, description="Directory of tool YAML files; None: the storage's tools/ (codemode's default)."
    )
    default_timeout: float | None = Field(default=30.0, description="Seconds per run; None = no limit.")
    allow_runtime_deps: bool = Field(default=True, description="Let code and clients add and remove packages.")
    deps: tuple[str, ...] | None = Field(default=None, description="Packages to install beyond requirements.txt.")
    deps_file: Path | None = Field(default=None, description="A requirements.txt-style file of more packages.")

    def __setattr__(self, name: str, value: Any) -> None:
        # py-code-mode's configs are frozen dataclasses: code catching its error (an AttributeError) works here too.
        raise FrozenInstanceError(
            f"cannot assign to {name!r}: {type(self).__name__} is frozen; "
            f"make a new one with {type(self).__name__}(...) or config.model_copy(update={{{name!r}: ...}})"
        )

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete {name!r}: {type(self).__name__} is frozen")

    @model_validator(mode="before")
    @classmethod
    def _known_options(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                allowed = ", ".join(sorted(cls.model_fields))
                raise ValueError(f"unknown option(s) {', '.join(unknown)} for {cls.__name__}; allowed: {allowed}")
        return data

    @field_validator("default_timeout")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be a positive number of seconds, or None for no limit")
        return value

    @field_validator("tools_path", "deps_file", mode="after")
    @classmethod
    def _expanded(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    def extra_deps(self) -> list[str]:
        """``deps`` plus the requirement lines of ``deps_file`` (read now: a small local file)."""
        packages = list(self.deps or ())
        if self.deps_file is not None:
            for line in self.deps_file.read_text().splitlines():
                requirement = line.split("#", 1)[0].strip()
                if requirement:
                    packages.append(requirement)
        return packages


class InProcessConfig(ExecutorConfig):
    """Options of :class:`~codemode.InProcessExecutor` (py-code-mode's names and defaults)."""


class SubprocessConfig(ExecutorConfig):
    """Options of :class:`~codemode.SubprocessExecutor` (py-code-mode's names; default timeout 60 s as there)."""

    default_timeout: float | None = Field(default=60.0, description="Seconds per run; None = no limit.")
    python_version: str | None = Field(default=None, description="Python of the session venv, 'major.minor'.")
    cache_venv: bool = Field(
        default=True, description="Keep the venv in the user cache for the next session; False: a temporary one."
    )

    @field_validator("python_version")
    @classmethod
    def _major_minor(cls, value: str | None) -> str | None:
        if value is not None and not _PYTHON_VERSION.fullmatch(value.strip()):
            raise ValueError(f"must be 'major.minor', e.g. '3.12', not {value!r}")
        return value.strip() if value is not None else None
