"""The ``storage`` fixture: every backend, so one suite specifies them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode.storage import FileStorage, Storage
from tests.conftest import open_redis_storage


@pytest.fixture(params=["file", "redis"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "redis":
        async with open_redis_storage() as redis:
            yield redis
        return
    backend = FileStorage(tmp_path / "store")
    yield backend
    await backend.close()
