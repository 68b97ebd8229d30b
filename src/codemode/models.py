"""Pydantic models shared by :class:`~codemode.Session` and the MCP server.

They are the wire shapes too: each MCP tool returns one of them as its
structured content, so its JSON schema is the tool's output schema.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from codemode.executors.base import Capability


class ErrorInfo(BaseModel):
    """An exception raised by user code, or a failure of the session around it."""

    type: str = Field(description="Exception class name, e.g. 'NameError', 'TimeoutError', 'WorkerDied'.")
    message: str = Field(description="str() of the exception.")
    traceback: str = Field(
        default="", description="Formatted traceback of the user's code, codemode's own frames removed."
    )
    line: int | None = Field(default=None, description="Line in the submitted code where the error happened, if known.")
    column: int | None = Field(default=None, description="Column, for syntax errors.")

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


class ExecutionResult(BaseModel):
    """What running one piece of code produced."""

    value: str | None = Field(
        default=None, description="repr() of the last expression's value, like a REPL; None if none."
    )
    stdout: str = Field(default="", description="Everything written to stdout: print, C code, child processes.")
    stderr: str = Field(default="", description="Everything written to stderr.")
    error: ErrorInfo | None = Field(default=None, description="The exception, if the code failed.")
    execution_count: int = Field(default=0, description="How many runs this session has done, this one included.")
    duration_ms: float = Field(default=0.0, description="Wall-clock time of the run in milliseconds.")
    truncated: bool = Field(default=False, description="True if output, value or traceback was cut at its size limit.")
    session_id: str | None = Field(default=None, description="The session the code ran in.")
    state_lost: bool = Field(
        default=False,
        description="True if the worker had to be replaced (killed after a timeout, or it died): "
        "every variable and import of the session is gone.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_ok(self) -> bool:
        """True if the code raised nothing."""
        return self.error is None


class RuntimeInfo(BaseModel):
    """The interpreter that runs a session's code."""

    pid: int | None = Field(default=None, description="Process id of the worker (None for the in-process executor).")
    python_version: str
    executable: str
    prefix: str = Field(description="sys.prefix of that interpreter: the venv it runs in.")


class SessionInfo(BaseModel):
    """Facts about one session."""

    session_id: str
    name: str | None = None
    created_at: datetime
    execution_count: int
    executor: str
    capabilities: list[Capability]
    python_version: str | None = None
    python_executable: str | None = None
    venv: str | None = None
    worker_pid: int | None = None
    default_timeout: float | None = Field(
        description="Seconds a run may take unless it says otherwise; None = no limit."
    )
    labels: dict[str, str] = Field(default_factory=dict)
