"""How many sessions a server holds, and which idle ones make room when a cap is reached.

A cap never refuses a newcomer while an idle session could go instead: the caller's
own least recently used idle sessions go first (a principal's load falls on itself
before on others), then other principals' for the server-wide cap. Only when every
candidate is running code is the newcomer refused. The ids of sessions closed this
way keep answering "expired" (with the reason) to their owner, within a bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from codemode.errors import LimitExceeded
from codemode.session.session import Session


@dataclass
class Limits:
    max_sessions: int | None = None
    max_per_principal: int | None = None
    idle_timeout: float | None = None
    remembered_expired: int = 10_000
    """How many ids of sessions the server closed on its own still answer "expired" (oldest forgotten first)."""


class ExpiredIds:
    """Why the server closed recent sessions, keyed by id; bounded, so it cannot grow with the attack."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._reasons: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def add(self, session_id: str, principal: str, reason: str) -> None:
        self._reasons[session_id] = (principal, reason)
        while len(self._reasons) > self._capacity:
            self._reasons.popitem(last=False)

    def reason(self, session_id: str, principal: str) -> str | None:
        """Why ``principal``'s session ``session_id`` was closed; None for anyone else's (no leak)."""
        found = self._reasons.get(session_id)
        return found[1] if found is not None and found[0] == principal else None


def choose_victims(principal: str, live: list[tuple[Session, str]], limits: Limits) -> list[tuple[Session, str]]:
    """The idle sessions to close so that ``principal`` may have one more, each with the reason why.

    ``live`` is every open session with its principal. ``LimitExceeded`` if a cap is reached and every
    session that could make room is running code.
    """
    own = _idle_by_age(session for session, owner in live if owner == principal)
    victims: list[tuple[Session, str]] = []
    cap = limits.max_per_principal
    if cap is not None and (excess := sum(owner == principal for _, owner in live) - cap + 1) > 0:
        if excess > len(own):
            raise LimitExceeded(
                f"you already have {cap} open sessions, the maximum per principal "
                "(--max-sessions-per-principal), and every one is running code; wait for a run to finish, "
                "or close one with close_session"
            )
        reason = (
            f"you had reached the limit of {cap} sessions per principal (--max-sessions-per-principal) "
            "and it was your least recently used idle one"
        )
        victims += [(session, reason) for session in own[:excess]]
    cap = limits.max_sessions
    if cap is not None and (excess := len(live) - len(victims) - cap + 1) > 0:
        others = _idle_by_age(session for session, owner in live if owner != principal)
        # The caller's own idle sessions go first: a principal's load falls on itself before on others.
        candidates = [*own[len(victims) :], *others]
        if excess > len(candidates):
            raise LimitExceeded(
                f"this server already has {len(live)} sessions, its maximum (--max-sessions), "
                "and every one is running code; try again when a run finishes"
            )
        reason = (
            f"the server had reached its limit of {cap} sessions (--max-sessions) and it was the least "
            "recently used idle one"
        )
        victims += [(session, reason) for session in candidates[:excess]]
    return victims


def _idle_by_age(sessions: Iterable[Session]) -> list[Session]:
    """The sessions not running code, least recently used first."""
    return sorted((session for session in sessions if not session.busy), key=lambda s: s.last_activity)
