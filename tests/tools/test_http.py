"""HTTP tools against a local API."""

from __future__ import annotations

import pytest

from codemode.errors import InvalidArgument, ToolFailed
from codemode.tools.http import HttpTool
from codemode.tools.spec import HttpToolSpec

pytestmark = pytest.mark.anyio


def api(api_url: str, **extra: object) -> HttpTool:
    spec = HttpToolSpec.model_validate(
        {
            "name": "api",
            "type": "http",
            "base_url": api_url,
            "endpoints": {
                "repo": {"path": "/repos/{owner}/{repo}", "params": {"state": {"in": "query", "default": "open"}}},
                "create": {"method": "post", "path": "/items", "params": {"title": {"in": "body", "required": True}}},
                "text": {"path": "/text"},
                "missing": {"path": "/nothing"},
            },
            **extra,
        }
    )
    return HttpTool(spec)


async def test_path_and_query_parameters_build_the_request(api_url: str):
    tool = api(api_url)
    body = await tool.call("repo", {"owner": "a b", "repo": "r/x"})
    assert body["path"] == "/repos/a%20b/r%2Fx"  # quoted: a value cannot change the path
    assert body["query"] == {"state": ["open"]}
    await tool.aclose()


async def test_body_parameters_are_sent_as_json(api_url: str):
    tool = api(api_url)
    assert await tool.call("create", {"title": "hello"}) == {"received": {"title": "hello"}}
    await tool.aclose()


async def test_non_json_responses_come_back_as_text(api_url: str):
    tool = api(api_url)
    assert await tool.call("text", {}) == "plain text"
    await tool.aclose()


async def test_an_error_status_names_the_status_and_the_body(api_url: str):
    tool = api(api_url)
    with pytest.raises(ToolFailed, match="returned HTTP 404: .*Not Found"):
        await tool.call("missing", {})
    await tool.aclose()


async def test_headers_read_environment_variables(api_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("API_TOKEN", "secret")
    tool = api(api_url, headers={"Authorization": "Bearer ${API_TOKEN}"})
    assert (await tool.call("repo", {"owner": "o", "repo": "r"}))["auth"] == "Bearer secret"
    await tool.aclose()


async def test_missing_and_unknown_arguments_are_refused(api_url: str):
    tool = api(api_url)
    with pytest.raises(InvalidArgument, match="needs argument"):
        await tool.call("repo", {"owner": "o"})
    with pytest.raises(InvalidArgument, match="unknown argument"):
        await tool.call("repo", {"owner": "o", "repo": "r", "sort": "x"})
    with pytest.raises(InvalidArgument, match="no endpoint 'nope'"):
        await tool.call("nope", {})
    await tool.aclose()


async def test_an_unreachable_server_is_a_clear_error():
    tool = HttpToolSpec.model_validate(
        {"name": "down", "type": "http", "base_url": "http://127.0.0.1:9", "endpoints": {"x": {"path": "/"}}}
    )
    client = HttpTool(tool)
    with pytest.raises(ToolFailed, match="request failed"):
        await client.call("x", {})
    await client.aclose()
