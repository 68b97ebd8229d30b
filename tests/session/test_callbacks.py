"""Callbacks: host functions that the session's code calls by name (eryx's Session(callbacks=[...]))."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from codemode import Session
from codemode.errors import InvalidArgument
from codemode.session.callbacks import Callback
from codemode.storage import FileStorage

pytestmark = pytest.mark.anyio


def counter() -> tuple[dict[str, int], Any]:
    state = {"value": 0}

    def increment() -> dict[str, int]:
        state["value"] += 1
        return {"count": state["value"]}

    return state, increment


async def lookup(key: str) -> str:
    if key == "missing":
        raise KeyError(key)
    return key.upper()


@pytest.fixture(params=["subprocess", "inprocess"])
async def session(request: pytest.FixtureRequest, workspace: Path) -> AsyncIterator[Session]:
    _, increment = counter()
    callbacks = [
        {"name": "increment", "fn": increment, "description": "Increment counter"},
        Callback("lookup", lookup, "Upper-case a key"),
    ]
    async with Session(storage=FileStorage(workspace), executor=request.param, callbacks=callbacks) as started:
        yield started


async def test_the_seed_example_counts_across_runs(workspace: Path):
    state, increment = counter()
    callbacks = [{"name": "increment", "fn": increment, "description": "Increment counter"}]
    async with Session(storage=FileStorage(workspace), callbacks=callbacks) as session:
        await session.run("c1 = await increment()")
        await session.run("c2 = await increment()")
        result = await session.run("c3 = await increment(); print(c3['count'])")
    assert result.stdout == "3\n"
    assert state["value"] == 3


async def test_a_callback_can_be_called_with_or_without_await(session: Session):
    assert (await session.run("[increment()['count'], (await increment())['count']]")).value == [1, 2]


async def test_an_async_host_function_is_awaited_on_the_host(session: Session):
    assert (await session.run("lookup('a') + await lookup(key='b')")).value == "AB"


async def test_callbacks_list_names_and_describes_them(session: Session):
    listed = (await session.run("callbacks.list()")).value
    assert [(item["name"], item["description"]) for item in listed] == [
        ("increment", "Increment counter"),
        ("lookup", "Upper-case a key"),
    ]
    assert listed[1]["signature"] == "(key: str) -> str"


async def test_an_error_in_a_callback_is_an_exception_the_code_catches(session: Session):
    code = "try:\n    lookup('missing')\nexcept LookupError as exc:\n    caught = type(exc).__name__\ncaught"
    assert (await session.run(code)).value == "KeyError"


async def test_an_uncaught_callback_error_fails_the_run_naming_the_callback(session: Session):
    result = await session.run("lookup('missing')")
    assert result.error_info is not None
    assert result.error_info.type == "KeyError"
    assert "callback lookup() raised KeyError" in result.error_info.message


async def test_wrong_arguments_raise_a_type_error_in_the_code(session: Session):
    result = await session.run("increment(1, 2)")
    assert result.error_info is not None and result.error_info.type == "TypeError"


async def test_callbacks_survive_a_reset(session: Session):
    await session.reset()
    assert (await session.run("increment()['count']")).value == 1
    await session.reset(hard=True)
    assert (await session.run("increment()['count']")).value == 2


async def test_callbacks_come_back_in_a_worker_that_replaced_a_dead_one(workspace: Path):
    _, increment = counter()
    async with Session(storage=FileStorage(workspace), callbacks=[Callback("increment", increment)]) as session:
        assert (await session.run("import os; os._exit(1)")).state_lost
        assert (await session.run("increment()['count']")).value == 1


async def test_callbacks_are_not_user_variables(session: Session):
    assert "increment" not in await session.executor.request("user_names")


async def test_a_result_that_is_not_json_is_an_error(workspace: Path):
    callbacks = [Callback("opaque", lambda: object())]
    async with Session(storage=FileStorage(workspace), callbacks=callbacks) as session:
        result = await session.run("opaque()")
        assert result.error_info is not None
        assert "opaque() returned a object, which is not JSON data" in result.error_info.message


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        ([Callback("tools", print)], "taken by the session's namespace"),
        ([Callback("not a name", print)], "must be a Python identifier"),
        ([Callback("_hidden", print)], "must be a Python identifier"),
        ([Callback("f", print), {"name": "f", "fn": print}], "two callbacks are named 'f'"),
        ([{"name": "f", "function": print}], "keys name, fn and"),
        ([Callback("f", "not callable")], "fn must be callable"),  # type: ignore[arg-type]
        (["f"], "a callback is a Callback or a dict"),
    ],
)
def test_bad_callbacks_are_refused_at_construction(workspace: Path, callbacks: list[Any], message: str):
    with pytest.raises(InvalidArgument, match=message):
        Session(storage=FileStorage(workspace), callbacks=callbacks)
