"""JavaScript in a session: a persistent Node.js context, inside the same sandbox and limits."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from codemode import Session
from codemode.errors import InvalidArgument, Unavailable
from codemode.models import ExecutionLimits
from codemode.worker.js_ops import node_binds
from tests.npm import node_unavailable
from tests.security.conftest import sandbox  # noqa: F401  (the fixture)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def node() -> None:
    """Skip (with the reason) without Node.js; CODEMODE_REQUIRE_NODE=1 makes that a failure."""
    if shutil.which("node") is None:
        node_unavailable("Node.js is not installed (node is not on the PATH)")


async def js(session: Session, code: str, **options: Any) -> Any:
    return await session.run(code, language="javascript", **options)


async def test_variables_and_functions_persist_between_runs(session: Session):
    await js(session, "let count = 40; const step = 1; function next() { return count += step }")
    await js(session, "next()")
    assert (await js(session, "next()")).value == 42


async def test_the_last_expression_is_the_value(session: Session):
    result = await js(session, "const o = {a: [1, 'two', null]}; o")
    assert (result.value, result.value_repr) == ({"a": [1, "two", None]}, "{ a: [ 1, 'two', null ] }")


async def test_a_value_that_is_not_json_comes_as_its_inspection(session: Session):
    assert (await js(session, "new Map([[1, 'one']])")).value == "Map(1) { 1 => 'one' }"


async def test_a_statement_has_no_value(session: Session):
    result = await js(session, "let nothing = 1;")
    assert (result.value, result.value_repr, result.is_ok) == (None, None, True)


async def test_console_output_is_captured(session: Session):
    result = await js(session, "console.log('out', 1); console.error('err')")
    assert (result.stdout, result.stderr) == ("out 1\n", "err\n")


async def test_errors_come_with_type_message_and_stack(session: Session):
    result = await js(session, "function fail() { throw new RangeError('too far') }\nfail()")
    assert result.error_info is not None
    assert (result.error_info.type, result.error_info.message) == ("RangeError", "too far")
    assert "at fail (<js-cell-1>:1" in result.error_info.traceback


async def test_top_level_await_returns_the_value_and_keeps_declarations(session: Session):
    result = await js(session, "const got = await new Promise((done) => setTimeout(() => done(21), 10))\ngot * 2")
    assert result.value == 42
    assert (await js(session, "got")).value == 21


async def test_a_timeout_stops_a_busy_loop_and_keeps_the_context(session: Session):
    await js(session, "let kept = 'still here'")
    result = await js(session, "while (true) {}", timeout=0.5)
    assert result.error_info is not None and result.error_info.type == "TimeoutError"
    assert (await js(session, "kept")).value == "still here"


async def test_javascript_runs_in_the_session_directory(session: Session):
    await js(session, "require('fs').writeFileSync('from-js.txt', 'written by node')")
    assert await session.read_file("from-js.txt") == "written by node"


@pytest.mark.usefixtures("sandbox")
async def test_javascript_runs_inside_the_sandbox(session: Session, workspace: Path):
    code = f"[require('os').hostname(), require('fs').existsSync({str(workspace)!r})]"
    assert (await js(session, code)).value == ["codemode", False]


@pytest.mark.usefixtures("sandbox")
@pytest.mark.parametrize(("prefix", "lib_shown"), [("node-prefix", True), ("home", False)])
async def test_a_node_installed_outside_usr_runs_in_the_sandbox(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch, prefix: str, lib_shown: bool
):
    """Only /usr and the interpreter are in the sandbox: the node found on the PATH is shown there too.

    The binary and the lib/ beside its bin/, never the rest of the installation; not even lib/ when it
    is in the home directory.
    """
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    installed = tmp_path / prefix / "bin" / "node"  # under /tmp: the sandbox has a private /tmp
    installed.parent.mkdir(parents=True)
    (tmp_path / prefix / "lib").mkdir()
    _link_or_copy(Path(os.path.realpath(shutil.which("node") or "")), installed)
    monkeypatch.setenv("PATH", f"{installed.parent}{os.pathsep}{os.environ['PATH']}")
    lib = tmp_path / prefix / "lib"
    assert node_binds(str(tmp_path / "workers")) == ((str(installed), str(lib)) if lib_shown else (str(installed),))
    (installed.parent / "beside-node").write_text("")
    (lib / "a-library").write_text("")
    async with Session.from_base(workspace, timeout=10, sandbox="bwrap") as session:
        assert session.supports("javascript")
        shown = [str(installed.parent / "beside-node"), str(lib / "a-library")]
        code = f"[process.execPath, ...{shown!r}.map(p => require('fs').existsSync(p)), 6 * 7]"
        assert (await js(session, code)).value == [str(installed), False, lib_shown, 42]


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where one can be made (a 100 MB binary), else a copy (node here needs no files beside it)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


async def test_python_and_javascript_share_the_run_count_and_python_stays_the_default(session: Session):
    await js(session, "1")
    result = await session.run("import sys; sys.version_info[0]")
    assert (result.value, result.execution_count) == (3, 2)


async def test_a_reset_clears_javascript_variables(session: Session):
    await js(session, "globalThis.gone = 1")
    await session.reset()
    assert (await js(session, "typeof gone")).value == "undefined"


async def test_output_is_capped(workspace: Path):
    async with Session.from_base(workspace, limits=ExecutionLimits(output_cap=50)) as session:
        result = await js(session, "console.log('x'.repeat(1000))")
        assert (len(result.stdout), result.truncated) == (50, True)


async def test_a_javascript_run_that_fills_the_session_directory_says_so(workspace: Path):
    async with Session.from_base(workspace, limits=ExecutionLimits(max_workdir_bytes=2 * 1024**2)) as session:
        result = await js(session, "require('fs').writeFileSync('blob', 'x'.repeat(3 * 1024 * 1024)); 1")
        assert result.error_info is not None and result.error_info.type == "DiskLimitExceeded", result
        assert "limit of 2 MiB" in (result.error or "")


async def test_supports_says_javascript_is_there(session: Session):
    assert session.supports("javascript")


async def test_an_unknown_language_is_refused(session: Session):
    with pytest.raises(InvalidArgument, match="language must be one of 'python', 'javascript'"):
        await session.run("puts 1", language="ruby")  # type: ignore[arg-type]


async def test_without_node_javascript_is_a_clear_error(session: Session, monkeypatch: pytest.MonkeyPatch):
    await session.start()
    monkeypatch.setenv("PATH", "/nonexistent")
    assert not session.supports("javascript")
    with pytest.raises(Unavailable, match="JavaScript needs Node.js"):
        await js(session, "1")


@pytest.fixture
async def mcp_client(workspace: Path) -> AsyncIterator[Client]:
    from codemode.server import ServerSettings, create_server

    async with Client(create_server(ServerSettings(base=workspace, timeout=10))) as client:
        yield client


async def test_run_code_runs_javascript_over_mcp(mcp_client: Client):
    await mcp_client.call_tool("run_code", {"code": "let n = 20", "language": "javascript"})
    outcome = await mcp_client.call_tool("run_code", {"code": "n + 22", "language": "javascript"})
    assert not outcome.is_error
    assert outcome.structured_content["value"] == 42  # type: ignore[index]
