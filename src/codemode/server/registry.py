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
session, after ``idle_timeout`` without activity, when a cap needs room for a
new one, or when the registry closes. A named session is saved as it ends and
resumed when its owner opens that name again (see ``named.py``).

Caps never lock clients out because of sessions nobody uses: when a new session
would exceed ``max_per_principal``, the caller's least recently used idle
session is closed; when it would exceed ``max_sessions``, the caller's own least
recently used idle session if it has one, else the server's. A session running
code is never closed; only when every candidate is busy is the new one refused.
The owner of a session the server closed hears "expired" (``SessionExpired``)
when it names the id again, not "not found"; the registry remembers the last
``remembered_expired`` such ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType

import anyio
from anyio.abc import TaskGroup

from codemode.errors import (
    CodemodeError,
    InvalidArgument,
    SessionExpired,
    SessionNotFound,
)
from codemode.executors.base import Executor
from codemode.names import validate_name
from codemode.server.capacity import ExpiredIds, Limits, choose_victims
from codemode.server.named import NamedSessions, SessionSummary
from codemode.server.pool import WorkerPool
from codemode.session.labels import has_labels, validate_labels
from codemode.session.manager import resume, save
from codemode.session.session import Session
from codemode.session.store import SessionRecord
from codemode.workspace.workspace import Workspace

logger = logging.getLogger(__name__)

SessionFactory = Callable[[str | None, Executor | None], Session]
"""``factory(name, executor)``: a new, not yet started session; with ``executor`` if one is given."""


@dataclass
class _Entry:
    session: Session
    principal: str
    transport_key: str | None = None
    default: bool = False  # it was its principal's default session when it was taken out


class SessionRegistry:
    """Owns every live session (and the shared workspace); closing the registry closes them all."""

    def __init__(
        self,
        factory: SessionFactory,
        workspace: Workspace,
        limits: Limits | None = None,
        pool: WorkerPool | None = None,
        bind: Callable[[Session, str], None] | None = None,
    ) -> None:
        self._factory = factory
        self._bind = bind  # what a new session of a principal gets (the server: its sessions.* calls)
        self.workspace = workspace
        self.limits = limits or Limits()
        self.pool = pool
        self._entries: dict[str, _Entry] = {}
        self._defaults: dict[str, str] = {}
        # (principal, Mcp-Session-Id) -> session id: a header value alone must not reach another's session.
        self._by_transport: dict[tuple[str, str], str] = {}
        self._lost_defaults: dict[str, str] = {}  # principal -> why the server closed its default session
        self._expired = ExpiredIds(self.limits.remembered_expired)
        self._lock = anyio.Lock()
        self._named_lock = anyio.Lock()  # one named open at a time: two calls naming one session get one
        self.named = NamedSessions(workspace.storage, workspace.quota)
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

    async def sessions(self, principal: str, labels: Mapping[str, str] | None = None) -> list[SessionSummary]:
        """``principal``'s open sessions, oldest first, then its stored named ones that do not run now.

        Only those carrying every one of ``labels``.
        """
        wanted = validate_labels(labels) if labels else None
        owned = sorted(self._owned_by(principal), key=lambda session: session.created_at)
        live = [SessionSummary.of(session) for session in owned if has_labels(session.labels, wanted)]
        running = {session.name for session in owned}
        stored = await self.named.store(principal).infos(wanted)
        return live + [SessionSummary.stored(info) for info in stored if info.name not in running]

    async def resolve(self, principal: str, session_id: str | None = None, transport_key: str | None = None) -> Session:
        """The session a call runs in (see the module docstring); started before it is returned."""
        entry = self._lookup(principal, session_id, transport_key)
        if entry is None:
            entry = await self._create_bound(principal, transport_key)
        entry.session.touch()
        await entry.session.start()
        return entry.session

    async def open(self, principal: str, name: str | None = None, labels: Mapping[str, str] | None = None) -> Session:
        """A new session owned by ``principal``; with a ``name``, its session of that name (see named.py)."""
        checked = None if labels is None else validate_labels(labels)
        if name is not None:
            return await self._open_named(principal, validate_name(name, "session name"), checked)
        session = await self._open_new(principal, None)
        session.labels = checked or {}
        return session

    async def fork(self, principal: str, source: Session, name: str) -> Session:
        """A new named session ``name`` that starts from ``source``'s variables, files and history."""
        validate_name(name, "session name")
        store = self.named.store(principal)
        async with self._named_lock:
            if self.live_named(principal, name) is not None or await store.get(name) is not None:
                raise InvalidArgument(f"you already have a session named {name!r}: fork under a new name")
            await save(store, source, name, {"branched_from": source.name or source.session_id})
            return await self._resume(principal, name, None)

    async def delete(self, principal: str, name: str) -> None:
        """Close ``principal``'s session ``name`` if it runs (without saving it) and forget what was stored."""
        async with self._named_lock:
            live = self.live_named(principal, name)
            if live is not None:
                await self._forget(live.session_id, save=False)
            await self.named.settled(principal, name)  # a save under way would bring it back
            try:
                await self.named.store(principal).delete(name)
            except SessionNotFound:
                if live is None:
                    raise

    async def _open_new(self, principal: str, name: str | None) -> Session:
        async with self._lock:
            entry, evicted = self._create(principal, name)
        await self._close(evicted)
        try:
            await entry.session.start()
        except BaseException:
            await self._forget(entry.session.session_id, save=False)
            raise
        return entry.session

    async def _open_named(self, principal: str, name: str, labels: dict[str, str] | None) -> Session:
        """The caller's running session ``name``; else one resumed from its last save; else a new one."""
        async with self._named_lock:
            session = self.live_named(principal, name)
            if session is None:
                await self.named.settled(principal, name)
                return await self._resume(principal, name, labels)
        session.touch()
        if labels is not None:
            session.labels = labels
        return session

    async def _resume(self, principal: str, name: str, labels: dict[str, str] | None) -> Session:
        store = self.named.store(principal)
        record = await store.get(name)
        session = await self._open_new(principal, name)
        try:
            if record is None:
                await store.put(SessionRecord.new(name, principal, labels=labels or {}))
            else:
                await resume(store, session, record)
        except BaseException:
            await self._forget(session.session_id, save=False)
            raise
        if labels is not None:
            session.labels = labels
        return session

    def live_named(self, principal: str, name: str) -> Session | None:
        """``principal``'s running session called ``name``, if there is one."""
        return next((session for session in self._owned_by(principal) if session.name == name), None)

    async def close(self, principal: str, session_id: str) -> None:
        """Close a session of ``principal``; ``SessionNotFound`` if it has none with that id."""
        self._lookup(principal, session_id, None)
        await self._forget(session_id)

    async def close_transport(self, transport_key: str) -> None:
        """The handshake-era MCP session ``transport_key`` ended: so does the session bound to it."""
        for (_, key), session_id in list(self._by_transport.items()):
            if key == transport_key:
                await self._forget(session_id)

    def prestart_default(self, principal: str) -> None:
        """Create the default session of ``principal`` and start it in the background."""
        if principal in self._defaults or self._tasks is None:
            return
        entry, evicted = self._create(principal, None)
        self._defaults[principal] = entry.session.session_id
        self._tasks.start_soon(self._close, evicted)
        self._tasks.start_soon(self._start_quietly, entry.session)

    async def close_all(self) -> None:
        with anyio.CancelScope(shield=True):
            for session_id in list(self._entries):
                await self._forget(session_id)

    def _owned_by(self, principal: str) -> Iterable[Session]:
        return (entry.session for entry in self._entries.values() if entry.principal == principal)

    def _lookup(self, principal: str, session_id: str | None, transport_key: str | None) -> _Entry | None:
        if session_id is not None:
            entry = self._entries.get(session_id)
            if entry is not None and entry.principal == principal:
                return entry
            reason = self._expired.reason(session_id, principal)
            if reason is not None:
                raise SessionExpired(f"session {session_id!r} has expired: the server closed it because {reason}")
            raise SessionNotFound(
                f"no open session with id {session_id!r}; open one with open_session, or omit session_id "
                "to use your default session"
            )
        if transport_key is not None:
            key = self._by_transport.get((principal, transport_key))
        else:
            key = self._defaults.get(principal)
        return self._entries.get(key) if key is not None else None

    async def _create_bound(self, principal: str, transport_key: str | None) -> _Entry:
        async with self._lock:  # two first calls at once must not both create a default session
            evicted: list[_Entry] = []
            entry = self._lookup(principal, None, transport_key)
            if entry is None:
                entry, evicted = self._create(principal, None)
                if transport_key is not None:
                    entry.transport_key = transport_key
                    self._by_transport[(principal, transport_key)] = entry.session.session_id
                else:
                    self._defaults[principal] = entry.session.session_id
                    lost = self._lost_defaults.pop(principal, None)
                    if lost is not None:
                        entry.session.lost_before_start(
                            f"your default session was closed ({lost}); this call runs in a fresh one, so its "
                            "variables and imports are gone"
                        )
        await self._close(evicted)
        return entry

    def _create(self, principal: str, name: str | None) -> tuple[_Entry, list[_Entry]]:
        """A new session of ``principal``, and the sessions taken out to make room for it (to be closed)."""
        # Before anything changes: a refusal changes nothing.
        victims = choose_victims(principal, [(e.session, e.principal) for e in self._entries.values()], self.limits)
        session = self._factory(name, self.pool.take() if self.pool is not None else None)
        session.owner = principal  # its stored snapshots are the principal's
        if self._bind is not None:
            self._bind(session, principal)
        evicted = [self._evict(victim, reason) for victim, reason in victims]
        entry = _Entry(session=session, principal=principal)
        self._entries[session.session_id] = entry
        return entry, evicted

    def _evict(self, session: Session, reason: str, level: int = logging.WARNING) -> _Entry:
        """Take ``session`` out of the registry (the caller closes it); its owner will hear why."""
        entry = self._detach(session.session_id)
        assert entry is not None
        if session.name is not None:
            self.named.expect_save(entry.principal, session.name)
            then = f"It was saved: open_session with name {session.name!r} resumes it, variables and all"
        else:
            then = (
                "Its variables are gone (workflows and artifacts stay); open a new one with open_session, "
                "or omit session_id to use your default session"
            )
        self._expired.add(session.session_id, entry.principal, f"{reason}. {then}")
        if entry.default:
            self._lost_defaults[entry.principal] = reason  # its next call lands in a fresh session: say so there
        idle_for = time.monotonic() - session.last_activity
        logger.log(
            level, "closing session %s of %s, idle for %.0fs: %s", session.session_id, entry.principal, idle_for, reason
        )
        return entry

    def _detach(self, session_id: str) -> _Entry | None:
        entry = self._entries.pop(session_id, None)
        if entry is None:
            return None
        if self._defaults.get(entry.principal) == session_id:
            del self._defaults[entry.principal]
            entry.default = True
        if entry.transport_key is not None:
            self._by_transport.pop((entry.principal, entry.transport_key), None)
        return entry

    async def _forget(self, session_id: str, save: bool = True) -> None:
        entry = self._detach(session_id)
        if entry is not None:
            await self._retire(entry, save)

    async def _close(self, entries: list[_Entry]) -> None:
        for entry in entries:
            await self._retire(entry)

    async def _retire(self, entry: _Entry, save: bool = True) -> None:
        """Close a session taken out of the registry; a named one is saved first, to be resumed later."""
        session = entry.session
        if session.name is not None:
            self.named.expect_save(entry.principal, session.name)
            try:
                if save and session.started:
                    await self.named.save_quietly(entry.principal, session)
            finally:
                self.named.saved(entry.principal, session.name)
        await session.close()

    async def _expire_idle(self, idle_timeout: float) -> None:
        reason = f"it was idle for more than {idle_timeout:g}s (--idle-timeout)"
        while True:
            await anyio.sleep(min(max(idle_timeout / 4, 0.05), 30.0))
            now = time.monotonic()
            for session_id, entry in list(self._entries.items()):
                session = entry.session
                # Closing one session yields: check that each is still registered, and still idle.
                expired = now - session.last_activity > idle_timeout
                if expired and not session.busy and self._entries.get(session_id) is entry:
                    await self._close([self._evict(session, reason, logging.INFO)])

    @staticmethod
    async def _start_quietly(session: Session) -> None:
        try:
            await session.start()
        except CodemodeError as exc:  # the first call will retry and report it
            logger.warning("could not pre-start session %s: %s", session.session_id, exc)
