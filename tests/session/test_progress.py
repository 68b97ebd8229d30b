"""Live output and progress: on_output while code runs, MCP progress notifications, cancelling a sync."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from mcp import Client

from codemode import Session
from codemode.server import ServerSettings, create_server
from codemode.workspace.venvs import VenvCache
from tests.server.conftest import server_command
from tests.workspace.test_deps import offline_wheels

pytestmark = pytest.mark.anyio

# The code can only finish once the host has seen its first line while it ran: that is what live means.
WAITS_FOR_ITS_OUTPUT = """
import os, time
print("first line", flush=True)
while not os.path.exists({flag!r}):
    time.sleep(0.05)
print("done")
"""


def _flag_in(session: Session) -> Path:
    """A path both the test and the session's (maybe sandboxed) code can see: in the session's directory."""
    workdir = session.executor.confinement.workdir
    assert workdir is not None
    return Path(workdir) / "seen"


async def test_on_output_gets_output_while_the_code_runs(session: Session):
    flag = _flag_in(session)
    chunks: list[tuple[str, str]] = []

    def on_output(stream: str, text: str) -> None:
        chunks.append((stream, text))
        if "first line" in text:
            flag.touch()

    result = await session.run(WAITS_FOR_ITS_OUTPUT.format(flag=str(flag)), timeout=30, on_output=on_output)
    assert result.is_ok and result.stdout == "first line\ndone\n"  # the result still has all of it
    assert chunks[0] == ("stdout", "first line\n")


async def test_on_output_may_be_async(session: Session):
    flag = _flag_in(session)

    async def on_output(stream: str, text: str) -> None:
        await anyio.Path(flag).touch()

    result = await session.run(WAITS_FOR_ITS_OUTPUT.format(flag=str(flag)), timeout=30, on_output=on_output)
    assert result.is_ok


async def test_the_in_process_executor_streams_output_too(workspace: Path, tmp_path: Path):
    flag = tmp_path / "seen"

    def on_output(stream: str, text: str) -> None:
        if "first line" in text:
            flag.touch()

    async with Session.from_base(workspace, executor="inprocess") as session:
        result = await session.run(WAITS_FOR_ITS_OUTPUT.format(flag=str(flag)), timeout=30, on_output=on_output)
    assert result.is_ok


async def test_run_code_reports_progress_with_the_latest_output(workspace: Path):
    flag = Path()
    messages: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append((progress, message))
        if message and "first line" in message:
            flag.touch()

    async with Client(create_server(ServerSettings(base=workspace, timeout=30))) as client:
        where = await client.call_tool("run_code", {"code": "import os\nos.getcwd()"})
        flag = Path(where.structured_content["value"]) / "seen"  # type: ignore[index]
        code = WAITS_FOR_ITS_OUTPUT.format(flag=str(flag))
        called = await client.call_tool("run_code", {"code": code}, progress_callback=on_progress)
    assert not called.is_error
    progress = [value for value, _ in messages]
    assert progress == sorted(progress) and progress[0] > 0  # seconds elapsed, growing
    assert all(message and message.startswith("running for ") for _, message in messages)


async def test_progress_reaches_a_client_over_stdio(workspace: Path):
    seen = anyio.Event()
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")
        if message and "first line" in message:
            seen.set()

    async with Client(server_command(workspace), mode="legacy") as client:
        where = await client.call_tool("run_code", {"code": "import os\nos.getcwd()"})
        flag = Path(where.structured_content["value"]) / "seen"  # type: ignore[index]

        async def touch_when_seen() -> None:
            await seen.wait()
            flag.touch()

        async with anyio.create_task_group() as group:
            group.start_soon(touch_when_seen)
            code = WAITS_FOR_ITS_OUTPUT.format(flag=str(flag))
            called = await client.call_tool("run_code", {"code": code}, progress_callback=on_progress)
    assert not called.is_error
    assert any("first line" in message for message in messages)


async def test_add_dep_reports_uvs_progress_lines(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    offline_wheels(tmp_path / "wheels", monkeypatch, ("tinypkg", "1.0.0", "VALUE = 42\n"))
    lines: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        lines.append(message or "")

    async with Client(create_server(ServerSettings(base=workspace, timeout=30))) as client:
        added = await client.call_tool("add_dep", {"package": "tinypkg"}, progress_callback=on_progress)
    assert not added.is_error
    assert any("tinypkg" in line for line in lines)  # uv's own words, e.g. " + tinypkg==1.0.0"


class _StallingIndex(ThreadingHTTPServer):
    """A package index that never answers: uv waits on it until it is killed."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Stall)
        self.asked = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/simple"


class _Stall(BaseHTTPRequestHandler):
    server: _StallingIndex

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.server.asked.set()
        self.server.release.wait(60)
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stalling_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[_StallingIndex]:
    index = _StallingIndex()
    thread = threading.Thread(target=index.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("UV_INDEX_URL", index.url)
    monkeypatch.setenv("UV_NO_CACHE", "1")
    try:
        yield index
    finally:
        index.release.set()
        index.shutdown()
        index.server_close()


def _processes_using(url: str) -> list[int]:
    """Our processes whose environment names ``url`` (uv run by the session, and anything it started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                environment = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if url.encode() in environment:
                found.append(int(entry))
    return found


async def test_cancelling_sync_deps_stops_uv_and_leaves_the_venv_as_it_was(
    workspace: Path, stalling_index: _StallingIndex
):
    async with Session.from_base(workspace) as session:
        deps = session.workspace.deps
        venv = await deps.environment()
        before = await VenvCache().installed(venv)
        (workspace / "requirements.txt").write_text("codemode-never-published-package\n")
        async with anyio.create_task_group() as group:
            group.start_soon(session.sync_deps)
            await anyio.to_thread.run_sync(stalling_index.asked.wait, 60)  # uv is waiting on the index
            group.cancel_scope.cancel()
        assert _processes_using(stalling_index.url) == []
        assert await VenvCache().installed(venv) == before
        assert (await session.run("1 + 1")).value == 2  # the session goes on
