"""What code in a session may ask of the server: its principal's other sessions (``session.list()`` ...).

These are the lifecycle tools' operations (list, fork, export, import, close, delete) for code,
bound to the principal that owns the session, so code reaches its owner's sessions and no one
else's. What would stop the session's own worker mid-run (forking it, closing it) is done when
the run ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codemode.errors import InvalidArgument
from codemode.names import validate_name
from codemode.server.registry import SessionRegistry
from codemode.session.manager import save
from codemode.session.session import Session
from codemode.session.store import SessionDocument
from codemode.workspace.host import Handler


async def export_named(registry: SessionRegistry, principal: str, name: str) -> SessionDocument:
    """``principal``'s named session ``name`` as a document; a running one is saved first."""
    store = registry.named.store(principal)
    live = registry.live_named(principal, validate_name(name, "session name"))
    if live is not None:
        await save(store, live)
    return await store.export(name)


def principal_calls(registry: SessionRegistry, principal: str, session: Session) -> Mapping[str, Handler]:
    """The ``sessions.*`` host calls of ``session``, owned by ``principal``."""

    async def listed(labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return [summary.model_dump(mode="json") for summary in await registry.sessions(principal, labels)]

    async def fork(name: str) -> None:
        validate_name(name, "session name")

        async def forked() -> str:
            copy = await registry.fork(principal, session, name)
            return f"forked into session {name!r} ({copy.session_id})"

        session.after_run("the fork", forked)

    async def export(name: str | None = None) -> dict[str, Any]:
        if name is None or name == session.name:
            raise InvalidArgument(
                "this session cannot be exported while it runs: session.fork(name) copies it when this run "
                "ends, and session.export(name) in a later run exports the copy"
            )
        return (await export_named(registry, principal, name)).model_dump(mode="json")

    async def imported(document: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        info = await registry.named.store(principal).import_document(document, name)
        return info.model_dump(mode="json")

    async def close(session_id: str) -> None:
        if session_id == session.session_id:
            session.after_run("closing this session", lambda: _closed(registry, principal, session_id))
        else:
            await registry.close(principal, session_id)

    async def delete(name: str) -> None:
        if name == session.name:
            raise InvalidArgument("a session cannot delete itself while it runs: delete it from another session")
        await registry.delete(principal, validate_name(name, "session name"))

    return {
        "sessions.list": listed,
        "sessions.fork": fork,
        "sessions.export": export,
        "sessions.import": imported,
        "sessions.close": close,
        "sessions.delete": delete,
    }


async def _closed(registry: SessionRegistry, principal: str, session_id: str) -> str:
    await registry.close(principal, session_id)
    return "this session is closed"
