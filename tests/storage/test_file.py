"""What only FileStorage does: files on disk, atomic replacement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codemode.errors import StorageError
from codemode.storage import FileStorage

pytestmark = pytest.mark.anyio


async def test_values_are_plain_files_in_the_workspace(tmp_path: Path):
    storage = FileStorage(tmp_path)
    await storage.write("workflows", "hello.py", b"async def run(): ...")
    assert (tmp_path / "workflows" / "hello.py").read_bytes() == b"async def run(): ..."


async def test_files_put_there_by_hand_are_read(tmp_path: Path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "curl.yaml").write_text("name: curl")
    assert await FileStorage(tmp_path).keys("tools") == ["curl.yaml"]


async def test_temporary_and_hidden_files_are_not_keys(tmp_path: Path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / ".tmp-123").write_text("partial")
    (tmp_path / "artifacts" / "real").write_text("data")
    assert await FileStorage(tmp_path).keys("artifacts") == ["real"]


async def test_a_write_that_fails_mid_way_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    storage = FileStorage(tmp_path)
    await storage.write("artifacts", "kept", b"old value")

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(StorageError, match="previous value is unchanged"):
        await storage.write("artifacts", "kept", b"new value")
    monkeypatch.undo()
    assert await storage.read("artifacts", "kept") == b"old value"
    assert sorted(os.listdir(tmp_path / "artifacts")) == ["kept"]
