"""The exception hierarchy: everything codemode raises on purpose is a ``CodemodeError``.

``kind`` says which builtin family an error belongs to when it crosses into user
code (``artifacts.load("missing")`` raises something ``except LookupError`` catches),
and the MCP server turns every ``CodemodeError`` into a tool error whose message is
shown to the model as is. Anything else that escapes is a bug: it is logged with its
traceback and the client sees a short generic message.
"""

from __future__ import annotations


class CodemodeError(Exception):
    """Base class of every anticipated failure."""

    kind = "runtime"


class InvalidArgument(CodemodeError, ValueError):
    """An argument is malformed: the message says what is allowed."""

    kind = "value"


class InvalidName(InvalidArgument):
    """A user-chosen name does not match the name pattern."""


class NotFound(CodemodeError, LookupError):
    """The named thing does not exist."""

    kind = "lookup"

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class SessionError(CodemodeError):
    """A named session could not be saved, loaded or imported (coda's ``SessionError``); nothing changed."""


class SessionNotFound(NotFound, SessionError):
    """No session with that id is open for this caller, or no stored session has that name."""


SessionNotFoundError = SessionNotFound
"""coda's name for :class:`SessionNotFound`."""


class SessionExpired(SessionNotFound):
    """The caller's session was closed by the server (idle timeout or session limit), not by the caller."""


class WorkflowNotFound(NotFound):
    pass


class ArtifactNotFound(NotFound):
    pass


class ToolNotFound(NotFound):
    pass


class SessionClosed(CodemodeError):
    """The session was closed; open a new one."""


class WorkerError(CodemodeError):
    """The worker process could not be started or broke the protocol."""


class SandboxError(WorkerError):
    """The sandbox that was asked for (``--sandbox bwrap``) cannot be set up here."""


class OperationFailed(CodemodeError):
    """An operation asked of a session's interpreter (a snapshot, a restore ...) raised an exception there."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}" if message else error_type)
        self.error_type = error_type


class SnapshotError(CodemodeError):
    """A snapshot could not be taken or restored; the session's variables are unchanged."""


class SnapshotUnavailable(SnapshotError):
    """This session cannot take or load snapshots (no serializer, or an in-process interpreter)."""


class SnapshotNotFound(NotFound, SnapshotError):
    """No snapshot with that id belongs to the caller."""


class ToolFailed(CodemodeError):
    """A tool ran and failed (non-zero exit, HTTP error, MCP error result)."""


class ToolCallRefused(CodemodeError, PermissionError):
    """A tool middleware refused a call that code made (the message says why); the tool was not called."""

    kind = "permission"


class ApprovalDenied(ToolCallRefused):
    """A call that needs approval did not get it; the tool was not called.

    ``reason`` says how: ``declined`` or ``cancelled`` (by the client), ``unsupported`` (the client
    cannot be asked), ``no_approver`` (nothing asks: code outside an MCP request), ``timeout``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StorageError(CodemodeError):
    """The storage backend failed; stored data is unchanged."""


class DepsError(CodemodeError):
    """Installing or removing a package failed."""


class RuntimeDepsDisabled(DepsError, PermissionError):
    """The session was started with ``allow_runtime_deps=False``."""

    kind = "permission"


class LimitExceeded(CodemodeError):
    """A configured limit (sessions, sizes) would be exceeded."""


class FileNotFound(NotFound):
    """No such file or directory in the session's directory."""


class PathNotAllowed(CodemodeError, PermissionError):
    """A path that would leave the session's directory: absolute, with '..', or through a symbolic link."""

    kind = "permission"


class Unavailable(CodemodeError):
    """The feature cannot work with this session's executor or on this machine (the message says why)."""


class CallbackFailed(CodemodeError):
    """A host function that the session's code called (a callback) raised; ``kind`` follows its exception."""
