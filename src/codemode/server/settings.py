"""Every knob of the server in one model; the CLI fills it from flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from codemode.executors.base import ExecutionLimits, Executor
from codemode.session import Session, make_executor
from codemode.storage.base import Storage
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
    max_timeout: float | None = Field(default=None, description="Largest timeout a client may ask for; None = no cap.")
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

    # storage
    storage: Literal["file", "redis"] = "file"
    redis_url: str = Field(default_factory=lambda: os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    redis_prefix: str = "codemode"
    redis_tools: bool = Field(
        default=False, description="With Redis storage, read tool definitions from Redis too (default: from --base)."
    )

    # sessions (HTTP serves many clients)
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    idle_timeout: float | None = Field(default=1800.0, description="Seconds before an unused session is closed.")
    max_sessions: int | None = Field(default=256, ge=1)
    max_sessions_per_principal: int | None = Field(default=64, ge=1)
    pool_size: int = Field(default=2, ge=0, description="Pre-started workers waiting for new sessions (HTTP).")

    # HTTP security
    auth_tokens: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="Bearer token -> principal name. Empty: no authentication (loopback only).",
    )
    allowed_hosts: list[str] = Field(default_factory=list, description="Host headers accepted; '*' turns checks off.")
    allowed_origins: list[str] = Field(default_factory=list, description="Origin headers accepted (browsers).")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)

    def storage_backend(self) -> Storage:
        if self.storage == "redis":
            from codemode.storage.redis import RedisStorage

            return RedisStorage(self.redis_url, self.redis_prefix)
        return FileStorage(self.base.expanduser().resolve())

    def workspace(self) -> Workspace:
        """The workspace every session of this server shares (not opened)."""
        base = self.base.expanduser().resolve()
        storage = self.storage_backend()
        tool_storage = None if self.storage == "file" or self.redis_tools else FileStorage(base)
        return Workspace(
            storage,
            cwd=base,
            extra_deps=self.extra_deps,
            allow_runtime_deps=self.allow_runtime_deps,
            python=self.python_version,
            tool_storage=tool_storage,
        )

    def make_executor(self, workspace: Workspace) -> Executor:
        return make_executor(self.executor, self.limits, cwd=workspace.cwd)

    def new_session(self, workspace: Workspace, name: str | None = None, executor: Executor | None = None) -> Session:
        """A session on ``workspace`` as this server configures them (not started)."""
        return Session(
            executor=executor or self.make_executor(workspace),
            workspace=workspace,
            timeout=self.timeout,
            limits=self.limits,
            name=name,
        )
