"""codemode: persistent Python code-mode sessions, as a library and as an MCP server.

The public API is what this module exports; everything else is internal.
"""

__version__ = "0.1.0"

from codemode.config import InProcessConfig, SubprocessConfig
from codemode.errors import (
    ApprovalDenied,
    ArtifactNotFound,
    CodemodeError,
    InvalidArgument,
    InvalidName,
    NotFound,
    SessionClosed,
    SessionError,
    SessionNotFound,
    SessionNotFoundError,
    SnapshotError,
    SnapshotNotFound,
    SnapshotUnavailable,
    ToolCallRefused,
    WorkerError,
)
from codemode.executors.base import Executor
from codemode.executors.inprocess import InProcessExecutor
from codemode.executors.subprocess_executor import SubprocessExecutor
from codemode.models import Capability, ErrorInfo, ExecutionLimits, ExecutionResult, RuntimeInfo, SessionInfo
from codemode.session.callbacks import Callback
from codemode.session.history import HistoryEntry, HistoryLimits
from codemode.session.manager import SessionManager
from codemode.session.session import Session
from codemode.session.store import NamedSessionInfo, SessionDocument
from codemode.storage import FileStorage, MemoryStorage, Storage
from codemode.tools.approval import ApprovalGate
from codemode.tools.middleware import ToolCallContext, ToolMiddleware
from codemode.workspace.artifacts import ArtifactInfo, ArtifactStore
from codemode.workspace.quota import StorageQuota
from codemode.workspace.snapshots import RestoreResult, Snapshot, SnapshotInfo, SnapshotStore

__all__ = [
    "ApprovalDenied",
    "ApprovalGate",
    "ArtifactInfo",
    "ArtifactNotFound",
    "ArtifactStore",
    "Callback",
    "Capability",
    "CodemodeError",
    "ErrorInfo",
    "ExecutionLimits",
    "ExecutionResult",
    "Executor",
    "FileStorage",
    "HistoryEntry",
    "HistoryLimits",
    "InProcessConfig",
    "InProcessExecutor",
    "InvalidArgument",
    "InvalidName",
    "MemoryStorage",
    "NamedSessionInfo",
    "NotFound",
    "RestoreResult",
    "RuntimeInfo",
    "Session",
    "SessionClosed",
    "SessionDocument",
    "SessionError",
    "SessionInfo",
    "SessionManager",
    "SessionNotFound",
    "SessionNotFoundError",
    "Snapshot",
    "SnapshotError",
    "SnapshotInfo",
    "SnapshotNotFound",
    "SnapshotStore",
    "SnapshotUnavailable",
    "Storage",
    "StorageQuota",
    "SubprocessConfig",
    "SubprocessExecutor",
    "ToolCallContext",
    "ToolCallRefused",
    "ToolMiddleware",
    "WorkerError",
    "__version__",
]


def __getattr__(name: str) -> object:
    # `codemode.RedisStorage` is imported on first use: redis-py is only needed by servers that store in Redis.
    if name == "RedisStorage":
        from codemode.storage.redis import RedisStorage

        return RedisStorage
    raise AttributeError(f"module 'codemode' has no attribute {name!r}")
