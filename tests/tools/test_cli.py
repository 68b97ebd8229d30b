"""CLI tools: argv building (never a shell) and running."""

from __future__ import annotations

import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from codemode.errors import InvalidArgument, ToolFailed
from codemode.tools import cli
from codemode.tools.spec import CliToolSpec, parse_tool_file
from tests.tools.test_spec import PY_CODE_MODE_CURL

pytestmark = pytest.mark.anyio


def curl() -> CliToolSpec:
    spec = parse_tool_file("curl.yaml", PY_CODE_MODE_CURL.encode()).spec
    assert isinstance(spec, CliToolSpec)
    return spec


def python_tool(code: str, **fields: object) -> CliToolSpec:
    spec = {"name": "py", "command": [sys.executable, "-c", code], **fields}
    return CliToolSpec.model_validate(spec)


def test_a_recipe_applies_its_presets():
    assert cli.build(curl(), "get", {"url": "https://x"}).argv == ["curl", "-s", "https://x"]


def test_arrays_repeat_their_flag():
    call = cli.build(curl(), None, {"url": "u", "header": ["A: 1", "B: 2"]})
    assert call.argv == ["curl", "-H", "A: 1", "-H", "B: 2", "u"]


def test_false_booleans_are_left_out():
    assert cli.build(curl(), None, {"url": "u", "silent": False}).argv == ["curl", "u"]


def test_positional_arguments_can_be_given_positionally():
    assert cli.build(curl(), "get", {}, ["https://x"]).argv == ["curl", "-s", "https://x"]


def test_caller_arguments_override_presets():
    assert cli.build(curl(), "json", {"url": "u"}).argv == ["curl", "-s", "-H", "Accept: application/json", "u"]


def test_a_value_that_looks_like_an_option_cannot_become_one():
    assert cli.build(curl(), "get", {"url": "--output=/etc/passwd"}).argv == [
        "curl",
        "-s",
        "--",
        "--output=/etc/passwd",
    ]


def test_shell_characters_stay_literal():
    assert cli.build(curl(), "get", {"url": "x; rm -rf /"}).argv[-1] == "x; rm -rf /"


def test_recipe_defaults_fill_missing_arguments():
    spec = CliToolSpec.model_validate(
        {
            "name": "t",
            "schema": {"options": {"max-time": {"type": "integer"}}, "positional": [{"name": "url"}]},
            "recipes": {"get": {"params": {"url": {}, "max-time": {"default": 30}}}},
        }
    )
    assert cli.build(spec, "get", {"url": "u"}).argv == ["t", "--max-time", "30", "u"]
    assert cli.build(spec, "get", {"url": "u", "max_time": 5}).argv == ["t", "--max-time", "5", "u"]


def test_missing_required_argument_is_a_clear_error():
    with pytest.raises(InvalidArgument, match="needs argument 'url'"):
        cli.build(curl(), "get", {})


def test_unknown_argument_lists_what_is_allowed():
    with pytest.raises(InvalidArgument, match="unknown argument.*verbose.*it takes: url"):
        cli.build(curl(), "get", {"url": "u", "verbose": True})


def test_recipes_expose_only_their_params():
    with pytest.raises(InvalidArgument, match="unknown argument"):
        cli.build(curl(), "get", {"url": "u", "header": ["X: 1"]})


def test_unknown_recipe_lists_the_recipes():
    with pytest.raises(InvalidArgument, match="no recipe 'put'; its recipes: get, json"):
        cli.build(curl(), "put", {"url": "u"})


@pytest.mark.parametrize(("name", "value"), [("silent", "yes"), ("header", "A: 1"), ("url", True), ("url", None)])
def test_values_of_the_wrong_type_are_refused(name: str, value: object):
    args = {"url": "u", name: value}
    if value is None:
        with pytest.raises(InvalidArgument, match="needs argument 'url'"):
            cli.build(curl(), None, args)
        return
    with pytest.raises(InvalidArgument, match=f"argument '{name}' must be"):
        cli.build(curl(), None, args)


async def test_running_returns_stdout(tmp_path: Path):
    spec = python_tool("import sys; print('out'); print('err', file=sys.stderr)")
    assert await cli.run(spec, cli.build(spec, None, {}), tmp_path) == "out\n"


async def test_non_zero_exit_is_an_error_with_stderr(tmp_path: Path):
    spec = python_tool("import sys; print('it broke', file=sys.stderr); sys.exit(3)")
    with pytest.raises(ToolFailed, match="exited with code 3: it broke"):
        await cli.run(spec, cli.build(spec, None, {}), tmp_path)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_a_silent_failure_says_what_its_exit_code_means(tmp_path: Path):
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        with pytest.raises(ToolFailed, match=r"exited with code 7 \(could not connect to the host"):
            await cli.run(curl(), cli.build(curl(), None, {"silent": True, "url": url}), tmp_path)


async def test_an_unknown_exit_code_is_reported_as_is(tmp_path: Path):
    spec = python_tool("import sys; sys.exit(6)")
    with pytest.raises(ToolFailed, match=r"exited with code 6: \(no stderr\)"):
        await cli.run(spec, cli.build(spec, None, {}), tmp_path)


async def test_timeout_kills_the_tool(tmp_path: Path):
    spec = python_tool("import time; time.sleep(30)", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ToolFailed, match="timed out after 0.5s"):
        await cli.run(spec, cli.build(spec, None, {}), tmp_path)
    assert time.monotonic() - started < 5


async def test_stdin_argument_is_fed_to_the_command(tmp_path: Path):
    spec = python_tool("import sys; print(sys.stdin.read().upper())", schema={"stdin": {"name": "text"}})
    assert await cli.run(spec, cli.build(spec, None, {"text": "hello"}), tmp_path) == "HELLO\n"


async def test_a_missing_program_is_a_clear_error(tmp_path: Path):
    spec = CliToolSpec.model_validate({"name": "nope", "command": "no-such-program-here"})
    with pytest.raises(ToolFailed, match="cannot start 'no-such-program-here'"):
        await cli.run(spec, cli.build(spec, None, {}), tmp_path)


async def test_huge_output_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli, "OUTPUT_CAP", 1000)
    spec = python_tool("import sys; sys.stdout.write('x' * 100000)")
    assert len(await cli.run(spec, cli.build(spec, None, {}), tmp_path)) == 1000


def test_a_value_outside_its_pattern_is_refused_naming_the_pattern():
    spec = python_tool(
        "", schema={"positional": [{"name": "name", "pattern": "^[a-z]+$", "description": "lower case"}]}
    )
    assert cli.build(spec, None, {"name": "abc"}).argv[-1] == "abc"
    with pytest.raises(InvalidArgument, match=r"argument 'name' must match the pattern '\^\[a-z\]\+\$' \(lower case\)"):
        cli.build(spec, None, {"name": "ABC"})


def test_each_item_of_an_array_must_match_its_pattern():
    spec = python_tool("", schema={"options": {"tag": {"type": "array", "pattern": "^[^@]"}}})
    with pytest.raises(InvalidArgument, match="argument 'tag' must match"):
        cli.build(spec, None, {"tag": ["ok", "@file"]})


def test_a_pattern_is_part_of_the_schema_code_sees():
    spec = python_tool("", schema={"options": {"tag": {"type": "array", "pattern": "^[^@]"}}})
    assert cli.raw_schema(spec)["properties"]["tag"]["items"] == {"type": "string", "pattern": "^[^@]"}
