"""codemode: persistent Python code-mode sessions, as a library and as an MCP server.

The public API is what this module exports; everything else is internal.
"""

__version__ = "0.1.0"

from codemode.artifacts import ArtifactInfo, ArtifactStore
from codemode.errors import (
    ArtifactNotFound,
    CodemodeError,
    InvalidArgument,
    InvalidName,
    NotFound,
    SessionClosed,
    SessionNotFound,
    WorkerError,
)
from codemode.executors.base import Capability, ExecutionLimits, Executor
from codemode.executors.inprocess import InProcessExecutor
from codemode.executors.subprocess import SubprocessExecutor
from codemode.models import ErrorInfo, ExecutionResult, RuntimeInfo, SessionInfo
from codemode.session import Session
from codemode.storage import FileStorage, Storage

__all__ = [
    "ArtifactInfo",
    "ArtifactNotFound",
    "ArtifactStore",
    "Capability",
    "CodemodeError",
    "ErrorInfo",
    "ExecutionLimits",
    "ExecutionResult",
    "Executor",
    "FileStorage",
    "InProcessExecutor",
    "InvalidArgument",
    "InvalidName",
    "NotFound",
    "RuntimeInfo",
    "Session",
    "SessionClosed",
    "SessionInfo",
    "SessionNotFound",
    "Storage",
    "SubprocessExecutor",
    "WorkerError",
    "__version__",
]
