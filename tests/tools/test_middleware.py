"""Tool middleware in the library: every tool call of a session's code passes it, in order, around the call."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from codemode import ApprovalGate, Session, ToolCallContext
from codemode.tools.middleware import CallNext
from tests.tools.test_registry import write_tiny_mcp_tool, write_tool

pytestmark = pytest.mark.anyio

MARKER = f"""\
name: marker
description: Write a marker file, or echo a text
command: ["{sys.executable}", "-c", "import sys, pathlib; p = pathlib.Path(sys.argv[1]); p.write_text(sys.argv[2]) \\
if sys.argv[1] != 'echo' else None; print(sys.argv[2], end='')"]
schema:
  positional:
    - {{name: path, required: true}}
    - {{name: text, required: true}}
recipes:
  write:
    description: Write text into the file at path
    params:
      path: {{}}
      text: {{default: written}}
  echo:
    description: Print text back
    preset: {{path: echo}}
    params:
      text: {{}}
"""


def write_marker_tool(workspace: Path, extra: str = "", name: str = "marker") -> None:
    write_tool(workspace, f"{name}.yaml", MARKER.replace("name: marker", f"name: {name}") + extra)


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
async def audited(workspace: Path, log: list[str]) -> AsyncIterator[Session]:
    """A session whose two middleware log around each call, and the second rewrites text to upper case."""

    async def outer(context: ToolCallContext, call_next: CallNext) -> Any:
        log.append(f"outer before {context.qualified_name} {context.args}")
        result = await call_next()
        log.append(f"outer after {result!r}")
        return result

    async def shouting(context: ToolCallContext, call_next: CallNext) -> Any:
        log.append("inner before")
        args = {**context.args, "text": str(context.args.get("text", "")).upper()}
        result = await call_next(replace(context, args=args))
        log.append("inner after")
        return result

    write_marker_tool(workspace)
    async with Session.from_base(workspace, timeout=10, tool_middleware=[outer, shouting]) as session:
        yield session


async def test_middleware_run_in_order_around_the_call(audited: Session, log: list[str]):
    result = await audited.run("tools.marker.echo(text='hi')")
    assert result.value == "HI"
    assert log == [
        "outer before marker.echo {'text': 'hi'}",
        "inner before",
        "inner after",
        "outer after 'HI'",
    ]


async def test_the_tool_gets_the_rewritten_arguments(audited: Session, workspace: Path):
    marker = workspace / "out.txt"
    await audited.run(f"tools.marker.write(path={str(marker)!r}, text='quiet')")
    assert marker.read_text() == "QUIET"


async def test_a_workflow_s_tool_calls_pass_the_middleware_too(audited: Session, log: list[str]):
    source = "async def run(text):\n    return tools.marker.echo(text=text)\n"
    await audited.add_workflow("echo_it", source, "Echo through the tool")
    assert (await audited.run("workflows.invoke('echo_it', text='via workflow')")).value == "VIA WORKFLOW"
    assert log[0] == "outer before marker.echo {'text': 'via workflow'}"


async def test_the_context_names_the_tool_by_its_defined_name_and_the_session(workspace: Path):
    seen: list[ToolCallContext] = []

    async def record(context: ToolCallContext, call_next: CallNext) -> Any:
        seen.append(context)
        return await call_next()

    write_marker_tool(workspace, name="my-marker")
    async with Session.from_base(workspace, timeout=10, tool_middleware=[record]) as session:
        await session.run("tools.my_marker.echo(text='a'); tools['my-marker']['echo'](text='b')")
    assert [(c.tool_name, c.callable_name, c.args) for c in seen] == [
        ("my-marker", "echo", {"text": "a"}),
        ("my-marker", "echo", {"text": "b"}),
    ]
    assert {c.session_id for c in seen} == {session.session_id}


async def test_a_refusal_reaches_the_code_with_its_message_and_nothing_runs(workspace: Path):
    async def no_writes(context: ToolCallContext, call_next: CallNext) -> Any:
        if context.callable_name == "write":
            raise PermissionError("writing files is not allowed here")
        return await call_next()

    write_marker_tool(workspace)
    marker = workspace / "out.txt"
    async with Session.from_base(workspace, timeout=10, tool_middleware=[no_writes]) as session:
        call = f"tools.marker.write(path={str(marker)!r})"
        code = f"try:\n    {call}\nexcept PermissionError as exc:\n    print(type(exc).__name__, exc)"
        result = await session.run(code)
        assert (await session.run("tools.marker.echo(text='still fine')")).value == "still fine"
    assert result.stdout.startswith("ToolCallRefused the call marker.write was refused: PermissionError: writing files")
    assert not marker.exists()


async def test_a_middleware_cannot_send_the_call_to_another_tool(workspace: Path):
    async def redirect(context: ToolCallContext, call_next: CallNext) -> Any:
        return await call_next(replace(context, callable_name="write"))

    write_marker_tool(workspace)
    async with Session.from_base(workspace, timeout=10, tool_middleware=[redirect]) as session:
        result = await session.run("tools.marker.echo(text='x')")
    assert result.error_info is not None and result.error_info.type == "InvalidArgument"
    assert "cannot change callable_name" in result.error_info.message


async def test_tool_middleware_must_be_callables():
    with pytest.raises(TypeError, match="is not callable"):
        Session.from_base(".", tool_middleware=["audit"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="must be a list"):
        Session.from_base(".", tool_middleware="audit")  # type: ignore[arg-type]


async def test_a_yaml_approval_without_an_approver_is_refused_and_nothing_runs(session: Session, workspace: Path):
    write_marker_tool(workspace, "approval: required\n")
    marker = workspace / "out.txt"
    result = await session.run(f"tools.marker.write(path={str(marker)!r})")
    assert result.error_info is not None and result.error_info.type == "ApprovalDenied"
    assert "there is nobody to ask" in result.error_info.message
    assert not marker.exists()


async def test_an_approver_given_to_run_decides(workspace: Path):
    asked: list[tuple[str, str]] = []

    async def only_echo(context: ToolCallContext, reason: str) -> bool:
        asked.append((context.qualified_name, reason))
        return context.callable_name == "echo"

    write_marker_tool(workspace)
    marker = workspace / "out.txt"
    gate = ApprovalGate(["marker.*"])
    async with Session.from_base(workspace, timeout=10, tool_middleware=[gate]) as session:
        allowed = await session.run("tools.marker.echo(text='ok')", approver=only_echo)
        refused = await session.run(f"tools.marker.write(path={str(marker)!r})", approver=only_echo)
        later = await session.run("tools.marker.echo(text='ok')")  # the approver was this run's only
    assert allowed.value == "ok"
    assert refused.error_info is not None and refused.error_info.type == "ApprovalDenied"
    assert "was declined" in refused.error_info.message
    assert later.error_info is not None and "nobody to ask" in later.error_info.message
    assert asked == [
        ("marker.echo", "the server requires approval for 'marker.*'"),
        ("marker.write", "the server requires approval for 'marker.*'"),
    ]
    assert not marker.exists()


async def test_an_mcp_server_s_tool_is_gated_by_its_name_in_any_spelling(workspace: Path):
    asked: list[str] = []

    async def refuse(context: ToolCallContext, reason: str) -> bool:
        asked.append(context.qualified_name)
        return False

    write_tiny_mcp_tool(workspace)
    tiny = workspace / "tools" / "tiny.yaml"
    tiny.write_text(tiny.read_text().replace("name: tiny", "name: tiny-server"))
    gate = ApprovalGate(["Tiny_Server.ADD"])
    async with Session.from_base(workspace, timeout=20, tool_middleware=[gate]) as session:
        refused = await session.run("tools.tiny_server.add(a=1, b=2)", approver=refuse)
        free = await session.run("tools['tiny-server'].whoami()", approver=refuse)
    assert refused.error_info is not None and refused.error_info.type == "ApprovalDenied"
    assert free.error_info is None
    assert asked == ["tiny-server.add"]
