"""Which session a tool call runs in, and how long sessions live.

Sessions are an application-level handle: MCP protocol 2026-07-28 has no
transport session, so a session cannot hang on the transport alone. The rules:

- ``open_session`` creates a session and returns its id; a call that names a
  ``session_id`` runs there;
- a call without one runs in the session bound to its transport key (a
  handshake-era client's ``Mcp-Session-Id``), else in the caller's default
  session: one per principal (over stdio, the process's one session);
- a session belongs to the principal that opened it; for anyone else its id
  does not exist (the same error as a wrong id).

Sessions end on ``close_session``, when a handshake-era client deletes its MCP
session, after ``idle_timeout`` without activity, or when the registry closes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import anyio
from anyio.abc import TaskGroup

from codemode.errors import CodemodeError, DepsError, LimitExceeded, SessionNotFound
from codemode.executors.base import Executor
from codemode.server.pool import WorkerPool, started
from codemode.server.settings import ServerSettings
from codemode.session import Session
from codemode.workspace import Workspace

logger = logging.getLogger(__name__)

SessionFactory = Callable[[str | None, Executor | None], Session]
"""``factory(name, executor)``: a new, not yet started session; with ``executor`` if one is given."""


@dataclass
class _Entry:
    session: Session
    principal: str
    transport_key: str | None = None


@dataclass
class Limits:
    max_sessions: int | None = None
    max_per_principal: int | None = None
    idle_timeout: float | None = None


class SessionRegistry:
    """Owns every live session (and the shared workspace); closing the registry closes them all."""

    def __init__(
        self,
        factory: SessionFactory,
        workspace: Workspace,
        limits: Limits | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        self._factory = factory
        self.workspace = workspace
        self.limits = limits or Limits()
        self.pool = pool
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
        if self.pool is not None:
            self.pool.start(self._tasks)
        if self.limits.idle_timeout is not None:
            self._tasks.start_soon(self._expire_idle, self.limits.idle_timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tasks is not None
        self._tasks.cancel_scope.cancel()
        await self._tasks.__aexit__(None, None, None)  # the body's own exception propagates by itself
        await self.close_all()
        if self.pool is not None:
            await self.pool.close()
        await self.workspace.close()

    def __len__(self) -> int:
        return len(self._entries)

    def count(self, principal: str) -> int:
        return sum(1 for entry in self._entries.values() if entry.principal == principal)

    async def resolve(self, principal: str, session_id: str | None = None, transport_key: str | None = None) -> Session:
        """The session a call runs in (see the module docstring); started before it is returned."""
        entry = self._lookup(principal, session_id, transport_key)
        if entry is None:
            entry = await self._create_bound(principal, transport_key)
        entry.session.touch()
        await entry.session.start()
        return entry.session

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

    async def close(self, principal: str, session_id: str) -> None:
        """Close a session of ``principal``; ``SessionNotFound`` if it has none with that id."""
        self._lookup(principal, session_id, None)
        await self._forget(session_id)

    async def close_transport(self, transport_key: str) -> None:
        """The handshake-era MCP session ``transport_key`` ended: so does the session bound to it."""
        session_id = self._by_transport.get(transport_key)
        if session_id is not None:
            await self._forget(session_id)

    def prestart_default(self, principal: str) -> None:
        """Create the default session of ``principal`` and start it in the background."""
        if principal in self._defaults or self._tasks is None:
            return
        entry = self._create(principal, None)
        self._defaults[principal] = entry.session.session_id
        self._tasks.start_soon(self._start_quietly, entry.session)

    async def close_all(self) -> None:
        with anyio.CancelScope(shield=True):
            for session_id in list(self._entries):
                await self._forget(session_id)

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

    def _create(self, principal: str, name: str | None) -> _Entry:
        limits = self.limits
        if limits.max_sessions is not None and len(self._entries) >= limits.max_sessions:
            raise LimitExceeded(
                f"this server already has {len(self._entries)} sessions, its maximum (--max-sessions); "
                "close one with close_session, or wait for idle ones to expire"
            )
        if limits.max_per_principal is not None and self.count(principal) >= limits.max_per_principal:
            raise LimitExceeded(
                f"you already have {limits.max_per_principal} open sessions, the maximum per client "
                "(--max-sessions-per-principal); close one with close_session"
            )
        session = self._factory(name, self.pool.take() if self.pool is not None else None)
        entry = _Entry(session=session, principal=principal)
        self._entries[session.session_id] = entry
        return entry

    async def _forget(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is None:
            return
        if self._defaults.get(entry.principal) == session_id:
            del self._defaults[entry.principal]
        if entry.transport_key is not None:
            self._by_transport.pop(entry.transport_key, None)
        await entry.session.close()

    async def _expire_idle(self, idle_timeout: float) -> None:
        while True:
            await anyio.sleep(min(max(idle_timeout / 4, 0.05), 30.0))
            now = time.monotonic()
            for session_id, entry in list(self._entries.items()):
                session = entry.session
                if not session.busy and now - session.last_activity > idle_timeout:
                    logger.info("closing session %s: idle for %.0fs", session_id, now - session.last_activity)
                    await self._forget(session_id)

    @staticmethod
    async def _start_quietly(session: Session) -> None:
        try:
            await session.start()
        except CodemodeError as exc:  # the first call will retry and report it
            logger.warning("could not pre-start session %s: %s", session.session_id, exc)


def new_registry(settings: ServerSettings) -> SessionRegistry:
    """A registry as ``settings`` configure it: one shared workspace, limits, a worker pool."""
    workspace = settings.workspace()
    pool = None
    if settings.pool_size > 0 and settings.executor == "subprocess":

        async def make() -> Executor:
            try:
                python: str | None = str(await workspace.deps.python())
            except DepsError:
                python = None  # sessions fall back to the server's interpreter too
            return await started(settings.make_executor(workspace), python)

        pool = WorkerPool(settings.pool_size, make)
    limits = Limits(settings.max_sessions, settings.max_sessions_per_principal, settings.idle_timeout)
    return SessionRegistry(
        lambda name, executor: settings.new_session(workspace, name, executor), workspace, limits, pool
    )
