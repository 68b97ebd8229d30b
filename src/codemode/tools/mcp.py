"""MCP tools: an upstream MCP server whose tools become ``tools.<name>.<tool>``.

The server is declared in YAML (``type: mcp``) or comes from an ``mcpServers`` file
(see ``mcp_config.py``); either way it is one :class:`~codemode.tools.spec.McpToolSpec`.
The official client connects on first use and stays connected. The SDK's client
must be entered and left by the same task, so each connection has an owner task
in the workspace's task group: it opens the client, then waits until asked to
close. Calls come from any task. A connection that breaks is opened again on
the next call; the server's tool list is kept per connection (and dropped when the
server says it changed).

A server over stdio runs on the host with an allow-list environment (plus the
SDK's few defaults), the server's ``--pass-env`` names and what its ``env`` declares.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
import httpx2
from anyio.abc import TaskGroup, TaskStatus
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
    Tool,
    ToolListChangedNotification,
)

from codemode.errors import InvalidArgument, ToolFailed, ToolNotFound
from codemode.sandbox.environment import host_environment
from codemode.tools.spec import McpToolSpec, expand_env
from codemode.worker.signatures import python_name
from codemode.worker.tool_namespace import PICTURES

logger = logging.getLogger(__name__)

RETRY_AFTER = 30.0
"""Seconds a listing reports a server that could not be reached before it tries again (a call always tries)."""
MAX_PAGES = 100  # of tools/list: a server that keeps handing out cursors is cut off here


class McpServerTool:
    """One MCP server, connected lazily and kept alive."""

    def __init__(self, spec: McpToolSpec, tasks: TaskGroup, cwd: str | None, pass_env: Sequence[str] = ()) -> None:
        self.spec = spec
        self._tasks = tasks
        self._cwd = spec.cwd or cwd
        self._pass_env = tuple(pass_env)
        self._client: Client | None = None
        self._stop = anyio.Event()
        self._lock = anyio.Lock()
        self._tools: list[Tool] | None = None
        self._failure: tuple[float, str] | None = None  # when the last connection attempt failed, and why

    async def list_tools(self) -> list[Tool]:
        """The server's tools (connecting if need be); ``ToolFailed`` if it cannot be reached."""
        tools = self._tools
        if tools is None:
            client = await self._connected()
            tools = self._tools = await self._guard(_all_tools(client))
        return tools

    async def listing(self) -> tuple[list[Tool] | None, str | None]:
        """For listings, which must not fail: the tools, or why the server cannot be reached.

        A server that failed within the last ``RETRY_AFTER`` seconds is not tried again here.
        """
        failure = self._failure
        if self._tools is None and failure is not None and time.monotonic() - failure[0] < RETRY_AFTER:
            return None, failure[1]
        try:
            return await self.list_tools(), None
        except ToolFailed as exc:
            return None, str(exc)

    async def call(self, tool: str | None, args: dict[str, Any]) -> Any:
        tools = {item.name: item for item in await self.list_tools()}
        name = _resolve(tool, tools)
        if name is None:
            what = (
                f"has no tool {tool!r}"
                if tool is not None
                else f"is not called itself: call tools.{python_name(self.spec.name)}.<tool>(...)"
            )
            raise ToolNotFound(f"MCP server {self.spec.name!r} {what}; it has: {', '.join(tools) or 'none'}")
        arguments = _arguments(f"{self.spec.name}.{name}", tools[name].input_schema, args)
        client = await self._connected()
        result = await self._guard(client.call_tool(name, arguments, read_timeout_seconds=self.spec.timeout))
        return _result_value(self.spec.name, name, result, tools[name].output_schema)

    async def aclose(self) -> None:
        self._stop.set()

    async def _connected(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._stop = anyio.Event()
                failure: list[BaseException] = []
                try:
                    with anyio.fail_after(self.spec.timeout):
                        await self._tasks.start(self._own, failure)
                except TimeoutError:
                    failure.append(TimeoutError(f"no answer within {self.spec.timeout:g}s"))
                if failure:
                    message = f"cannot connect to MCP server {self.spec.name!r}: {_describe(failure[0])}"
                    self._failure = (time.monotonic(), message)
                    raise ToolFailed(message)
                self._failure = None
            assert self._client is not None
            return self._client

    async def _own(self, failure: list[BaseException], *, task_status: TaskStatus[None]) -> None:
        started = False
        try:
            async with Client(self._transport(), message_handler=self._on_message) as client:
                self._client = client
                started = True
                task_status.started()
                await self._stop.wait()
        except Exception as exc:  # noqa: BLE001 - reported to the caller, or logged once connected
            if not started:
                failure.append(exc)
            else:
                logger.warning("MCP server %s disconnected: %s", self.spec.name, _describe(exc))
        finally:
            self._client = None
            self._tools = None
            if not started:
                task_status.started()

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            self._tools = None  # listed again on next use

    def _transport(self) -> Any:
        spec = self.spec
        if spec.transport == "stdio":
            assert spec.command is not None
            names, values = spec.passed_env()
            env = host_environment((*self._pass_env, *names)) | values
            return StdioServerParameters(command=spec.command, args=spec.args, env=env, cwd=self._cwd)
        assert spec.url is not None
        headers = {key: expand_env(value) for key, value in spec.headers.items()}
        if spec.transport == "sse":
            return sse_client(expand_env(spec.url), headers=headers)
        http_client = httpx2.AsyncClient(headers=headers, timeout=spec.timeout)
        return streamable_http_client(expand_env(spec.url), http_client=http_client)

    async def _guard(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._stop.set()  # start over next time
            raise ToolFailed(f"MCP server {self.spec.name!r} refused: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - a broken connection: start over next time
            self._stop.set()
            raise ToolFailed(f"MCP server {self.spec.name!r} failed: {_describe(exc)}") from None


async def _all_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _resolve(name: str | None, tools: dict[str, Tool]) -> str | None:
    """The tool's own name: ``create_entities`` finds ``create-entities`` when no tool is called that."""
    if name is None or name in tools:
        return name
    matches = [real for real in tools if python_name(real) == name]
    return matches[0] if len(matches) == 1 else None


def _arguments(label: str, schema: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """``args`` under the schema's names (Python names mapped back); missing or unknown ones refused here."""
    found = schema.get("properties")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    by_python = {python_name(name): name for name in properties}
    mapped = {key if key in properties else by_python.get(key, key): value for key, value in args.items()}
    missing = [name for name in schema.get("required") or () if name not in mapped]
    if missing:
        raise InvalidArgument(f"{label} needs argument(s) {', '.join(missing)}")
    unknown = sorted(set(mapped) - set(properties))
    if unknown and properties and not schema.get("additionalProperties"):
        raise InvalidArgument(
            f"{label} got unknown argument(s) {', '.join(unknown)}; it takes: {', '.join(properties)}"
        )
    return mapped


def _result_value(server: str, tool: str, result: CallToolResult, output_schema: dict[str, Any] | None) -> Any:
    """Python data: structured content, else JSON text parsed, else text; pictures tagged for the run's display."""
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    if result.is_error:
        detail = " ".join(texts) or (json.dumps(result.structured_content) if result.structured_content else "")
        raise ToolFailed(f"{server}.{tool} returned an error: {detail or '(no message)'}")
    if result.structured_content is not None:
        value = _unwrap(result.structured_content, output_schema)
    else:
        value = _content_value(result)
    pictures = [picture for block in result.content if (picture := _picture(block)) is not None]
    return {PICTURES: pictures, "value": value} if pictures else value


def _content_value(result: CallToolResult) -> Any:
    parts: list[Any] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(_parsed(block.text))
        elif isinstance(block, EmbeddedResource) and isinstance(block.resource, TextResourceContents):
            parts.append(block.resource.text)
        elif not isinstance(block, ImageContent):  # audio, links, binary resources: as the server sent them
            parts.append(block.model_dump(mode="json", by_alias=True, exclude_none=True))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return "\n".join(parts) if all(isinstance(part, str) for part in parts) else parts


def _parsed(text: str) -> Any:
    """JSON objects and arrays in a text become data; other text stays text (an id like "007" is not a number)."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _picture(block: Any) -> dict[str, Any] | None:
    if not isinstance(block, ImageContent):
        return None
    try:
        return {"mime_type": block.mime_type, "data": base64.b64decode(block.data, validate=True)}
    except (binascii.Error, ValueError):
        logger.warning("an MCP server sent a picture that is not valid base64; left out")
        return None


def _unwrap(value: Any, output_schema: dict[str, Any] | None) -> Any:
    """SDK servers wrap a plain return value as ``{"result": value}``; give code the value itself."""
    properties = (output_schema or {}).get("properties")
    if (
        isinstance(value, dict)
        and list(value) == ["result"]
        and properties is not None
        and list(properties) == ["result"]
    ):
        return value["result"]
    return value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
