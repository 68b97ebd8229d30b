"""Shared fixtures: the anyio backend, a fresh workspace, sessions with real workers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# Session venvs go to a cache of this test run, not the user's ~/.cache/codemode.
os.environ.setdefault("CODEMODE_CACHE_DIR", tempfile.mkdtemp(prefix="codemode-test-cache-"))

from codemode import Session


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace directory."""
    base = tmp_path / "workspace"
    base.mkdir()
    return base


@pytest.fixture
async def session(workspace: Path) -> AsyncIterator[Session]:
    """A started session with a real worker process on an empty workspace."""
    async with Session.from_base(workspace, timeout=10) as started:
        yield started
