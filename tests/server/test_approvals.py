"""Approvals over MCP: a tool call that needs approval asks the client (elicitation), in both protocol eras.

The tool ``marker`` writes a file when its recipe ``write`` runs, so a test can see that nothing
ran when a call was refused. ``legacy`` is the handshake era (``elicitation/create`` mid-call);
``2026-07-28`` the input-required flow (the question comes back as the call's result, the
client's driver answers and retries).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult, InputRequiredResult

from codemode.server import ServerSettings, create_server
from codemode.server.arguments import settings_from_args
from codemode.server.flags import build_parser
from tests.server.conftest import HttpServer, server_command
from tests.tools.test_middleware import write_marker_tool

pytestmark = pytest.mark.anyio

ERAS = ["legacy", "2026-07-28"]
Start = Callable[..., Awaitable[HttpServer]]


class Asker:
    """An ``elicitation_callback`` that answers every question the same way and keeps the questions."""

    def __init__(self, action: str = "accept", content: dict[str, Any] | None = None, delay: float = 0) -> None:
        self.action = action
        self.content = {"approve": True} if content is None and action == "accept" else content
        self.delay = delay
        self.questions: list[str] = []

    async def __call__(self, context: object, params: ElicitRequestParams) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        self.questions.append(params.message)
        await anyio.sleep(self.delay)
        return ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]


def _client(workspace: Path, era: str, asker: Asker | None, **settings: Any) -> Client:
    server = create_server(ServerSettings(base=workspace, timeout=10, **settings))
    return Client(server, mode=era, elicitation_callback=asker)


async def _run(client: Client, code: str) -> dict[str, Any]:
    outcome = await client.call_tool("run_code", {"code": code})
    return outcome.structured_content  # type: ignore[return-value]


def _write(marker: Path, tool: str = "tools.marker.write") -> str:
    return f"{tool}(path={str(marker)!r})"


@pytest.mark.parametrize("era", ERAS)
async def test_an_approved_call_runs_after_the_client_was_asked(workspace: Path, era: str):
    write_marker_tool(workspace)
    marker = workspace / "out.txt"
    asker = Asker()
    async with _client(workspace, era, asker, require_approval=["marker.write"]) as client:
        result = await _run(client, _write(marker) + "\n'after'")
    assert result["error"] is None and result["value"] == "after"
    assert marker.read_text() == "written"
    (asked,) = asker.questions
    assert asked.startswith("Code in session ")
    assert f'wants to call marker.write with arguments {{"path":"{marker}"}}. Allow this call?' in asked
    assert "(Approval needed: the server requires approval for 'marker.write'.)" in asked


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(
    ("asker", "said"),
    [
        (Asker("decline"), "the client declined the call marker.write"),
        (Asker("cancel"), "the client cancelled the approval of marker.write"),
        (Asker("accept", {"approve": False}), "the client answered approve: false for marker.write"),
        (Asker("accept", {"approve": "yes"}), "without answering approve: true or false"),
        (Asker("accept", {}), "without answering approve: true or false"),
    ],
    ids=["decline", "cancel", "approve-false", "approve-not-a-boolean", "accept-empty"],
)
async def test_anything_but_yes_refuses_the_call_and_nothing_runs(workspace: Path, era: str, asker: Asker, said: str):
    write_marker_tool(workspace)
    marker = workspace / "out.txt"
    async with _client(workspace, era, asker, require_approval=["marker.write"]) as client:
        result = await _run(client, _write(marker))
    assert result["error_info"]["type"] == "ApprovalDenied"
    assert said in result["error_info"]["message"] and "was not made" in result["error_info"]["message"]
    assert not marker.exists()


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_without_elicitation_is_refused_without_a_question(workspace: Path, era: str):
    write_marker_tool(workspace, "approval: required\n")
    marker = workspace / "out.txt"
    async with _client(workspace, era, None) as client:
        result = await _run(client, _write(marker))
    assert result["error_info"]["type"] == "ApprovalDenied"
    assert (
        "the client cannot be asked: the client did not declare the elicitation capability"
        in (result["error_info"]["message"])
    )
    assert not marker.exists()


@pytest.mark.parametrize("era", ERAS)
async def test_calls_no_pattern_matches_run_without_a_question(workspace: Path, era: str):
    write_marker_tool(workspace)
    asker = Asker("decline")
    async with _client(workspace, era, asker, require_approval=["marker.write", "github.*"]) as client:
        result = await _run(client, "tools.marker.echo(text='free')")
    assert result["value"] == "free"
    assert asker.questions == []


@pytest.mark.parametrize("era", ERAS)
async def test_the_code_can_catch_a_refusal_and_go_on_asking(workspace: Path, era: str):
    write_marker_tool(workspace)
    first, second = workspace / "first.txt", workspace / "second.txt"
    answers = iter([("decline", None), ("accept", {"approve": True})])
    questions: list[str] = []

    async def answer(context: object, params: ElicitRequestParams) -> ElicitResult:
        questions.append(params.message)
        action, content = next(answers)
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    code = f"try:\n    {_write(first)}\nexcept PermissionError as exc:\n    refused = str(exc)\n"
    code += f"{_write(second)}\nrefused"
    settings = ServerSettings(base=workspace, timeout=10, require_approval=["marker.*"])
    async with Client(create_server(settings), mode=era, elicitation_callback=answer) as client:
        result = await _run(client, code)
    assert "declined" in result["value"]
    assert len(questions) == 2 and str(second) in questions[1]
    assert not first.exists() and second.read_text() == "written"


WAYS_IN = {
    "attribute": "tools.my_marker.write(path={path})",
    "item": "tools['my-marker']['write'](path={path})",
    "direct-call": "tools.my_marker(path={path}, text='raw')",
    "host-call": "tools._call('tools.call', {{'tool': 'my_marker', 'recipe': 'write', 'args': {{'path': {path}}}}})",
    "workflow": "workflows.create('writer', 'async def run(path):\\n    return tools.my_marker.write(path=path)')\n"
    "workflows.invoke('writer', path={path})",
}


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("way", WAYS_IN.values(), ids=WAYS_IN.keys())
async def test_every_way_to_reach_the_tool_is_asked_about(workspace: Path, era: str, way: str):
    """A hyphenated tool, a pattern in other case and spelling: the name is the tool's, however code wrote it."""
    write_marker_tool(workspace, name="my-marker")
    marker = workspace / "out.txt"
    asker = Asker("decline")
    async with _client(workspace, era, asker, require_approval=["MY_MARKER.write"]) as client:
        result = await _run(client, way.format(path=repr(str(marker))))
    assert result["error_info"]["type"] == "ApprovalDenied", result
    assert len(asker.questions) == 1 and "wants to call my-marker" in asker.questions[0]
    assert not marker.exists()


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("profile", ["code", "py-code-mode"])
async def test_run_code_of_every_profile_asks(workspace: Path, era: str, profile: str):
    """The other tests call the full profile's run_code (the tests' default); the others' ask too."""
    write_marker_tool(workspace)
    marker = workspace / "out.txt"
    asker = Asker("decline")
    async with _client(workspace, era, asker, require_approval=["marker.write"], mcp_tools=profile) as client:
        outcome = await client.call_tool("run_code", {"code": _write(marker)})
    assert "ApprovalDenied: the client declined the call marker.write" in outcome.content[0].text  # type: ignore[union-attr]
    assert len(asker.questions) == 1 and not marker.exists()


@pytest.mark.parametrize("era", ERAS)
async def test_no_answer_in_time_refuses_the_call(workspace: Path, era: str):
    write_marker_tool(workspace, "approval: required\n")
    marker = workspace / "out.txt"
    asker = Asker(delay=1.5)
    async with _client(workspace, era, asker, approval_timeout=0.3) as client:
        result = await _run(client, _write(marker))
    assert result["error_info"]["type"] == "ApprovalDenied"
    assert "no answer to the approval request for marker.write within 0.3 s" in result["error_info"]["message"]
    assert not marker.exists()


@pytest.mark.parametrize("era", ERAS)
async def test_calls_made_at_once_from_threads_are_each_asked(workspace: Path, era: str):
    write_marker_tool(workspace)
    paths = [workspace / f"out{number}.txt" for number in range(3)]
    asker = Asker()
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(3) as pool:\n"
        f"    done = list(pool.map(lambda p: tools.marker.write(path=p), {[str(p) for p in paths]!r}))\n"
        "len(done)"
    )
    async with _client(workspace, era, asker, require_approval=["marker.write"]) as client:
        result = await _run(client, code)
    assert result["value"] == 3, result["error_info"]
    assert len(asker.questions) == 3
    assert all(path.read_text() == "written" for path in paths)


async def test_a_2026_client_that_never_answers_does_not_hold_the_session(workspace: Path):
    write_marker_tool(workspace, "approval: required\n")
    marker = workspace / "out.txt"
    async with _client(workspace, "2026-07-28", Asker(), approval_timeout=0.5) as client:
        paused = await client.session.call_tool(
            "run_code", {"code": _write(marker) + "\n'went on'"}, allow_input_required=True
        )
        assert isinstance(paused, InputRequiredResult)
        (question,) = paused.input_requests.values()  # type: ignore[union-attr]
        assert "marker.write" in question.params.message  # type: ignore[union-attr]
        with anyio.fail_after(8):  # the paused run's question times out, then this run has the session
            after = await _run(client, "history_ok = True\n1 + 1")
    assert after["value"] == 2
    assert not marker.exists()


async def test_approvals_over_stdio(workspace: Path):
    write_marker_tool(workspace)
    marker = workspace / "out.txt"
    asker = Asker("decline")
    command = server_command(workspace, "--require-approval", "marker.write")
    async with Client(command, mode="legacy", elicitation_callback=asker) as client:
        refused = await _run(client, _write(marker))
        asker.action, asker.content = "accept", {"approve": True}
        approved = await _run(client, _write(marker))
    assert refused["error_info"]["type"] == "ApprovalDenied" and approved["error"] is None
    assert len(asker.questions) == 2 and marker.read_text() == "written"


@pytest.mark.parametrize("era", ERAS)
async def test_approvals_over_http(http_server: Start, workspace: Path, era: str):
    write_marker_tool(workspace)
    marker = workspace / "out.txt"
    server = await http_server("--require-approval", "marker.*", "--network", "on")
    asker = Asker()
    transport = streamable_http_client(f"{server.url}/mcp", http_client=httpx2.AsyncClient())
    async with Client(transport, mode=era, elicitation_callback=asker) as client:
        result = await _run(client, _write(marker) + "\ntools.marker.echo(text='both')")
    assert result["error"] is None and result["value"] == "both"
    assert len(asker.questions) == 2 and marker.read_text() == "written"


def test_the_flags_set_patterns_and_timeout_and_refuse_a_bad_pattern(capsys: pytest.CaptureFixture[str]):
    parser = build_parser()
    args = parser.parse_args(["--require-approval", "github.*", "--require-approval", "curl.post"])
    settings = settings_from_args(args)
    assert settings.require_approval == ["github.*", "curl.post"] and settings.approval_timeout == 300
    assert settings_from_args(parser.parse_args(["--approval-timeout", "none"])).approval_timeout is None
    with pytest.raises(Exception, match="TOOL or TOOL.CALLABLE"):
        settings_from_args(parser.parse_args(["--require-approval", "curl post"]))
