"""The ``storage`` fixture: every backend, so one suite specifies them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode.storage import FileStorage, Storage


@pytest.fixture(params=["file"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend = FileStorage(tmp_path / "store")
    yield backend
    await backend.close()
