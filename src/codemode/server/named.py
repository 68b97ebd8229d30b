"""The named sessions of the server's clients: saved when their worker goes, found again by name.

A client that opens a session with a name gets that session back whenever it
names it again: the live one if its worker still runs, else one resumed from
what was saved when the worker went (idle expiry, eviction, close, server
shutdown), on this server or on any other that shares the storage. Saving
happens on the way out, so a run costs nothing extra.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import anyio
from pydantic import BaseModel, Field

from codemode.errors import CodemodeError
from codemode.session.manager import save
from codemode.session.session import Session
from codemode.session.store import NamedSessionInfo, SessionStore
from codemode.storage.base import Storage
from codemode.workspace.quota import StorageQuota

logger = logging.getLogger(__name__)


class SessionSummary(BaseModel):
    """One of the caller's sessions, as ``list_sessions`` shows it: running, or named and stored."""

    session_id: str | None = Field(description="Its id while it runs; None for a stored session (open it by name).")
    name: str | None = Field(default=None, description="Its name if it is a named session, else null.")
    created_at: datetime = Field(description="When it was created (UTC).")
    last_used_at: datetime = Field(description="When a call last used it; idle expiry and eviction count from here.")
    busy: bool = Field(description="True while code runs in it: a busy session is never closed to make room.")
    labels: dict[str, str] = Field(default_factory=dict, description="Its labels (key: value).")
    live: bool = Field(default=True, description="True if its worker runs; False if it is stored (named sessions).")
    execution_count: int = Field(default=0, description="Runs it has made.")
    history_length: int = Field(default=0, description="Runs kept in its history.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form data kept with it.")
    size_bytes: int | None = Field(default=None, description="For a stored session: its size in storage.")

    @classmethod
    def of(cls, session: Session) -> SessionSummary:
        return cls(
            session_id=session.session_id,
            name=session.name,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            busy=session.busy,
            labels=dict(session.labels),
            execution_count=session.execution_count,
            history_length=len(session.history),
            metadata=dict(session.metadata),
        )

    @classmethod
    def stored(cls, info: NamedSessionInfo) -> SessionSummary:
        fields = info.model_dump(include={"name", "created_at", "labels", "execution_count", "history_length"})
        return cls(
            session_id=None, last_used_at=info.updated_at, busy=False, live=False, **fields,
            metadata=info.metadata, size_bytes=info.size_bytes,
        )  # fmt: skip


class NamedSessions:
    """Each principal's stored sessions, and the saves under way (a resume waits for them)."""

    def __init__(self, storage: Storage, quota: StorageQuota | None = None) -> None:
        self.storage = storage
        self.quota = quota
        self._stores: dict[str, SessionStore] = {}  # one per principal: its writes take turns (quota checks)
        self._saving: dict[tuple[str, str], anyio.Event] = {}

    def store(self, principal: str) -> SessionStore:
        if principal not in self._stores:
            self._stores[principal] = SessionStore(self.storage, principal, self.quota)
        return self._stores[principal]

    def expect_save(self, principal: str, name: str) -> None:
        """A save of ``name`` is coming (its session was just taken out): a resume must wait for it."""
        self._saving.setdefault((principal, name), anyio.Event())

    def saved(self, principal: str, name: str) -> None:
        """The save of ``name`` is over (done, failed or not needed): a waiting resume goes on."""
        done = self._saving.pop((principal, name), None)
        if done is not None:
            done.set()

    async def save_quietly(self, principal: str, session: Session) -> NamedSessionInfo | None:
        """Save the named ``session`` as its worker goes; a failure is logged, never raised."""
        try:
            return await save(self.store(principal), session)
        except CodemodeError as exc:
            logger.warning("could not save session %r of %s: %s", session.name, principal, exc)
            return None

    async def settled(self, principal: str, name: str) -> None:
        """Return once no save of ``principal``'s session ``name`` is under way."""
        saving = self._saving.get((principal, name))
        if saving is not None:
            await saving.wait()
