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


def __getattr__(name: str) -> object:
    # `codemode.RedisStorage` is imported on first use: redis-py is only needed by servers that store in Redis.
    if name == "RedisStorage":
        from codemode.storage.redis import RedisStorage

        return RedisStorage
    raise AttributeError(f"module 'codemode' has no attribute {name!r}")
