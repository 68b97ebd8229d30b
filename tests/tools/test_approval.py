"""Approval rules: which calls need approval, the question a person is asked, and the gate failing closed."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from codemode import ApprovalDenied, ApprovalGate, ToolCallContext
from codemode.errors import InvalidArgument
from codemode.tools.approval import check_patterns, matching_pattern, question, spec_approval
from codemode.tools.middleware import ToolChain
from codemode.tools.spec import parse_tool_file
from tests.tools.test_middleware import MARKER

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("pattern", "tool", "callable_name"),
    [
        ("github.*", "github", "get_repo"),
        ("memory.delete_*", "memory", "delete_entities"),
        ("curl.post", "curl", "post"),
        ("curl", "curl", "get"),  # a tool alone: all of it
        ("CURL.POST", "curl", "post"),  # case does not matter
        ("my_tool.*", "my-tool", "x"),  # nor '-' against '_'
        ("my-tool.run", "my-tool", "run"),
        ("memory.delete_*", "memory", None),  # a direct call can do what any callable does
        ("memory.delete-entities", "memory", "delete_entities"),  # the server's name, the Python name
        ("memory.delete_entities", "memory", "delete.entities"),  # and the other way round
        ("srv.from", "srv", "from_"),  # a keyword's Python name
        ("srv.2x", "srv", "_2x"),  # a name that starts with a digit
        ("*", "anything", "at_all"),
    ],
)
def test_a_pattern_covers_these_calls(pattern: str, tool: str, callable_name: str | None):
    assert matching_pattern([pattern], tool, callable_name) == pattern


@pytest.mark.parametrize(
    ("pattern", "tool", "callable_name"),
    [
        ("github.*", "gitlab", "get_repo"),
        ("memory.delete_*", "memory", "read_graph"),
        ("curl.post", "curl", "get"),
        ("curl.post", "curly", "post"),
    ],
)
def test_a_pattern_leaves_other_calls_alone(pattern: str, tool: str, callable_name: str | None):
    assert matching_pattern([pattern], tool, callable_name) is None


@pytest.mark.parametrize("bad", ["", "curl post", "curl.", ".post", "a\nb", "curl.po st", "x" * 65])
def test_bad_patterns_are_refused_saying_what_is_allowed(bad: str):
    with pytest.raises(InvalidArgument, match="TOOL or TOOL.CALLABLE"):
        check_patterns([bad])


def test_one_string_is_not_a_list_of_patterns():
    with pytest.raises(InvalidArgument, match="a list of globs"):
        check_patterns("curl.post")


def _spec(extra: str = "", recipe_extra: str = "") -> Any:
    text = MARKER.replace("      text: {default: written}\n", f"      text: {{default: written}}\n{recipe_extra}")
    loaded = parse_tool_file("marker.yaml", (text + extra).encode())
    assert loaded.spec is not None, loaded.problem
    assert loaded.warning is None
    return loaded.spec


def test_yaml_approval_on_a_tool_covers_every_call_of_it():
    spec = _spec("approval: required\n")
    assert spec_approval(spec, "echo") == "the definition of tool 'marker' says approval: required"
    assert spec_approval(spec, None) is not None


def test_yaml_approval_on_a_recipe_covers_it_and_the_direct_call_only():
    spec = _spec(recipe_extra="    approval: required\n")
    assert spec_approval(spec, "write") == "the definition of marker.write says approval: required"
    assert spec_approval(spec, "echo") is None
    assert spec_approval(spec, None) == "a direct call of 'marker' can do what marker.write does, which needs approval"


@pytest.mark.parametrize("value", ["yes", "true", "optional"])
def test_another_approval_value_leaves_the_tool_out_with_a_problem(value: str):
    loaded = parse_tool_file("marker.yaml", (MARKER + f"approval: {value}\n").encode())
    assert loaded.spec is None
    assert "marker.yaml: field 'approval'" in (loaded.problem or "")


def _context(**changes: Any) -> ToolCallContext:
    fields: dict[str, Any] = {"tool_name": "curl", "callable_name": "post", "args": {"url": "https://x.test"}}
    return ToolCallContext(**{**fields, **changes, "session_id": "abcdefgh12345"})


def test_the_question_names_the_tool_and_shows_its_arguments_as_compact_json():
    text = question(_context(args={"url": "https://x.test", "data": '{"a": 1}'}), "the server requires it")
    assert text == (
        'Code in session abcdefgh wants to call curl.post with arguments {"data":"{\\"a\\": 1}","url":"https://x.test"}.'
        " Allow this call? (Approval needed: the server requires it.)"
    )


def test_the_question_cuts_long_arguments_and_says_how_much_is_hidden():
    text = question(_context(args={"data": "x" * 5000}), "r", limit=100)
    assert '{"data":"' + "x" * 91 + "… (4911 more characters not shown)" in text


def test_the_question_cuts_a_long_callable_name():
    text = question(_context(callable_name="y" * 1000), "r")
    assert "curl." + "y" * 195 + "… (805 more characters not shown) with arguments" in text


def test_the_question_escapes_what_could_fake_its_layout():
    text = question(_context(callable_name="post\u202e\n", args={"note": "ok\u200b\u2028"}), "r")
    assert "\u202e" not in text and "\u200b" not in text and "\u2028" not in text and "\n" not in text
    assert "curl.post\\u202e\\u000a" in text


async def _through_gate(gate: ApprovalGate, approver: Any, **changes: Any) -> list[str]:
    called: list[str] = []

    async def tool(context: ToolCallContext) -> str:
        called.append(context.qualified_name)
        return "done"

    chain = ToolChain([gate], "abcdefgh12345")
    with chain.approving(approver):
        await chain.call(_context(**changes), tool)
    return called


async def test_the_gate_lets_a_call_through_only_on_a_plain_yes():
    async def says(answer: object) -> Any:
        async def approver(context: ToolCallContext, reason: str) -> Any:
            return answer

        return approver

    gate = ApprovalGate(["curl.post"])
    assert await _through_gate(gate, await says(True)) == ["curl.post"]
    for answer in (False, "yes", 1, None):
        with pytest.raises(ApprovalDenied, match="was declined") as denied:
            await _through_gate(gate, await says(answer))
        assert denied.value.reason == "declined"


async def test_the_gate_asks_nobody_about_calls_that_need_no_approval():
    async def never(context: ToolCallContext, reason: str) -> bool:
        raise AssertionError("asked")

    assert await _through_gate(ApprovalGate(["curl.post"]), never, callable_name="get") == ["curl.get"]


async def test_no_answer_in_time_refuses_the_call():
    async def slow(context: ToolCallContext, reason: str) -> bool:
        await anyio.sleep(10)
        return True

    with pytest.raises(ApprovalDenied, match=r"within 0.05 s") as denied:
        await _through_gate(ApprovalGate(["curl.*"], timeout=0.05), slow)
    assert denied.value.reason == "timeout"


async def test_a_yaml_approval_in_the_context_needs_approval_without_any_pattern():
    with pytest.raises(ApprovalDenied, match="nobody to ask") as denied:
        await _through_gate(ApprovalGate(), None, approval="its definition says so")
    assert denied.value.reason == "no_approver"


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan")])
def test_a_gate_timeout_must_be_positive_and_finite(timeout: float):
    with pytest.raises(InvalidArgument, match="approval timeout"):
        ApprovalGate(timeout=timeout)
