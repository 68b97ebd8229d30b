"""``session`` in code: the session itself, as the code running in it sees it.

Standard library only (the worker loads it by path). What needs the worker idle — a
snapshot, a restore, a reset — cannot happen while this code runs, so those calls are
done when the current run ends, and the run's result says how they went. The server adds
its caller's other sessions (``list``, ``fork``, ``export``...) where it serves several.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Any]


class Session:
    """This session: ``help(session)`` lists what it can do."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def info(self) -> dict[str, Any]:
        """Facts about this session: id, name, runs, executor, sandbox and limits, memory, Python, labels."""
        return self._call("session.info", {})

    def labels(self) -> dict[str, str]:
        """This session's labels (key: value)."""
        return self._call("session.labels", {})

    def set_labels(self, labels: dict[str, str]) -> dict[str, str]:
        """Replace this session's labels (up to 64 non-empty strings); list() finds sessions by them."""
        return self._call("session.set_labels", {"labels": labels})

    def history(self, limit: int | None = 20) -> list[dict[str, Any]]:
        """The latest runs of this session, oldest first: code, ok, value or error, duration (None: all kept)."""
        return self._call("session.history", {"limit": limit})

    def snapshots(self) -> list[dict[str, Any]]:
        """The stored snapshots of this session's owner, oldest first."""
        return self._call("session.snapshots", {})

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Delete a stored snapshot."""
        self._call("session.delete_snapshot", {"snapshot_id": snapshot_id})

    def snapshot(self) -> str:
        """Store a snapshot of this session (variables and files) when this run ends; returns its id."""
        return self._call("session.snapshot", {})

    def restore(self, snapshot_id: str) -> None:
        """Put a stored snapshot's variables and files back when this run ends."""
        self._call("session.restore", {"snapshot_id": snapshot_id})

    def reset(self, hard: bool = False) -> None:
        """When this run ends, clear every variable (hard: start a fresh worker)."""
        self._call("session.reset", {"hard": hard})

    def list(self, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Your sessions: the open ones, then the saved named ones (only those with every one of labels)."""
        return self._call("sessions.list", {"labels": labels})

    def fork(self, name: str) -> None:
        """When this run ends, save a copy of this session as a new named session ``name``."""
        self._call("sessions.fork", {"name": name})

    def export(self, name: str | None = None) -> dict[str, Any]:
        """A saved named session as one JSON document (variables, files, history); import_session takes it."""
        return self._call("sessions.export", {"name": name})

    def import_session(self, document: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """Store an exported session as one of your named sessions; open_session(name) opens it."""
        return self._call("sessions.import", {"document": document, "name": name})

    def close(self, session_id: str) -> None:
        """Close another of your sessions (this one: when this run ends)."""
        self._call("sessions.close", {"session_id": session_id})

    def delete(self, name: str) -> None:
        """Forget one of your named sessions: closed if it runs, its saved state deleted."""
        self._call("sessions.delete", {"name": name})

    def __repr__(self) -> str:
        return (
            "session: info(), labels(), set_labels(d), history(limit), snapshots(), snapshot(), restore(id), "
            "reset(hard=False), delete_snapshot(id); your sessions: list(), fork(name), export(name), "
            "import_session(doc), close(id), delete(name)"
        )


def build(call: Call) -> dict[str, Any]:
    return {"session": Session(call)}
