"""session.info(): when the session was made and used, what its worker uses, what it runs in."""

from __future__ import annotations

import os

import pytest

from codemode import Session

pytestmark = pytest.mark.anyio


async def test_info_reports_the_workers_memory_and_cpu_time(session: Session):
    await session.run("sum(range(2_000_000))")
    info = session.info()
    assert info.worker_pid is not None and info.worker_pid != os.getpid()
    assert info.worker_rss_bytes is not None and info.worker_rss_bytes > 1024 * 1024
    assert info.worker_cpu_seconds is not None and info.worker_cpu_seconds > 0


async def test_info_reports_when_the_session_was_last_used_and_how_long_it_has_existed(session: Session):
    await session.run("1")
    info = session.info()
    assert info.created_at <= info.last_used_at  # type: ignore[operator]
    assert info.uptime_seconds is not None and info.uptime_seconds > 0


async def test_info_reports_the_python_venv_and_the_confinement_in_force(session: Session):
    info = session.info()
    assert info.python_version and info.venv
    assert info.confinement is not None and info.confinement.limits is not None
