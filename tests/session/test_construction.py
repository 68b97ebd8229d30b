"""Building sessions as py-code-mode does: executor configs, storage constructors, clear refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import redis

from codemode import (
    FileStorage,
    InProcessConfig,
    InProcessExecutor,
    Session,
    SubprocessConfig,
    SubprocessExecutor,
)
from codemode.errors import DepsError
from codemode.sandbox.launcher import SandboxConfig
from codemode.storage.redis import RedisStorage
from tests.conftest import REDIS_URL, drop_prefix, open_redis_storage, redis_prefix

pytestmark = pytest.mark.anyio

TOOL = "name: greet\ndescription: Say hello\ncommand: echo\nschema:\n  positional: [{name: text}]\n"


def _tools_dir(tmp_path: Path) -> Path:
    tools = tmp_path / "my-tools"
    tools.mkdir()
    (tools / "greet.yaml").write_text(TOOL)
    return tools


async def test_a_subprocess_config_gives_tools_and_timeout(tmp_path: Path, workspace: Path):
    config = SubprocessConfig(tools_path=_tools_dir(tmp_path))
    session = Session(storage=FileStorage(base_path=workspace), executor=SubprocessExecutor(config=config))
    async with session:
        assert [tool["name"] for tool in await session.list_tools()] == ["greet"]
        assert session.default_timeout == 60.0
        assert (await session.run("tools.greet(text='hi')")).value == "hi\n"


async def test_an_inprocess_config_gives_tools_timeout_and_deps(tmp_path: Path, workspace: Path):
    requirements = tmp_path / "reqs.txt"
    requirements.write_text("# pinned\nrich>=13  # for tables\n")
    config = InProcessConfig(
        tools_path=_tools_dir(tmp_path), default_timeout=5, deps=("tabulate",), deps_file=requirements
    )
    async with Session(storage=FileStorage(workspace), executor=InProcessExecutor(config=config)) as session:
        assert session.default_timeout == 5
        assert [tool.name for tool in await session.list_tools()] == ["greet"]
        assert {"tabulate", "rich>=13"} <= set(await session.list_deps())


async def test_an_explicit_timeout_beats_the_config(workspace: Path):
    executor = InProcessExecutor(config=InProcessConfig(default_timeout=5))
    assert Session(FileStorage(workspace), executor, timeout=None).default_timeout is None


SHOW_VARIABLE = "name: show\ndescription: Print a variable\ncommand: sh -c 'echo \"[$CODEMODE_TEST_PASSED]\"'\n"
CONSTRUCTIONS: dict[str, Callable[[Path, SandboxConfig], Session]] = {
    "explicit executor": lambda base, box: Session(FileStorage(base), SubprocessExecutor(sandbox=box)),
    "executor with a config": lambda base, box: Session(
        FileStorage(base), SubprocessExecutor(config=SubprocessConfig(), sandbox=box)
    ),
    "sandbox argument": lambda base, box: Session(FileStorage(base), "subprocess", sandbox=box),
    "from_base with an executor": lambda base, box: Session.from_base(base, executor=SubprocessExecutor(sandbox=box)),
}


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
@pytest.mark.parametrize(("pass_env", "seen"), [(("CODEMODE_TEST_PASSED",), "passed-31"), ((), None)])
async def test_tools_get_the_variables_the_executors_sandbox_passes_to_the_worker(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, construction: str, pass_env: tuple[str, ...], seen: str | None
):
    monkeypatch.setenv("CODEMODE_TEST_PASSED", "passed-31")
    (workspace / "tools").mkdir()
    (workspace / "tools" / "show.yaml").write_text(SHOW_VARIABLE)
    async with CONSTRUCTIONS[construction](workspace, SandboxConfig(pass_env=pass_env)) as session:
        in_tool = await session.run("tools.show()")
        in_worker = await session.run("import os; os.environ.get('CODEMODE_TEST_PASSED')")
        assert (in_tool.value, in_worker.value) == (f"[{seen or ''}]\n", seen)


def test_an_unknown_config_option_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) tool_path .*allowed: .*tools_path"):
        SubprocessConfig(tool_path=Path("tools"))  # type: ignore[call-arg]


@pytest.mark.parametrize("config", [SubprocessConfig(), InProcessConfig()])
def test_a_config_is_frozen_as_py_code_modes_dataclasses_are(config: SubprocessConfig | InProcessConfig):
    with pytest.raises(FrozenInstanceError, match="cannot assign to 'default_timeout'.*is frozen"):
        config.default_timeout = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):  # what FrozenInstanceError is: code that catches that works too
        del config.tools_path
    assert config.default_timeout in (30, 60)
    assert config.model_copy(update={"default_timeout": 5}).default_timeout == 5


def test_a_python_version_must_be_major_minor():
    with pytest.raises(ValueError, match="major.minor"):
        SubprocessConfig(python_version="3")


def test_an_executor_name_that_does_not_exist_says_which_do(workspace: Path):
    with pytest.raises(ValueError, match="'subprocess' or 'inprocess'"):
        Session(FileStorage(workspace), executor="in-process")  # type: ignore[arg-type]


def test_an_executor_of_the_wrong_type_is_refused(workspace: Path):
    with pytest.raises(TypeError, match="executor must be a SubprocessExecutor or InProcessExecutor"):
        Session(FileStorage(workspace), executor=123)  # type: ignore[arg-type]


async def test_a_session_without_storage_runs_on_an_ephemeral_workspace():
    async with Session() as session:
        await session.run("artifacts.save('note', 'kept while the session lives')")
        assert await session.load_artifact("note") == "kept while the session lives"
        assert session.storage.location == "memory"
    async with Session() as other:  # nothing is shared: each ephemeral workspace is its own
        assert await other.list_artifacts() == []


async def test_a_session_with_only_callbacks_calls_them_from_code():
    def double(x: int) -> int:
        return 2 * x

    async with Session(callbacks=[{"name": "double", "fn": double}]) as session:
        assert (await session.run("double(21)")).value == 42


def test_a_storage_of_the_wrong_type_is_refused(workspace: Path):
    with pytest.raises(TypeError, match="storage must be a FileStorage or RedisStorage"):
        Session(storage=str(workspace))  # type: ignore[arg-type]


async def test_redis_storage_takes_a_synchronous_client_and_a_prefix():
    async with open_redis_storage():  # skips, saying why, without a Redis server
        pass
    prefix = redis_prefix()
    client = redis.Redis.from_url(REDIS_URL)
    storage = RedisStorage(redis=client, prefix=prefix)
    try:
        await storage.write("artifacts", "a", b"1")
        assert client.hget(f"{prefix}:artifacts", "a") == b"1"
    finally:
        await storage.close()
        client.close()
        await drop_prefix(prefix)


def test_redis_storage_takes_a_url_or_a_client_not_both():
    with pytest.raises(ValueError, match="not both"):
        RedisStorage(url=REDIS_URL, redis=redis.Redis())


def test_redis_storage_refuses_what_is_not_a_client():
    with pytest.raises(TypeError, match="redis.Redis or redis.asyncio.Redis"):
        RedisStorage(redis="redis://localhost")


async def test_a_venv_that_cannot_be_made_is_named_as_the_cause(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    async with Session.from_base(workspace, python_version="2.1") as session:
        assert (await session.run("1 + 1")).value == 2  # it runs, without a venv
        with pytest.raises(DepsError, match=r"venv could not be made.*'2\.1'"):
            await session.add_dep("tabulate")
