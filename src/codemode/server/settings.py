"""Every knob of the server in one model; the CLI fills it from flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from codemode.executors.base import ExecutionLimits
from codemode.session import Session

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
    eager_start: bool = Field(
        default=True, description="Start the default session's worker at server start, so the first run_code is fast."
    )

    def new_session(self, name: str | None = None) -> Session:
        """A session as this server configures them (not started)."""
        return Session.from_base(self.base, timeout=self.timeout, executor=self.executor, limits=self.limits, name=name)
