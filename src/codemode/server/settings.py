"""Every knob of the server in one model; the CLI fills it from flags, ``factory`` builds what it describes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from codemode.models import ExecutionLimits
from codemode.sandbox.launcher import SandboxConfig
from codemode.session.history import HistoryLimits
from codemode.tools.approval import DEFAULT_APPROVAL_TIMEOUT, check_patterns
from codemode.workspace.quota import StorageQuota

LOCAL_PRINCIPAL = "local"
"""Who calls when nobody authenticates (stdio, or HTTP without tokens)."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
McpTools = Literal["code", "py-code-mode", "full"]


class ServerSettings(BaseModel):
    """How ``codemode-mcp`` runs."""

    base: Path = Field(
        default=Path("."), description="The workspace: tools/, workflows/, artifacts/, requirements.txt."
    )
    executor: Literal["subprocess", "inprocess"] = "subprocess"
    timeout: float | None = Field(default=30.0, description="Default seconds per run_code call; None = no limit.")
    limits: ExecutionLimits = Field(
        default_factory=lambda: ExecutionLimits(max_timeout=600.0),
        description="Caps and resource limits of every session's worker; limits.max_timeout caps run_code's timeout.",
    )
    sandbox: SandboxConfig = Field(
        default_factory=SandboxConfig, description="How workers are confined: bubblewrap, network, environment."
    )
    log_level: LogLevel = "INFO"
    allow_runtime_deps: bool = Field(
        default=True, description="Let clients add and remove packages (add_dep, deps.add); else hide those tools."
    )
    allow_source_builds: bool = Field(
        default=False,
        description="Let installs build source distributions (else wheels only). A build runs the package's code "
        "on the host, as the server's user, outside the sandbox: allow it only with a trusted package index.",
    )
    extra_deps: list[str] = Field(default_factory=list, description="Packages beyond requirements.txt.")
    python_version: str | None = Field(default=None, description="Python for session venvs (default: the server's).")
    eager_start: bool = Field(
        default=True, description="Start the default session's worker at server start, so the first run_code is fast."
    )

    # approvals
    require_approval: list[str] = Field(
        default_factory=list,
        description="Globs over TOOL.CALLABLE (github.*, curl.post): such tool calls from code ask the MCP client "
        "first (elicitation) and run only if approved.",
    )
    approval_timeout: float | None = Field(
        default=DEFAULT_APPROVAL_TIMEOUT,
        gt=0,
        description="Seconds to wait for an approval's answer before the call is refused; None = as long as the run.",
    )

    # the MCP surface
    mcp_tools: McpTools = Field(
        default_factory=lambda: os.environ.get("CODEMODE_MCP_TOOLS", "code"),  # type: ignore[arg-type, return-value]
        description="Which tools the server offers: 'code' (run_code and search), 'py-code-mode' or 'full'.",
    )
    enable_tools: list[str] = Field(default_factory=list, description="Tools of 'full' offered on top of the profile.")
    disable_tools: list[str] = Field(default_factory=list, description="Tools of the profile not offered.")

    # storage
    storage: Literal["file", "redis"] = "file"
    storage_path: Path | None = Field(
        default=None, description="With file storage, the data directory if not base (py-code-mode's --storage PATH)."
    )
    tools_path: Path | None = Field(default=None, description="Directory of tool YAML files; else base's tools/.")
    mcp_config: list[Path] = Field(
        default_factory=list,
        description="MCP clients' JSON configs (mcpServers, VS Code's servers) whose servers become tools.",
    )
    sync_deps_on_start: bool = Field(default=False, description="Install the configured packages at session start.")
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
    max_sessions: int | None = Field(
        default=256, ge=1, description="Sessions at once; when full, the least recently used idle one closes."
    )
    max_sessions_per_principal: int | None = Field(
        default=64,
        ge=1,
        description="Sessions at once per principal (all unauthenticated callers are one, LOCAL_PRINCIPAL); "
        "when full, its least recently used idle one closes.",
    )
    pool_size: int = Field(default=2, ge=0, description="Pre-started workers waiting for new sessions (HTTP).")
    history: HistoryLimits = Field(
        default_factory=HistoryLimits, description="Runs each session's history keeps, and characters per run."
    )
    quota: StorageQuota = Field(
        default_factory=StorageQuota,
        description="What code may store: artifacts, workflows per workspace; snapshots, named sessions per principal.",
    )

    # HTTP security
    auth_tokens: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="Bearer token -> principal name. Empty: no authentication (loopback only).",
    )
    allowed_hosts: list[str] = Field(default_factory=list, description="Host headers accepted; '*' turns checks off.")
    allowed_origins: list[str] = Field(default_factory=list, description="Origin headers accepted (browsers).")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    http_header_timeout: float = Field(default=10.0, gt=0, description="Seconds to receive a request's headers.")
    http_body_timeout: float = Field(default=30.0, gt=0, description="Seconds to receive a request's body.")
    http_keep_alive: float = Field(default=5.0, gt=0, description="Seconds an idle connection is kept open.")
    http_max_connections: int = Field(
        default=512, ge=1, description="Connections at once; one more closes the oldest idle one."
    )

    @field_validator("require_approval")
    @classmethod
    def _approval_patterns(cls, patterns: list[str]) -> list[str]:
        return list(check_patterns(patterns))

    @model_validator(mode="after")
    def _timeout_within_maximum(self) -> ServerSettings:
        maximum = self.limits.max_timeout
        if maximum is not None and (self.timeout is None or self.timeout > maximum):
            raise ValueError(f"the default timeout ({self.timeout}) must be at most the maximum ({maximum:g})")
        return self
