"""Which session a tool call runs in.

Sessions are an application-level handle: MCP protocol 2026-07-28 has no
transport session, so a session cannot hang on the transport alone. The rules:

- ``open_session`` creates a session and returns its id; a call that names a
  ``session_id`` runs there;
- a call without one runs in the session bound to its transport key (a
  handshake-era client's ``Mcp-Session-Id``), else in the caller's default
  session: one per principal (over stdio, the process's one session);
- a session belongs to the principal that opened it; for anyone else its id
  does not exist (same error as a wrong id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import anyio
from anyio.abc import TaskGroup

from codemode.errors import CodemodeError, SessionNotFound
from codemode.server.settings import ServerSettings
from codemode.session import Session
from codemode.workspace import Workspace

logger = logging.getLogger(__name__)

SessionFactory = Callable[[str | None], Session]
"""``factory(name)``: a new, not yet started session."""


@dataclass
class _Entry:
    session: Session
    principal: str
    transport_key: str | None = None
    last_used: float = field(default_factory=anyio.current_time)


class SessionRegistry:
    """Owns every live session; closing the registry closes them all."""

    def __init__(self, factory: SessionFactory, workspace: Workspace) -> None:
        self._factory = factory
        self.workspace = workspace
        self._entries: dict[str, _Entry] = {}
        self._defaults: dict[str, str] = {}
        self._by_transport: dict[str, str] = {}
        self._lock = anyio.Lock()
        self._tasks: TaskGroup | None = None

    async def __aenter__(self) -> SessionRegistry:
        # The shared workspace is opened here, in the owner's task, so that its task group
        # is entered and left by one task whichever sessions come and go.
        await self.workspace.open()
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tasks is not None
        self._tasks.cancel_scope.cancel()
        await self._tasks.__aexit__(exc_type, exc, tb)
        await self.close_all()
        await self.workspace.close()

    def __len__(self) -> int:
        return len(self._entries)

    async def resolve(self, principal: str, session_id: str | None = None, transport_key: str | None = None) -> Session:
        """The session a call runs in (see the module docstring); started before it is returned."""
        entry = self._lookup(principal, session_id, transport_key)
        if entry is None:
            entry = await self._create_bound(principal, transport_key)
        entry.last_used = anyio.current_time()
        await entry.session.start()
        return entry.session

    async def _create_bound(self, principal: str, transport_key: str | None) -> _Entry:
        async with self._lock:  # two first calls at once must not both create a default session
            entry = self._lookup(principal, None, transport_key)
            if entry is None:
                entry = self._create(principal, None)
                if transport_key is not None:
                    entry.transport_key = transport_key
                    self._by_transport[transport_key] = entry.session.session_id
                else:
                    self._defaults[principal] = entry.session.session_id
        return entry

    def _lookup(self, principal: str, session_id: str | None, transport_key: str | None) -> _Entry | None:
        if session_id is not None:
            entry = self._entries.get(session_id)
            if entry is None or entry.principal != principal:
                raise SessionNotFound(
                    f"no open session with id {session_id!r}; open one with open_session, or omit session_id "
                    "to use your default session"
                )
            return entry
        key = self._by_transport.get(transport_key) if transport_key is not None else self._defaults.get(principal)
        return self._entries.get(key) if key is not None else None

    def _create(self, principal: str, name: str | None) -> _Entry:
        session = self._factory(name)
        entry = _Entry(session=session, principal=principal)
        self._entries[session.session_id] = entry
        return entry

    async def open(self, principal: str, name: str | None = None) -> Session:
        """A new session owned by ``principal``."""
        async with self._lock:
            entry = self._create(principal, name)
        try:
            await entry.session.start()
        except BaseException:
            await self._forget(entry.session.session_id)
            raise
        return entry.session

    def prestart_default(self, principal: str) -> None:
        """Create the default session of ``principal`` and start it in the background."""
        if principal in self._defaults or self._tasks is None:
            return
        entry = self._create(principal, None)
        self._defaults[principal] = entry.session.session_id
        self._tasks.start_soon(self._start_quietly, entry.session)

    @staticmethod
    async def _start_quietly(session: Session) -> None:
        try:
            await session.start()
        except CodemodeError as exc:  # the first call will retry and report it
            logger.warning("could not pre-start session %s: %s", session.session_id, exc)

    async def close(self, principal: str, session_id: str) -> None:
        """Close a session of ``principal``; ``SessionNotFound`` if it has none with that id."""
        async with self._lock:
            self._lookup(principal, session_id, None)
        await self._forget(session_id)

    async def _forget(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is None:
            return
        if self._defaults.get(entry.principal) == session_id:
            del self._defaults[entry.principal]
        if entry.transport_key is not None:
            self._by_transport.pop(entry.transport_key, None)
        await entry.session.close()

    async def close_all(self) -> None:
        with anyio.CancelScope(shield=True):
            for session_id in list(self._entries):
                await self._forget(session_id)


def new_registry(settings: ServerSettings) -> SessionRegistry:
    """A registry whose sessions share one workspace, configured by ``settings``."""
    workspace = settings.workspace()
    return SessionRegistry(lambda name: settings.new_session(workspace, name), workspace)
