"""Every knob of the server in one model; the CLI fills it from flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from codemode.executors.base import ExecutionLimits
from codemode.session import Session, make_executor
from codemode.storage.file import FileStorage
from codemode.workspace import Workspace

LOCAL_PRINCIPAL = "local"
"""Who calls when nobody authenticates (stdio, or HTTP without tokens)."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ServerSettings(BaseModel):
    """How ``codemode-mcp`` runs."""

    base: Path = Field(
        default=Path("."), description="The workspace: tools/, workflows/, artifacts/, requirements.txt."
    )
    executor: Literal["subprocess", "inprocess"] = "subprocess"
    timeout: float | None = Field(default=30.0, description="Default seconds per run_code call; None = no limit.")
    max_timeout: float | None = Field(
        default=None, description="Largest timeout a client may ask for in run_code; None = no cap."
    )
    limits: ExecutionLimits = Field(default_factory=lambda: ExecutionLimits())
    log_level: LogLevel = "INFO"
    allow_runtime_deps: bool = Field(
        default=True, description="Let clients add and remove packages (add_dep, deps.add); else hide those tools."
    )
    extra_deps: list[str] = Field(default_factory=list, description="Packages beyond requirements.txt.")
    python_version: str | None = Field(default=None, description="Python for session venvs (default: the server's).")
    eager_start: bool = Field(
        default=True, description="Start the default session's worker at server start, so the first run_code is fast."
    )

    def workspace(self) -> Workspace:
        """The workspace every session of this server shares (not opened)."""
        base = self.base.expanduser().resolve()
        return Workspace(
            FileStorage(base),
            cwd=base,
            extra_deps=self.extra_deps,
            allow_runtime_deps=self.allow_runtime_deps,
            python=self.python_version,
        )

    def new_session(self, workspace: Workspace, name: str | None = None) -> Session:
        """A session on ``workspace`` as this server configures them (not started)."""
        executor = make_executor(self.executor, self.limits, cwd=workspace.cwd)
        return Session(executor=executor, workspace=workspace, timeout=self.timeout, limits=self.limits, name=name)
