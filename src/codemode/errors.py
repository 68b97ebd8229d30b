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


class SessionNotFound(NotFound):
    """No session with that id is open for this caller."""


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


class ToolFailed(CodemodeError):
    """A tool ran and failed (non-zero exit, HTTP error, MCP error result)."""


class StorageError(CodemodeError):
    """The storage backend failed; stored data is unchanged."""


class DepsError(CodemodeError):
    """Installing or removing a package failed."""


class RuntimeDepsDisabled(DepsError, PermissionError):
    """The session was started with ``allow_runtime_deps=False``."""

    kind = "permission"


class LimitExceeded(CodemodeError):
    """A configured limit (sessions, sizes) would be exceeded."""
