"""Deps: requirement strings only, real uv installs of a tiny local wheel, venvs reused."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from codemode import InvalidArgument, Session
from codemode.deps import parse_requirement
from codemode.errors import DepsError, RuntimeDepsDisabled

pytestmark = pytest.mark.anyio


def build_wheel(directory: Path, name: str, version: str, body: str) -> Path:
    """A minimal valid wheel, made by hand so no build backend (or network) is needed."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: codemode-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture
def wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """uv installs from this directory only: no index, no network."""
    directory = tmp_path / "wheels"
    directory.mkdir()
    build_wheel(directory, "tinypkg", "1.0.0", "VALUE = 42\n")
    build_wheel(directory, "otherpkg", "2.0.0", "NAME = 'other'\n")
    monkeypatch.setenv("UV_FIND_LINKS", str(directory))
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_OFFLINE", "1")
    return directory


@pytest.mark.parametrize("spec", ["requests", "pandas>=2.0", "a[extra]==1; python_version > '3'", " tinypkg "])
def test_requirement_strings_are_accepted(spec: str):
    assert parse_requirement(spec).name


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("--index-url=https://evil.example", "is an option"),
        ("-e .", "is an option"),
        ("./local/pkg", "path or URL"),
        ("/abs/pkg.whl", "path or URL"),
        ("https://example.org/x.whl", "path or URL"),
        ("pkg @ git+ssh://example.org/pkg", "path or URL"),
        ("not valid !!", "not a valid requirement"),
        ("", "requirement string"),
    ],
)
def test_anything_but_a_requirement_string_is_refused(spec: str, reason: str):
    with pytest.raises(InvalidArgument, match=reason):
        parse_requirement(spec)


async def test_an_added_package_is_importable_at_once_and_configured(session: Session, wheelhouse: Path):
    before = session.info().worker_pid
    result = await session.run("deps.add('tinypkg')")
    assert result.is_ok, result.error
    assert "'installed': ['tinypkg']" in (result.value or "")
    assert (await session.run("import tinypkg\ntinypkg.VALUE")).value == "42"
    assert session.info().worker_pid == before  # no restart
    assert await session.list_deps() == ["tinypkg"]
    assert (session.workspace.storage.base_path / "requirements.txt").read_text() == "tinypkg\n"  # type: ignore[attr-defined]


async def test_adding_an_installed_package_reports_it_as_present(session: Session, wheelhouse: Path):
    await session.add_dep("tinypkg")
    again = await session.add_dep("tinypkg>=1.0")
    assert (again.installed, again.already_present) == ([], ["tinypkg"])
    assert await session.list_deps() == ["tinypkg>=1.0"]  # the newer spec replaces the line


async def test_a_package_that_cannot_be_found_fails_clearly_and_changes_nothing(session: Session, wheelhouse: Path):
    result = await session.add_dep("no-such-package-anywhere")
    assert result.failed == ["no-such-package-anywhere"]
    assert "no-such-package-anywhere" in result.errors["no-such-package-anywhere"]
    assert await session.list_deps() == []


async def test_remove_uninstalls_and_drops_it_from_the_config(session: Session, wheelhouse: Path):
    await session.add_dep("tinypkg")
    removed = await session.remove_dep("tinypkg")
    assert (removed.removed, removed.removed_from_config) == (["tinypkg"], True)
    assert await session.list_deps() == []
    await session.reset(hard=True)
    assert (await session.run("import tinypkg")).error.type == "ModuleNotFoundError"  # type: ignore[union-attr]
    assert (await session.remove_dep("tinypkg")).not_found == ["tinypkg"]


async def test_configured_packages_are_in_the_venv_from_the_start(workspace: Path, wheelhouse: Path):
    (workspace / "requirements.txt").write_text("# tools for the agent\notherpkg\n")
    async with Session.from_base(workspace) as session:
        assert (await session.run("import otherpkg\notherpkg.NAME")).value == "'other'"
        assert (await session.sync_deps()).already_present == ["otherpkg"]


async def test_sessions_on_a_workspace_reuse_its_venv(workspace: Path, wheelhouse: Path):
    async with Session.from_base(workspace) as first:
        await first.add_dep("tinypkg")
        venv = first.info().venv
    async with Session.from_base(workspace) as second:  # requirements now name tinypkg: same venv, no rebuild
        assert second.info().venv == venv
        assert (await second.run("import tinypkg")).is_ok


async def test_the_venv_lives_in_the_cache_not_the_workspace(session: Session, workspace: Path):
    venv = session.info().venv or ""
    assert not venv.startswith(str(workspace))
    assert "venvs" in venv


async def test_runtime_changes_can_be_disabled(workspace: Path, wheelhouse: Path):
    async with Session.from_base(workspace, allow_runtime_deps=False) as session:
        with pytest.raises(RuntimeDepsDisabled, match="does not allow changing packages"):
            await session.add_dep("tinypkg")
        result = await session.run("deps.add('tinypkg')")
        assert result.error is not None and result.error.type == "RuntimeDepsDisabled"
        assert await session.list_deps() == []
        assert not session.supports("deps_install")


async def test_code_cannot_pass_options_to_uv(session: Session):
    result = await session.run("deps.add('--index-url=https://evil.example')")
    assert result.error is not None and result.error.type == "InvalidArgument"
    assert "is an option" in result.error.message


async def test_the_inprocess_executor_refuses_to_install(workspace: Path):
    async with Session.inprocess(workspace) as session:
        with pytest.raises(DepsError, match="cannot use installed packages"):
            await session.add_dep("tinypkg")
        assert not session.supports("deps_install")


async def test_extra_deps_add_to_the_configured_list(workspace: Path, wheelhouse: Path):
    (workspace / "requirements.txt").write_text("tinypkg\n")
    async with Session.from_base(workspace, extra_deps=("otherpkg", "tinypkg")) as session:
        assert await session.list_deps() == ["tinypkg", "otherpkg"]
        assert (await session.run("import tinypkg, otherpkg")).is_ok
