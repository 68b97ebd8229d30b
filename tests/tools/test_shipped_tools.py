"""The example tools in the repository's tools/: they run on the host, so no argument may reach its files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codemode.errors import InvalidArgument, ToolFailed
from codemode.tools import cli
from codemode.tools.spec import CliToolSpec, parse_tool_file

pytestmark = pytest.mark.anyio

REPO_TOOLS = Path(__file__).resolve().parents[2] / "tools"
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def shipped(name: str) -> CliToolSpec:
    loaded = parse_tool_file(f"{name}.yaml", (REPO_TOOLS / f"{name}.yaml").read_bytes())
    assert loaded.problem is None and loaded.warning is None, loaded.problem or loaded.warning
    assert isinstance(loaded.spec, CliToolSpec)
    return loaded.spec


@needs_curl
async def test_curl_gets_an_http_url(tmp_path: Path, api_url: str):
    curl = shipped("curl")
    assert await cli.run(curl, cli.build(curl, "get", {"url": f"{api_url}/text"}), tmp_path) == "plain text"


@needs_curl
@pytest.mark.parametrize("url", ["file:///etc/hostname", "telnet://127.0.0.1:6379", "dict://127.0.0.1:6379/info"])
async def test_curl_speaks_http_and_https_only(tmp_path: Path, url: str):
    curl = shipped("curl")
    with pytest.raises(ToolFailed, match="exited with code 1:"):  # "Unsupported protocol"
        await cli.run(curl, cli.build(curl, None, {"url": url, "silent": True}), tmp_path)


def test_curl_sends_data_as_it_is_never_a_file_named_by_it():
    curl = shipped("curl")
    argv = cli.build(curl, "post", {"url": "https://example.org", "data": "@/etc/passwd"}).argv
    assert argv[argv.index("@/etc/passwd") - 1] == "--data-raw"


def test_curl_refuses_a_header_read_from_a_file():
    curl = shipped("curl")
    with pytest.raises(InvalidArgument, match="argument 'header' must match the pattern"):
        cli.build(curl, None, {"url": "https://example.org", "header": ["Accept: */*", "@/etc/passwd"]})


@needs_jq
async def test_jq_runs_a_filter(tmp_path: Path):
    jq = shipped("jq")
    assert await cli.run(jq, cli.build(jq, "query", {"filter": ".a", "input": '{"a": 1}'}), tmp_path) == "1\n"


@pytest.mark.parametrize(
    "program",
    ['import "etc/tokens" as $t {search: "/"}; $t', 'include "x"; .', '"m" | modulemeta', ".a |\nimport"],
)
def test_jq_refuses_filters_that_load_modules_or_files(program: str):
    jq = shipped("jq")
    with pytest.raises(InvalidArgument, match="argument 'filter' must match the pattern"):
        cli.build(jq, "query", {"filter": program, "input": "{}"})
