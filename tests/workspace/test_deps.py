"""Deps: requirement strings only, real uv installs of a tiny local wheel, venvs reused."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from codemode import InvalidArgument, Session
from codemode.errors import DepsError, RuntimeDepsDisabled
from codemode.server.arguments import settings_from_args
from codemode.server.factory import ServerParts
from codemode.server.flags import build_parser
from codemode.workspace.deps import parse_requirement

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


def offline_wheels(directory: Path, monkeypatch: pytest.MonkeyPatch, *wheels: tuple[str, str, str]) -> Path:
    """Make ``directory`` with ``wheels`` (name, version, body) in it; uv then installs from there only."""
    directory.mkdir()
    for name, version, body in wheels:
        build_wheel(directory, name, version, body)
    monkeypatch.setenv("UV_FIND_LINKS", str(directory))
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_OFFLINE", "1")
    return directory


def source_only_package(directory: Path, name: str, marker: Path) -> None:
    """A source distribution (no wheel) whose build backend writes its environment to ``marker``, then fails."""
    source = directory / "src" / f"{name}-0.1"
    source.mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n'
    )
    (source / "backend.py").write_text(
        f"import json, os, pathlib\npathlib.Path({str(marker)!r}).write_text(json.dumps(dict(os.environ)))\n"
        "raise SystemExit('the build backend ran')\n"
    )
    (source / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    with tarfile.open(directory / f"{name}-0.1.tar.gz", "w:gz") as archive:
        archive.add(source, arcname=source.name)


@pytest.fixture
def wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """uv installs from this directory only: no index, no network."""
    tinypkg, otherpkg = ("tinypkg", "1.0.0", "VALUE = 42\n"), ("otherpkg", "2.0.0", "NAME = 'other'\n")
    return offline_wheels(tmp_path / "wheels", monkeypatch, tinypkg, otherpkg)


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
    assert "'installed': ['tinypkg']" in (result.value_repr or "")
    assert (await session.run("import tinypkg\ntinypkg.VALUE")).value_repr == "42"
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


async def test_a_session_that_can_install_packages_reports_it_can_uninstall_them(session: Session):
    assert session.supports("deps_install") and session.supports("deps_uninstall")


async def test_remove_uninstalls_and_drops_it_from_the_config(session: Session, wheelhouse: Path):
    await session.add_dep("tinypkg")
    removed = await session.remove_dep("tinypkg")
    assert (removed.removed, removed.removed_from_config) == (["tinypkg"], True)
    assert await session.list_deps() == []
    await session.reset(hard=True)
    assert (await session.run("import tinypkg")).error_info.type == "ModuleNotFoundError"  # type: ignore[union-attr]
    assert (await session.remove_dep("tinypkg")).not_found == ["tinypkg"]


async def test_configured_packages_are_in_the_venv_from_the_start(workspace: Path, wheelhouse: Path):
    (workspace / "requirements.txt").write_text("# tools for the agent\notherpkg\n")
    async with Session.from_base(workspace) as session:
        assert (await session.run("import otherpkg\notherpkg.NAME")).value_repr == "'other'"
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
        assert result.error_info is not None and result.error_info.type == "RuntimeDepsDisabled"
        assert await session.list_deps() == []
        assert not session.supports("deps_install")
        assert not session.supports("deps_uninstall")


async def test_code_cannot_pass_options_to_uv(session: Session):
    result = await session.run("deps.add('--index-url=https://evil.example')")
    assert result.error_info is not None and result.error_info.type == "InvalidArgument"
    assert "is an option" in result.error_info.message


async def test_the_inprocess_executor_refuses_to_install(workspace: Path):
    async with Session.inprocess(workspace) as session:
        with pytest.raises(DepsError, match="cannot use installed packages"):
            await session.add_dep("tinypkg")
        assert not session.supports("deps_install")
        assert not session.supports("deps_uninstall")


async def test_extra_deps_add_to_the_configured_list(workspace: Path, wheelhouse: Path):
    (workspace / "requirements.txt").write_text("tinypkg\n")
    async with Session.from_base(workspace, extra_deps=("otherpkg", "tinypkg")) as session:
        assert await session.list_deps() == ["tinypkg", "otherpkg"]
        assert (await session.run("import tinypkg, otherpkg")).is_ok


async def test_a_package_without_a_wheel_is_not_built_and_the_error_says_how_to_allow_it(
    session: Session, wheelhouse: Path, tmp_path: Path
):
    marker = tmp_path / "built"
    source_only_package(wheelhouse, "sourceonly", marker)
    result = await session.add_dep("sourceonly")
    assert result.failed == ["sourceonly"] and not marker.exists()
    assert "building from source is off" in result.errors["sourceonly"]
    assert "--allow-source-builds" in result.errors["sourceonly"]
    assert await session.list_deps() == []


async def test_an_allowed_source_build_runs_without_the_servers_secrets(
    workspace: Path, wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    marker = tmp_path / "built"
    source_only_package(wheelhouse, "sourceonly", marker)
    monkeypatch.setenv("CODEMODE_TEST_SECRET", "secret-2718")
    async with Session.from_base(workspace, allow_source_builds=True) as session:
        assert (await session.add_dep("sourceonly")).failed == ["sourceonly"]  # its backend fails on purpose
    seen = json.loads(marker.read_text())  # the build ran: the operator allowed it
    assert "CODEMODE_TEST_SECRET" not in seen and seen["UV_FIND_LINKS"] == str(wheelhouse)


@pytest.mark.parametrize(("flags", "allowed"), [([], False), (["--allow-source-builds"], True)])
def test_the_server_builds_from_source_only_with_its_flag(workspace: Path, flags: list[str], allowed: bool):
    args = build_parser().parse_args(["--base", str(workspace), *flags])
    assert ServerParts(settings_from_args(args)).workspace().deps.allow_source_builds is allowed


# -- failed and killed venv builds leave nothing behind --------------------------------------


def _venv_dirs(cache: Path) -> set[str]:
    envs = cache / "venvs" / "envs"
    return {entry.name for entry in envs.iterdir()} if envs.is_dir() else set()


def _published(cache: Path) -> set[str]:
    keys = cache / "venvs" / "keys"
    return {link.resolve().name for link in keys.iterdir()} if keys.is_dir() else set()


async def test_a_failed_venv_build_leaves_no_venv_behind(
    workspace: Path, wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CODEMODE_CACHE_DIR", str(cache))
    (workspace / "requirements.txt").write_text("no-such-package-anywhere\n")
    for _ in range(2):
        async with Session.from_base(workspace, timeout=10) as session:
            assert session.workspace.deps.problem and "no-such-package-anywhere" in session.workspace.deps.problem
            assert (await session.run("1 + 1")).value == 2  # it starts, without the packages
            assert len(_venv_dirs(cache)) == 1 and not _published(cache)  # a venv of its own, linked from no key
    assert _venv_dirs(cache) == set()  # removed when the session closed


async def test_packages_added_after_a_failed_build_change_no_shared_venv(
    workspace: Path, wheelhouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CODEMODE_CACHE_DIR", str(cache))
    async with Session.from_base(workspace, timeout=10) as healthy:  # an empty workspace's venv, published
        await healthy.run("1")
    published = _published(cache)
    (workspace / "requirements.txt").write_text("no-such-package-anywhere\n")
    async with Session.from_base(workspace, timeout=10) as session:
        added = await session.add_dep("tinypkg")
        assert added["installed"] == ["tinypkg"], added
        assert (await session.run("import tinypkg\ntinypkg.VALUE")).is_ok
    assert _published(cache) == published == _venv_dirs(cache)  # the fallback venv went with its session
    (workspace / "requirements.txt").write_text("")
    async with Session.from_base(workspace, timeout=10) as fixed:  # the healthy venv did not get tinypkg
        assert not (await fixed.run("import tinypkg")).is_ok


async def test_a_venv_no_key_links_to_is_removed_once_nobody_uses_it(tmp_path: Path, wheelhouse: Path):
    from codemode.workspace.venvs import VenvCache, current_python

    venvs = VenvCache(tmp_path / "cache")
    first, _ = await venvs.ensure("first", current_python(), [])
    second, _ = await venvs.ensure("second", current_python(), [])
    assert first is not None and second is not None
    lease = await venvs.lease(first)
    venvs.rekey("second", "first", second)  # deps.add made `second` hold what `first` was filed for
    await venvs.remove_unused()
    assert _venv_dirs(tmp_path / "cache") == {first.name, second.name}  # first is unlinked but in use
    lease.release()
    await venvs.remove_unused()
    assert _venv_dirs(tmp_path / "cache") == {second.name} == _published(tmp_path / "cache")


KILLED_BUILD = """
import asyncio, os, signal, sys
from pathlib import Path
from codemode.workspace.venvs import VenvCache, current_python

async def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the server dies mid-build, the venv half made

cache = VenvCache(Path(sys.argv[1]))
cache.install = killed
asyncio.run(cache.ensure("dead-key", current_python(), ["tinypkg"]))
"""


async def test_the_next_build_removes_what_a_killed_build_left(tmp_path: Path, wheelhouse: Path):
    import subprocess
    import sys

    from codemode.workspace.venvs import VenvCache, current_python

    cache = tmp_path / "cache"
    killed = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(cache)], check=False, timeout=120)
    assert killed.returncode == -9 and len(_venv_dirs(cache)) == 1 and not _published(cache)
    venvs = VenvCache(cache)
    good, problem = await venvs.ensure("good-key", current_python(), [])
    assert problem is None and good is not None
    assert _venv_dirs(cache) == {good.name} == _published(cache)
    again, _ = await venvs.ensure("other-key", current_python(), [])  # a published venv is never swept
    assert again is not None and _venv_dirs(cache) == {good.name, again.name}
