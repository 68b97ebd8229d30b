"""Storage quotas: how much the session's code may store through the host API.

Code is hostile until proven otherwise, and ``artifacts.save`` in a loop, or a
snapshot taken every second, would otherwise fill the disk or Redis's memory for
every user of the workspace. Each store checks its quota before it writes, from
what it lists anyway: artifacts and workflows per workspace (they are shared),
snapshots and named sessions per principal (they are private). Several servers
sharing Redis check independently, so concurrent writes may overshoot a quota by
what they write at once; it is a bound on growth, not an exact ledger.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from codemode.errors import LimitExceeded
from codemode.units import format_bytes

GIB = 1024**3
MAX_DESCRIPTION_CHARS = 8192
"""Longest description of an artifact or a workflow: it is stored and listed with every entry."""
MAX_METADATA_BYTES = 64 * 1024
"""Largest metadata (as JSON) kept with an artifact."""


class StorageQuota(BaseModel):
    """What may be stored through the host API (``Session(quota=...)``, ``Session.from_base(quota=...)``,
    ``SessionManager(quota=...)`` for its named sessions, the ``--*-quota`` flags)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    artifacts_bytes: int = Field(default=4 * GIB, gt=0, description="All artifacts of a workspace together.")
    artifacts_count: int = Field(default=10_000, gt=0, description="Artifacts in a workspace.")
    workflows_count: int = Field(default=1_000, gt=0, description="Workflows (skills) in a workspace.")
    snapshots_bytes: int = Field(default=2 * GIB, gt=0, description="Stored snapshots of one principal together.")
    snapshots_count: int = Field(default=500, gt=0, description="Stored snapshots of one principal.")
    sessions_bytes: int = Field(default=2 * GIB, gt=0, description="Named sessions of one principal, as stored.")
    sessions_count: int = Field(default=500, gt=0, description="Named sessions of one principal.")


def check_description(description: object, what: str) -> str:
    """``description`` as text; ``LimitExceeded`` past :data:`MAX_DESCRIPTION_CHARS`."""
    text = str(description or "")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise LimitExceeded(
            f"the description of {what} has {len(text):,} characters; the limit is {MAX_DESCRIPTION_CHARS:,}"
        )
    return text


def check_room(
    what: str,
    stored: Mapping[str, int],
    key: str,
    size: int,
    *,
    max_bytes: int | None,
    max_count: int,
    remedy: str,
) -> None:
    """Refuse to store ``size`` bytes under ``key`` beside ``stored`` (key → size) beyond the quota.

    A key that is stored already is replaced: its old size stops counting and the count stays.
    ``LimitExceeded`` says which quota, how full it is, and ``remedy``.
    """
    others = {name: used for name, used in stored.items() if name != key}
    if key not in stored and len(others) + 1 > max_count:
        raise LimitExceeded(f"{what} quota reached: {len(others)} of {max_count:,} stored already; {remedy}")
    if max_bytes is None:
        return
    total = sum(others.values()) + size
    if total > max_bytes:
        raise LimitExceeded(
            f"{what} quota reached: storing {format_bytes(size)} would make {format_bytes(total)}, more than "
            f"the quota of {format_bytes(max_bytes)}; {remedy}"
        )
