"""Upstream MCP servers from MCP clients' config files: called from code, listed, searched, described.

The upstream is a real SDK server (``upstream_mcp.py``), over stdio (an ``mcpServers`` entry)
and over streamable HTTP (a VS Code ``servers`` entry); the session's worker is real too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codemode import Session
from codemode.errors import InvalidArgument
from codemode.search.embeddings import Embedder
from codemode.storage.file import FileStorage
from tests.search.test_semantic import embedder  # noqa: F401 - the fixture: the model, or a skip saying why
from tests.tools.conftest import mcp_config, upstream_stdio

pytestmark = pytest.mark.anyio


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Claude Desktop's format: the notebook over stdio, told to note when it starts."""
    entry = upstream_stdio() | {"env": {"NOTEBOOK_STARTED": str(tmp_path / "started"), "GREETING": "${TEST_HELLO}"}}
    return mcp_config(tmp_path / "claude_desktop_config.json", {"notebook": entry})


@pytest.fixture
async def session(workspace: Path, config: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Session]:
    monkeypatch.setenv("TEST_HELLO", "hello-from-the-server")
    monkeypatch.setenv("CODEMODE_TEST_SECRET", "secret-2718")
    async with Session.from_base(workspace, timeout=30, mcp_config=[config]) as started:
        yield started


async def value(session: Session, code: str) -> object:
    result = await session.run(code)
    assert result.error_info is None, result.error_info
    return result.value


async def test_a_server_is_connected_on_first_use_not_at_start(session: Session, tmp_path: Path):
    assert await value(session, "1 + 1") == 2
    assert [tool.name for tool in (await session.workspace.tools.list(connect=False)).tools] == ["notebook"]
    assert not (tmp_path / "started").exists()
    assert await value(session, "tools.notebook.add(a=2, b=3)") == 5
    assert (tmp_path / "started").exists()


async def test_hyphenated_tools_and_parameters_are_reached_by_python_names(session: Session):
    note = {"title": "groceries", "tags": ["food"], "max_items": 5}
    assert await value(session, "tools.notebook.create_note(title='groceries', tags=['food'], max_items=5)") == note
    assert (
        await value(session, "tools.notebook['create-note'](title='groceries', tags=['food'], **{'max-items': 5})")
        == note
    )
    assert await value(session, "tools['notebook'].create_note(title='x')['max_items']") == 3


async def test_results_are_python_objects(session: Session):
    assert await value(session, "tools.notebook.add(a=2, b=3)") == 5  # structured {"result": 5}, unwrapped
    found = await value(session, "tools.notebook.find_notes(query='gro')")  # JSON in a text block
    assert found == {"query": "gro", "notes": [{"title": "groceries"}]}
    assert await value(session, "tools.notebook.greet(name='Ada')") == "Hello, Ada!"


async def test_an_upstream_error_raises_in_code_with_its_message(session: Session):
    failed = await session.run("tools.notebook.fail(message='no paper')")
    assert failed.error_info is not None and failed.error_info.type == "ToolFailed"
    assert "notebook.fail returned an error" in failed.error_info.message
    assert "the notebook refused: no paper" in failed.error_info.message
    caught = await session.run("try:\n    tools.notebook.fail(message='x')\nexcept Exception as exc:\n    print(exc)")
    assert "the notebook refused: x" in caught.stdout


async def test_missing_and_unknown_arguments_are_refused_before_the_call(session: Session):
    missing = await session.run("tools.notebook.add(a=1)")
    assert missing.error_info is not None and "notebook.add needs argument(s) b" in missing.error_info.message
    unknown = await session.run("tools.notebook.add(a=1, b=2, c=3)")
    assert unknown.error_info is not None and "unknown argument(s) c; it takes: a, b" in unknown.error_info.message
    positional = await session.run("tools.notebook.add(1, 2)")
    assert positional.error_info is not None and positional.error_info.type == "TypeError"
    assert "keyword arguments only" in positional.error_info.message


async def test_a_picture_from_a_tool_is_a_picture_of_the_run(session: Session):
    result = await session.run("tools.notebook.chart()")
    assert result.error_info is None
    assert [image.mime_type for image in result.images] == ["image/png"]
    assert result.value_repr == "<picture image/png, 70 bytes (shown)>"
    kept = await session.run("picture = tools.notebook.chart()\nlen(picture.data), picture.mime_type")
    assert kept.value_repr == "(70, 'image/png')" and len(kept.images) == 1


async def test_the_server_gets_the_allow_list_and_its_env_with_variables_expanded(session: Session):
    assert await value(session, "tools.notebook.getenv(name='GREETING')") == "hello-from-the-server"
    assert await value(session, "tools.notebook.getenv(name='CODEMODE_TEST_SECRET')") == "unset"
    assert await value(session, "tools.notebook.getenv(name='PATH')") != "unset"


async def test_the_connection_is_kept_between_calls_and_runs(session: Session):
    first = await value(session, "tools.notebook.whoami()")
    assert await value(session, "tools.notebook.whoami()") == first


async def test_upstream_tools_have_python_signatures_and_docs(session: Session):
    signature = await value(session, "import inspect\nstr(inspect.signature(tools.notebook.create_note))")
    assert signature == "(*, title: str, tags: list[str] | None = None, max_items: int = 3) -> dict"
    assert await value(session, "str(inspect.signature(tools.notebook.add))") == "(*, a: int, b: int) -> int"
    helped = await session.run("help(tools.notebook.create_note)")
    assert "create_note(*, title: str, tags: list[str] | None = None, max_items: int = 3) -> dict" in helped.stdout
    assert "Create a note in the notebook with a title and tags." in helped.stdout
    assert "max_items (int, default 3): Most items the note keeps (the tool calls it 'max-items')" in helped.stdout
    described = await value(session, "tools.notebook.describe()")
    assert "def create_note(*, title: str, tags: list[str] | None = None, max_items: int = 3) -> dict:" in str(
        described
    )
    assert "def add(*, a: int, b: int) -> int:  # Add two numbers" in str(described)


async def test_each_upstream_tool_is_listed_with_its_signature(session: Session):
    (notebook,) = await session.list_tools()
    assert notebook.type == "mcp" and notebook.available
    names = [item.name for item in notebook.callables]
    assert names[:3] == ["create-note", "add", "find_notes"]
    add = next(item for item in notebook.callables if item.name == "add")
    assert add.signature == "add(*, a: int, b: int) -> int"
    assert add.input_schema is not None and add.input_schema["required"] == ["a", "b"]


async def test_search_finds_the_upstream_tool_and_answers_with_its_signature(session: Session):
    found = await value(session, "tools.search('create a note with tags', limit=3)")
    assert isinstance(found, list)
    first = found[0]
    assert first["name"] == "notebook" and first["callables"][0]["name"] == "create-note"
    assert first["callables"][0]["signature"].startswith("create_note(*, title: str")
    assert "input_schema" not in first["callables"][0]
    (entry, *_) = await session.search_tools("add two numbers")
    assert [item.name for item in entry.callables][0] == "add"
    assert entry.callables[0].signature == "add(*, a: int, b: int) -> int"
    assert entry.callables[0].input_schema is None


async def test_search_finds_an_upstream_tool_by_meaning(session: Session, embedder: Embedder):  # noqa: F811
    (entry, *_) = await session.search_tools("plot a graph")
    assert entry.name == "notebook" and entry.callables[0].name == "chart"


async def test_a_vs_code_servers_file_reaches_a_streamable_http_server(
    workspace: Path, tmp_path: Path, upstream_url: str
):
    config = mcp_config(tmp_path / "mcp.json", {"remote-notes": {"type": "http", "url": upstream_url}}, "servers")
    async with Session.from_base(workspace, timeout=30, mcp_config=config) as session:
        assert await value(session, "tools.remote_notes.add(a=1, b=2)") == 3
        assert await value(session, "tools['remote-notes'].create_note(title='t', max_items=1)['max_items']") == 1
        assert await value(session, "tools.remote_notes.greet(name='web')") == "Hello, web!"


async def test_a_server_that_cannot_start_is_listed_unavailable_and_fails_clearly(
    workspace: Path, config: Path, tmp_path: Path
):
    dead = mcp_config(tmp_path / "dead.json", {"dead": {"command": "no-such-mcp-server-xyz"}})
    async with Session.from_base(workspace, timeout=30, mcp_config=[config, dead]) as session:
        listing = {tool.name: tool for tool in await session.list_tools()}
        assert listing["notebook"].available and not listing["dead"].available
        assert "cannot connect to MCP server 'dead'" in (listing["dead"].problem or "")
        assert [entry.name for entry in await session.search_tools("add two numbers")][0] == "notebook"
        described = await value(session, "print(tools.describe())")
        result = await session.run("tools.dead.anything()")
        assert result.error_info is not None and result.error_info.type == "ToolFailed"
        assert "cannot connect to MCP server 'dead'" in result.error_info.message
    assert described is None


async def test_an_edited_config_file_is_seen_on_next_use(session: Session, config: Path):
    assert [tool.name for tool in await session.list_tools()] == ["notebook"]
    servers = json.loads(config.read_text())["mcpServers"]
    mcp_config(config, {**servers, "second": upstream_stdio()})
    assert await value(session, "tools.second.add(a=1, b=1)") == 2


def test_a_config_that_cannot_be_used_is_refused_when_the_session_is_made(workspace: Path, tmp_path: Path):
    broken = mcp_config(tmp_path / "broken.json", {"x": {"type": "grpc", "url": "http://x"}})
    with pytest.raises(InvalidArgument, match=r"broken.json: server 'x': unknown type 'grpc'"):
        Session.from_base(workspace, mcp_config=broken)


async def test_calling_the_server_itself_says_to_call_one_of_its_tools(session: Session):
    result = await session.run("tools.notebook()")
    assert result.error_info is not None and result.error_info.type == "ToolNotFound"
    assert "MCP server 'notebook' is not called itself: call tools.notebook.<tool>(...); it has: create-note" in (
        result.error_info.message
    )


async def test_a_session_made_on_a_storage_takes_mcp_config_too(workspace: Path, config: Path):
    async with Session(storage=FileStorage(workspace), mcp_config=str(config)) as session:
        assert await value(session, "tools.notebook.add(a=20, b=22)") == 42


async def test_mcp_config_with_a_workspace_of_ones_own_is_refused(workspace: Path, config: Path):
    async with Session.from_base(workspace) as owner:
        with pytest.raises(InvalidArgument, match="mcp_config belongs to the workspace"):
            Session(workspace=owner.workspace, mcp_config=[config])
