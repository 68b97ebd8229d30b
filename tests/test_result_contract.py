"""The result of ``Session.run``: py-code-mode's contract (value, error, is_ok, stdout, execution_time_ms)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from codemode import ExecutionResult, Session
from codemode.executors._results import from_outcome
from codemode.worker.interpreter import decode_literal, encode_literal

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["subprocess", "inprocess"])
async def any_session(request: pytest.FixtureRequest, workspace: Path) -> AsyncIterator[Session]:
    """Both executors: the contract is the same."""
    factory = Session.subprocess if request.param == "subprocess" else Session.inprocess
    async with factory(workspace, timeout=10) as session:
        yield session


async def test_a_number_comes_back_as_the_number(any_session: Session):
    result = await any_session.run("2 + 2")
    assert result.value == 4 and type(result.value) is int
    assert result.value_repr == "4"


async def test_a_string_comes_back_as_the_string_and_its_repr_beside_it(any_session: Session):
    result = await any_session.run("'hi'")
    assert (result.value, result.value_repr) == ("hi", "'hi'")


async def test_plain_data_crosses_faithfully(any_session: Session):
    code = "(1, 'a', b'\\x00\\xff', {1: [2.5, None], (1, 2): {'k': True}}, {3}, frozenset({4}), -0.0, 10**30)"
    value = (await any_session.run(code)).value
    assert value == (1, "a", b"\x00\xff", {1: [2.5, None], (1, 2): {"k": True}}, {3}, frozenset({4}), -0.0, 10**30)
    assert [type(item) for item in value] == [int, str, bytes, dict, set, frozenset, float, int]


async def test_special_floats_cross_faithfully(any_session: Session):
    nan, inf, minus_inf = (await any_session.run("float('nan'), float('inf'), float('-inf')")).value
    assert math.isnan(nan) and (inf, minus_inf) == (math.inf, -math.inf)


async def test_a_false_value_is_falsy(any_session: Session):
    assert (await any_session.run("artifacts.delete('nothing-here')")).value is False


async def test_a_namespace_listing_is_a_list(any_session: Session):
    assert (await any_session.run("tools.list()")).value == []


async def test_an_object_that_is_not_plain_data_is_its_repr(any_session: Session):
    result = await any_session.run("class Point:\n    def __repr__(self):\n        return 'Point()'\nPoint()")
    assert (result.value, result.value_repr) == ("Point()", "Point()")


async def test_subclasses_of_builtins_are_not_taken_for_them(any_session: Session):
    result = await any_session.run("import collections\ncollections.OrderedDict(a=1)")
    assert isinstance(result.value, str) and result.value == result.value_repr


async def test_a_self_containing_list_is_its_repr(any_session: Session):
    assert (await any_session.run("x = [1]\nx.append(x)\nx")).value == "[1, [...]]"


async def test_a_value_too_big_to_send_whole_is_its_cut_repr(workspace: Path):
    async with Session.inprocess(workspace, timeout=10) as session:
        result = await session.run("list(range(100_000))")
    assert isinstance(result.value, str) and "characters cut" in result.value
    assert result.truncated


async def test_no_value_is_none(any_session: Session):
    result = await any_session.run("x = 1")
    assert (result.value, result.value_repr) == (None, None)


async def test_error_is_the_message_and_its_detail_is_beside_it(any_session: Session):
    result = await any_session.run("x = 1\nraise ValueError('bad input')")
    assert result.error == "ValueError: bad input"
    assert "ValueError" in result.error and result.error.lower() == "valueerror: bad input"
    assert result.error_info is not None
    assert (result.error_info.type, result.error_info.message, result.error_info.line) == ("ValueError", "bad input", 2)
    assert "raise ValueError" in result.error_info.traceback
    assert result.is_ok is False


async def test_success_has_no_error(any_session: Session):
    result = await any_session.run("print('out')")
    assert (result.error, result.error_info, result.is_ok, result.stdout) == (None, None, True, "out\n")


async def test_execution_time_ms_is_the_duration(any_session: Session):
    result = await any_session.run("sum(range(1000))")
    assert result.execution_time_ms == result.duration_ms > 0


def test_the_literal_encoding_round_trips():
    value = [None, True, 1, 1.5, "s", b"b", (1,), {2}, frozenset(), {"k": {(1, "x"): b""}}]
    assert decode_literal(encode_literal(value)) == value


def test_values_that_are_not_plain_data_have_no_literal():
    class Int(int):
        pass

    deep: list[object] = []
    for _ in range(100):
        deep = [deep]
    assert [encode_literal(item) for item in (Int(1), object(), deep, "\udc80", range(3))] == [None] * 5


@pytest.mark.parametrize(
    "forged",
    [
        {"__reduce__": ["os.system", ["true"]]},  # an unknown tag
        {"tuple": [1], "set": [2]},  # two tags
        {"set": [[1, 2]]},  # an unhashable set item
        {"dict": [[[1], 2]]},  # an unhashable key
        {"dict": [[1]]},  # not a pair
        {"bytes": "not base64!"},
        {"float": "1e400"},  # only nan and infinities are tagged
    ],
)
def test_the_host_refuses_anything_but_encoded_literals(forged: object):
    with pytest.raises(ValueError):
        decode_literal(forged)


def test_a_forged_literal_falls_back_to_the_repr():
    result = from_outcome({"value": "'shown'", "literal": {"__import__": "os"}, "error": None})
    assert result.value == "'shown'"


def test_a_result_built_by_hand_takes_py_code_modes_error_and_execution_time():
    failed = ExecutionResult(value=None, stdout="", error="Something broke", execution_time_ms=12.5)
    assert (failed.error, failed.is_ok, failed.duration_ms, failed.execution_time_ms) == (
        "Something broke",
        False,
        12.5,
        12.5,
    )
    assert (failed.error_info.type, failed.error_info.message) == ("Error", "Something broke")  # type: ignore[union-attr]
    typed = ExecutionResult(value=None, stdout="", error="ValueError: bad input")
    assert (typed.error_info.type, typed.error_info.message) == ("ValueError", "bad input")  # type: ignore[union-attr]
    assert ExecutionResult(value=42, stdout="", error=None).is_ok


def test_a_traceback_given_as_error_gives_its_exception_and_is_kept():
    text = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\nKeyError: 'k'\n"
    info = ExecutionResult(error=text).error_info
    assert info is not None and (info.type, info.message, info.traceback) == ("KeyError", "'k'", text)


def test_a_result_comes_back_whole_from_its_json():
    for result in (ExecutionResult(error="Something broke", duration_ms=3), ExecutionResult(value=[1], stdout="x")):
        again = ExecutionResult.model_validate(result.model_dump())
        assert again.model_dump() == result.model_dump()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"backend_info": {"session_id": "abc"}}, r"unknown field\(s\) backend_info .*allowed: value, "),
        ({"stdot": "typo"}, r"unknown field\(s\) stdot"),
        ({"error": "A: b", "error_info": {"type": "C", "message": "d"}}, "error='A: b' contradicts"),
        ({"is_ok": False}, "is_ok=False contradicts"),
        ({"duration_ms": 1, "execution_time_ms": 2}, "execution_time_ms=2 contradicts"),
        ({"error": 3}, "error must be a string"),
    ],
)
def test_a_result_built_by_hand_refuses_unknown_or_contradictory_fields(fields: dict[str, object], says: str):
    with pytest.raises(ValidationError, match=says):
        ExecutionResult(**fields)  # type: ignore[arg-type]
