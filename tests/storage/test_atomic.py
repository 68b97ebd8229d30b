"""Atomic writes are durable: the data is on the disk before the rename, and the rename after it."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread
import pytest

from codemode.session.files import SessionFiles
from codemode.storage import FileStorage

pytestmark = pytest.mark.anyio


async def _storage_write(directory: Path) -> None:
    await FileStorage(directory).write("artifacts", "report", b"data")


async def _session_file_write(directory: Path) -> None:
    await anyio.to_thread.run_sync(SessionFiles(directory, 1024).write, "notes.txt", "data")


@pytest.mark.parametrize("write", [_storage_write, _session_file_write], ids=["storage", "session_files"])
async def test_a_write_is_flushed_to_the_disk_before_and_after_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Callable[[Path], object]
):
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(*args: object, **kwargs: object) -> None:
        events.append("rename")
        real_replace(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    await write(tmp_path)  # type: ignore[misc]
    assert events == ["fsync file", "rename", "fsync directory"]
