"""MCP tools: a server declared in YAML (``type: mcp``) whose tools become ``tools.<name>.<tool>``.

The official client connects on first use and stays connected. The SDK's client
must be entered and left by the same task, so each connection has an owner task
in the workspace's task group: it opens the client, then waits until asked to
close. Calls come from any task. A connection that breaks is opened again on
the next call.

A server over stdio runs on the host with an allow-list environment (plus the
SDK's few defaults), the server's ``--pass-env`` names and what its ``env`` declares.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import httpx2
from anyio.abc import TaskGroup, TaskStatus
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent, Tool

from codemode.errors import ToolFailed, ToolNotFound
from codemode.sandbox.environment import host_environment
from codemode.tools.spec import McpToolSpec, expand_env

logger = logging.getLogger(__name__)


class McpServerTool:
    """One MCP server, connected lazily and kept alive."""

    def __init__(self, spec: McpToolSpec, tasks: TaskGroup, cwd: str | None, pass_env: Sequence[str] = ()) -> None:
        self.spec = spec
        self._tasks = tasks
        self._cwd = cwd
        self._pass_env = tuple(pass_env)
        self._client: Client | None = None
        self._stop = anyio.Event()
        self._lock = anyio.Lock()
        self._tools: list[Tool] | None = None

    async def list_tools(self) -> list[Tool]:
        tools = self._tools
        if tools is None:
            client = await self._connected()
            tools = self._tools = (await self._guard(client.list_tools())).tools
        return tools

    async def call(self, tool: str | None, args: dict[str, Any]) -> Any:
        tools = {item.name: item for item in await self.list_tools()}
        if tool is None or tool not in tools:
            raise ToolNotFound(
                f"MCP server {self.spec.name!r} has no tool {tool!r}; it has: {', '.join(tools) or 'none'}"
            )
        client = await self._connected()
        result = await self._guard(client.call_tool(tool, args, read_timeout_seconds=self.spec.timeout))
        value = _result_value(self.spec.name, tool, result)
        return _unwrap(value, tools[tool].output_schema)

    async def aclose(self) -> None:
        self._stop.set()

    async def _connected(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._stop = anyio.Event()
                failure: list[BaseException] = []
                await self._tasks.start(self._own, failure)
                if failure:
                    raise ToolFailed(f"cannot connect to MCP server {self.spec.name!r}: {_describe(failure[0])}")
            assert self._client is not None
            return self._client

    async def _own(self, failure: list[BaseException], *, task_status: TaskStatus[None]) -> None:
        started = False
        try:
            async with Client(self._transport()) as client:
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
        except Exception as exc:  # noqa: BLE001 - a broken connection: start over next time
            self._stop.set()
            raise ToolFailed(f"MCP server {self.spec.name!r} failed: {_describe(exc)}") from None


def _result_value(server: str, tool: str, result: CallToolResult) -> Any:
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    if result.is_error:
        raise ToolFailed(f"{server}.{tool} returned an error: {' '.join(texts) or '(no message)'}")
    if result.structured_content is not None:
        return result.structured_content
    others = [block.type for block in result.content if not isinstance(block, TextContent)]
    if others and not texts:
        return {"content": [block.model_dump(mode="json", by_alias=True) for block in result.content]}
    return "\n".join(texts)


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
