"""Calls from a session's code to the host: ``artifacts.save(...)`` in the worker lands here.

Each method name maps to one coroutine on the workspace. Results cross the
process boundary as JSON data, so models are dumped here; exceptions go back
as errors the code can catch (see ``worker/namespaces.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel

from codemode.errors import InvalidArgument, WorkflowNotFound
from codemode.tools.approval import ApprovalGate
from codemode.tools.middleware import ToolChain
from codemode.workspace.workspace import Workspace

Handler = Callable[..., Awaitable[Any]]


class HostApi:
    """The dispatch table from method names (``"tools.call"``) to workspace operations."""

    def __init__(
        self,
        workspace: Workspace,
        deps_supported: Callable[[], Awaitable[None]],
        extra: Mapping[str, Handler] | None = None,
        tool_chain: ToolChain | None = None,
    ) -> None:
        ws = workspace
        # Without a session's chain, still one gate: a YAML `approval: required` holds everywhere (and fails closed).
        chain = tool_chain if tool_chain is not None else ToolChain([ApprovalGate()], session_id="")

        async def call_tool(
            tool: str, recipe: str | None, args: dict[str, Any], positional: list[Any] | None = None
        ) -> Any:
            return await ws.tools.call(tool, recipe, args, positional, chain)  # the session's middleware

        self._handlers: dict[str, Handler] = {
            "tools.list": _list_of(lambda: _tool_list(ws)),
            "tools.search": _list_of(ws.tools.search, brief=True),
            "tools.recipes": _list_of(ws.tools.callables),
            "tools.signatures": ws.tools.signatures,
            "tools.describe": ws.tools.describe,
            "tools.call": call_tool,
            "workflows.list": _list_of(ws.workflows.list),
            "workflows.search": _list_of(ws.workflows.search),
            "workflows.get": lambda name: _optional(ws.workflows.get(name)),
            "workflows.source": ws.workflows.source,
            "workflows.create": lambda name, source, description="": _dump(ws.workflows.add(name, source, description)),
            "workflows.delete": ws.workflows.remove,
            "artifacts.save": lambda name, data, description="", metadata=None: _dump(
                ws.artifacts.save(name, data, description, metadata)
            ),
            "artifacts.load": ws.artifacts.load,
            "artifacts.list": _list_of(ws.artifacts.list),
            "artifacts.delete": ws.artifacts.delete,
            "deps.list": ws.deps.list,
            "deps.add": lambda package: _after(deps_supported, lambda: _dump(ws.deps.add(package))),
            "deps.remove": lambda package: _after(deps_supported, lambda: _dump(ws.deps.remove(package))),
            "deps.sync": lambda: _after(deps_supported, lambda: _dump(ws.deps.sync())),
        }
        self._handlers.update(extra or {})  # e.g. the session's callbacks
        self._signatures = {method: inspect.signature(handler) for method, handler in self._handlers.items()}

    def add(self, handlers: Mapping[str, Handler]) -> None:
        """More methods: the session's own (``session.*``), the server's (``sessions.*``)."""
        self._handlers.update(handlers)
        self._signatures.update({method: inspect.signature(handler) for method, handler in handlers.items()})

    async def __call__(self, method: str, params: dict[str, Any]) -> Any:
        handler = self._handlers.get(method)
        if handler is None:
            raise InvalidArgument(f"unknown host call {method!r}")
        try:
            self._signatures[method].bind(**params)  # wrong arguments from user code: say so, do not crash
        except TypeError as exc:
            raise InvalidArgument(f"{method}(): {exc}") from None
        return await handler(**params)


async def _tool_list(workspace: Workspace) -> list[BaseModel]:
    return list((await workspace.tools.list()).tools)


def _list_of(method: Callable[..., Awaitable[list[Any]]], brief: bool = False) -> Handler:
    """``brief``: what code prints stays short (search results leave out the fields they do not fill)."""

    async def call(*args: Any, **kwargs: Any) -> list[Any]:
        return [_plain(item, brief) for item in await method(*args, **kwargs)]

    call.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return call


async def _dump(awaitable: Awaitable[BaseModel]) -> Any:
    return _plain(await awaitable)


async def _optional(awaitable: Awaitable[BaseModel]) -> Any:
    try:
        return await _dump(awaitable)
    except WorkflowNotFound:
        return None


async def _after(check: Callable[[], Awaitable[None]], then: Callable[[], Awaitable[Any]]) -> Any:
    await check()
    return await then()


def _plain(item: Any, brief: bool = False) -> Any:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json", by_alias=True, exclude_none=brief)
    return item
