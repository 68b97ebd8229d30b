"""Artifacts through the Session API; the code side is in executors/test_subprocess.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codemode import ArtifactNotFound, InvalidArgument, InvalidName, Session
from codemode.errors import LimitExceeded, StorageError
from codemode.storage import FileStorage
from codemode.workspace.artifacts import ArtifactStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(FileStorage(tmp_path))


@pytest.mark.parametrize(
    ("data", "kind"),
    [("text", "text"), (b"\x00\xff", "bytes"), ({"rows": [1, 2]}, "json"), ([1, "a", None], "json"), (3.5, "json")],
)
async def test_data_round_trips_with_its_type(store: ArtifactStore, data: object, kind: str):
    info = await store.save("item", data)
    assert info.kind == kind
    assert await store.load("item") == data


async def test_info_has_description_metadata_times_and_mime_type(store: ArtifactStore, tmp_path: Path):
    info = await store.save("report.csv", "a,b\n1,2\n", description="numbers", metadata={"rows": 1})
    assert (info.description, info.metadata, info.mime_type, info.size) == ("numbers", {"rows": 1}, "text/csv", 8)
    assert info.path == f"{tmp_path}/artifacts/report.csv"
    assert [item.name for item in await store.list()] == ["report.csv"]


async def test_saving_again_keeps_the_creation_time(store: ArtifactStore):
    first = await store.save("a", 1)
    second = await store.save("a", 2)
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at


async def test_metadata_lives_beside_the_data(store: ArtifactStore, tmp_path: Path):
    await store.save("a", {"k": 1}, description="d")
    assert (tmp_path / "artifacts" / "a").read_bytes() == b'{"k": 1}'
    assert json.loads((tmp_path / "artifacts" / ".meta" / "a.json").read_text())["description"] == "d"


async def test_files_dropped_in_by_hand_are_listed_and_loadable(store: ArtifactStore, tmp_path: Path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "notes.txt").write_text("hand written")
    (info,) = await store.list()
    assert (info.name, info.kind, info.size) == ("notes.txt", "text", 12)
    assert await store.load("notes.txt") == "hand written"


async def test_a_readme_or_gitkeep_explaining_the_folder_is_not_an_artifact(store: ArtifactStore, tmp_path: Path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "README.md").write_text("Artifacts land here.")
    (tmp_path / "artifacts" / ".gitkeep").write_text("")
    assert await store.list() == []


async def test_a_readme_saved_as_an_artifact_is_listed(store: ArtifactStore):
    await store.save("README.md", "# notes", "saved on purpose")
    assert [info.name for info in await store.list()] == ["README.md"]


async def test_missing_artifact_is_a_clear_not_found(store: ArtifactStore):
    with pytest.raises(ArtifactNotFound, match="no artifact named 'ghost'"):
        await store.load("ghost")


async def test_delete_reports_whether_it_existed(store: ArtifactStore):
    await store.save("a", "x")
    assert await store.delete("a") is True
    assert await store.delete("a") is False
    assert await store.list() == []


@pytest.mark.parametrize("name", ["../secret", "a/b", ".hidden", "", "x" * 200, "con\x00"])
async def test_bad_names_are_refused_before_touching_storage(store: ArtifactStore, name: str, tmp_path: Path):
    with pytest.raises(InvalidName, match="is not allowed"):
        await store.save(name, "x")
    assert not (tmp_path / "secret").exists()


async def test_data_that_is_not_json_is_refused_clearly(store: ArtifactStore):
    with pytest.raises(InvalidArgument, match="str, bytes or JSON"):
        await store.save("bad", {1, 2})


async def test_metadata_must_be_json_data(store: ArtifactStore):
    with pytest.raises(InvalidArgument, match="metadata"):
        await store.save("bad", "x", metadata={"when": object()})


async def test_artifacts_above_the_size_limit_are_refused_and_old_data_is_kept(tmp_path: Path):
    store = ArtifactStore(FileStorage(tmp_path), max_bytes=10)
    await store.save("a", "small")
    with pytest.raises(LimitExceeded, match="limit is 10 bytes"):
        await store.save("a", "x" * 11)
    assert await store.load("a") == "small"


async def test_session_methods_and_code_see_the_same_artifacts(session: Session):
    await session.save_artifact("from_api", {"n": 1}, description="saved by the API")
    result = await session.run("artifacts.load('from_api')['n'] + 1")
    assert result.value_repr == "2"
    await session.run("artifacts.save('from_code', b'raw', description='saved by code')")
    assert await session.load_artifact("from_code") == b"raw"
    names = {info.name: info.description for info in await session.list_artifacts()}
    assert names == {"from_api": "saved by the API", "from_code": "saved by code"}
    assert await session.delete_artifact("from_api") is True


class _DataWritesFail(FileStorage):
    """A disk that fills up just as the data is written (after the new record is)."""

    async def write(self, collection: str, key: str, data: bytes) -> None:
        if collection == "artifacts":
            raise StorageError("No space left on device")
        await super().write(collection, key, data)


async def test_a_save_that_fails_after_its_record_still_loads_the_old_artifact_with_its_record(tmp_path: Path):
    await ArtifactStore(FileStorage(tmp_path)).save("a", {"v": 1}, description="old")
    with pytest.raises(StorageError):
        await ArtifactStore(_DataWritesFail(tmp_path)).save("a", "new text", description="new")
    store = ArtifactStore(FileStorage(tmp_path))
    payload, info = await store.load_raw("a")
    assert (await store.load("a"), info.description, info.kind, info.size) == ({"v": 1}, "old", "json", len(payload))
    assert await store.list() == [info]


async def test_a_record_that_does_not_match_the_data_gives_way_to_the_data(store: ArtifactStore, tmp_path: Path):
    await store.save("a", {"v": 1}, description="saved")
    (tmp_path / "artifacts" / "a").write_text("edited by hand")
    info = (await store.load_raw("a"))[1]
    assert (await store.load("a"), info.kind, info.size) == ("edited by hand", "text", 14)
