"""History: every run leaves a bounded entry; the log is bounded, can be read, truncated and cleared."""

from __future__ import annotations

import pytest

from codemode import Session
from codemode.errors import InvalidArgument
from codemode.session.history import HistoryEntry, HistoryLimits
from codemode.storage import MemoryStorage

pytestmark = pytest.mark.anyio


def inprocess(**options: object) -> Session:
    return Session(storage=MemoryStorage(), executor="inprocess", **options)  # type: ignore[arg-type]


async def test_each_run_appends_its_number_code_outcome_and_duration(session: Session):
    await session.run("x = 20")
    await session.run("x * 2")
    await session.run("1 / 0")
    first, second, third = session.get_history()
    assert (first.n, first.code, first.ok, first.summary) == (1, "x = 20", True, None)
    assert (second.n, second.ok, second.summary) == (2, True, "40")
    assert (third.n, third.ok, third.summary) == (3, False, "ZeroDivisionError: division by zero")
    assert third.duration_ms >= 0 and third.at >= first.at


async def test_get_history_with_a_limit_returns_the_latest_runs_oldest_first():
    async with inprocess() as session:
        for i in range(5):
            await session.run(f"{i}")
        assert [entry.n for entry in session.get_history(limit=2)] == [4, 5]
        assert session.get_history(limit=0) == []


async def test_the_history_keeps_at_most_max_entries_dropping_the_oldest():
    async with inprocess(history=HistoryLimits(max_entries=3)) as session:
        for i in range(5):
            await session.run(f"{i}")
        assert [entry.n for entry in session.get_history()] == [3, 4, 5]


async def test_long_code_and_values_are_cut_at_their_limits():
    limits = HistoryLimits(max_code_chars=40, max_summary_chars=30)
    async with inprocess(history=limits) as session:
        await session.run("'y' * 500  # " + "x" * 500)
        (entry,) = session.get_history()
        assert len(entry.code) == 40 and entry.code.endswith("[truncated]")
        assert len(entry.summary or "") == 30


async def test_truncate_history_keeps_the_latest_and_says_how_many_went():
    async with inprocess() as session:
        for i in range(4):
            await session.run(f"{i}")
        assert session.truncate_history(1) == 3
        assert [entry.n for entry in session.get_history()] == [4]


async def test_clear_history_empties_it_and_runs_keep_counting():
    async with inprocess() as session:
        await session.run("1")
        session.clear_history()
        assert session.get_history() == []
        await session.run("2")
        assert [entry.n for entry in session.get_history()] == [2]


async def test_info_reports_the_history_length_and_its_approximate_tokens():
    async with inprocess() as session:
        await session.run("'a' * 8")  # 7 characters of code, a 10-character repr
        info = session.info()
        assert info.history_length == 1
        assert info.history_tokens == (7 + 10) // 4 == session.get_token_count()


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_a_bad_limit_or_keep_is_refused(bad: object):
    session = inprocess()
    with pytest.raises(InvalidArgument, match="whole number of entries"):
        session.get_history(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="whole number of entries"):
        session.truncate_history(bad)  # type: ignore[arg-type]


def test_a_history_taken_over_is_bounded_like_one_recorded_here():
    long_entry = {"n": 1, "code": "x" * 10_000, "ok": True, "summary": "y" * 10_000, "duration_ms": 1, "at": 0}
    session = inprocess(history=HistoryLimits(max_entries=2, max_code_chars=50, max_summary_chars=20))
    session.history.replace(HistoryEntry.model_validate(long_entry | {"n": n}) for n in range(5))
    assert [entry.n for entry in session.get_history()] == [3, 4]
    assert {(len(entry.code), len(entry.summary or "")) for entry in session.get_history()} == {(50, 20)}
