"""A session's run history: one bounded entry per run, in a bounded in-memory log.

Appending is the hot path (every ``run``), so it only trims two strings and pushes
onto a deque; the log is written to storage only when a named session is saved.
The token count is an estimate (characters / 4, coda's rule of thumb), enough to
tell when a history grows too long to hand to a model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from codemode.errors import InvalidArgument
from codemode.models import ExecutionResult
from codemode.record import Record

CHARS_PER_TOKEN = 4
_CUT = "…[truncated]"


class HistoryLimits(BaseModel):
    """How much history a session keeps: entries in all, and characters per entry."""

    max_entries: int = Field(default=1000, ge=1, description="Runs kept; the oldest go first.")
    max_code_chars: int = Field(default=4000, ge=16, description="Characters of each run's code kept.")
    max_summary_chars: int = Field(default=1000, ge=16, description="Characters of each value or error kept.")


class HistoryEntry(Record):
    """One run: its number, code, outcome and when it happened."""

    n: int = Field(description="The run's execution_count.")
    code: str = Field(description="The code that ran (cut at max_code_chars).")
    ok: bool = Field(description="True if the code raised nothing.")
    summary: str | None = Field(
        default=None, description="repr of the last value if ok, else 'Type: message' (cut at max_summary_chars)."
    )
    duration_ms: float = Field(description="How long the run took, in milliseconds.")
    at: datetime = Field(description="When the run finished (UTC).")


class History:
    """The last ``limits.max_entries`` runs of a session, oldest first."""

    def __init__(self, limits: HistoryLimits | None = None, entries: Iterable[HistoryEntry] = ()) -> None:
        self.limits = limits or HistoryLimits()
        self._entries: deque[HistoryEntry] = deque(entries, maxlen=self.limits.max_entries)

    def record(self, code: str, result: ExecutionResult) -> HistoryEntry:
        summary = result.value_repr if result.is_ok else result.error
        entry = HistoryEntry(
            n=result.execution_count,
            code=_cut(code, self.limits.max_code_chars),
            ok=result.is_ok,
            summary=None if summary is None else _cut(summary, self.limits.max_summary_chars),
            duration_ms=result.duration_ms,
            at=datetime.now(UTC),
        )
        self._entries.append(entry)
        return entry

    def entries(self, limit: int | None = None) -> list[HistoryEntry]:
        """The last ``limit`` entries (all if None), oldest first."""
        if limit is None:
            return list(self._entries)
        _check_count(limit, "limit")
        return list(self._entries)[-limit:] if limit else []

    def truncate(self, keep: int) -> int:
        """Keep only the last ``keep`` entries; returns how many were dropped."""
        _check_count(keep, "keep")
        dropped = max(len(self._entries) - keep, 0)
        for _ in range(dropped):
            self._entries.popleft()
        return dropped

    def clear(self) -> None:
        self._entries.clear()

    def replace(self, entries: Iterable[HistoryEntry]) -> None:
        """Take ``entries`` as the history (a resumed or imported session's), within this log's limits."""
        self._entries = deque(map(self._bounded, entries), maxlen=self.limits.max_entries)

    def _bounded(self, entry: HistoryEntry) -> HistoryEntry:
        limits = self.limits
        if len(entry.code) <= limits.max_code_chars and len(entry.summary or "") <= limits.max_summary_chars:
            return entry
        summary = None if entry.summary is None else _cut(entry.summary, limits.max_summary_chars)
        return entry.model_copy(update={"code": _cut(entry.code, limits.max_code_chars), "summary": summary})

    def token_count(self) -> int:
        """Approximate tokens in the history's code and summaries: characters / 4."""
        chars = sum(len(entry.code) + len(entry.summary or "") for entry in self._entries)
        return chars // CHARS_PER_TOKEN

    def __len__(self) -> int:
        return len(self._entries)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT


def _check_count(value: object, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidArgument(f"{what} must be a whole number of entries, 0 or more, not {value!r}")
