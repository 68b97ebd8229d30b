"""Tool middleware: every tool call that a session's code makes passes a chain of callables first.

Shaped like py-code-mode's ``ToolMiddleware``: a middleware is called with a
:class:`ToolCallContext` and ``call_next``, in the order given, around the call::

    async def audit(context, call_next):
        log.append(context.qualified_name)
        result = await call_next()          # or call_next(replace(context, args={...})): rewritten arguments
        log.append("done")
        return result                       # or another value: the code sees what the chain returns

A middleware refuses a call by raising before ``call_next``: nothing is called upstream,
and the code gets the exception's message (as :class:`~codemode.errors.ToolCallRefused`
unless it raised a codemode error itself). The chain is per session; the tool's own
errors pass through it unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from codemode.errors import CodemodeError, InvalidArgument, ToolCallRefused


@dataclass(frozen=True, kw_only=True)
class ToolCallContext:
    """One call from code to a tool, as the middleware sees it.

    ``tool_name`` is the tool's defined name (``my-tool`` also when code wrote ``tools.my_tool``);
    ``callable_name`` the recipe, endpoint or MCP server tool, None for a direct call
    ``tools.<name>(...)``. To rewrite the arguments, pass ``replace(context, args=...)`` to
    ``call_next`` (or change ``context.args`` in place); which tool is called, and what its
    definition says about approval, cannot change. A middleware may pass another ``approver``.
    """

    tool_name: str
    callable_name: str | None
    args: dict[str, Any]
    positional: tuple[Any, ...] = ()
    session_id: str = ""
    approval: str | None = None
    """Why the tool's own definition requires approval for this call (``approval: required``), if it does."""
    approver: Approver | None = field(default=None, repr=False)
    """What can ask a person to approve this call: set by the session for the run that made it, else None."""

    @property
    def qualified_name(self) -> str:
        """``tool.callable``, or ``tool`` for a direct call: the name ``--require-approval`` patterns match."""
        return self.tool_name if self.callable_name is None else f"{self.tool_name}.{self.callable_name}"


Approver = Callable[[ToolCallContext, str], Awaitable[bool]]
"""``await approver(context, reason)``: True lets the call run; False, or raising
:class:`~codemode.errors.ApprovalDenied`, refuses it (``reason`` says why approval is needed)."""

CallNext = Callable[..., Awaitable[Any]]
"""``await call_next()`` or ``await call_next(context)``: the rest of the chain, then the tool."""


@runtime_checkable
class ToolMiddleware(Protocol):
    """Anything called as ``await middleware(context, call_next)``; returns the call's result."""

    def __call__(self, context: ToolCallContext, call_next: CallNext) -> Awaitable[Any]: ...


Terminal = Callable[[ToolCallContext], Awaitable[Any]]


def check_middleware(middleware: object) -> list[ToolMiddleware]:
    """``tool_middleware`` as given to a session: a list of callables, else a TypeError saying so."""
    if middleware is None:
        return []
    if isinstance(middleware, str | bytes) or not isinstance(middleware, Sequence | Iterator):
        raise TypeError("tool_middleware must be a list of middleware (callables taking context and call_next)")
    items = list(middleware)  # pyright: ignore[reportUnknownArgumentType]
    for item in items:
        if not callable(item):
            raise TypeError(f"tool_middleware: {item!r} is not callable: a middleware is called (context, call_next)")
    return items  # pyright: ignore[reportUnknownVariableType]


class ToolChain:
    """A session's middleware around its code's tool calls, and the approver of the run under way."""

    def __init__(self, middleware: Sequence[ToolMiddleware], session_id: str) -> None:
        self.middleware = tuple(middleware)
        self.session_id = session_id
        self.approver: Approver | None = None

    @contextmanager
    def approving(self, approver: Approver | None) -> Iterator[None]:
        """Calls made meanwhile are approved by ``approver`` (one run: calls after it get none)."""
        previous, self.approver = self.approver, approver
        try:
            yield
        finally:
            self.approver = previous

    async def call(self, context: ToolCallContext, terminal: Terminal) -> Any:
        """Run ``context`` through every middleware, in order, and ``terminal`` (the tool) at the end."""
        context = replace(context, session_id=self.session_id, approver=self.approver)
        raised_by_tool: list[BaseException] = []

        async def invoke(index: int, current: ToolCallContext) -> Any:
            if index == len(self.middleware):
                try:
                    return await terminal(current)
                except Exception as exc:
                    raised_by_tool.append(exc)
                    raise
            step = self.middleware[index]

            async def call_next(next_context: ToolCallContext | None = None) -> Any:
                return await invoke(index + 1, _same_call(current, next_context))

            outcome = step(current, call_next)
            return await outcome if inspect.isawaitable(outcome) else outcome

        try:
            return await invoke(0, context)
        except Exception as exc:
            if isinstance(exc, CodemodeError) or any(exc is own for own in raised_by_tool):
                raise
            # A middleware's own exception is its refusal: the code gets its message, as a permission error.
            raise ToolCallRefused(f"the call {context.qualified_name} was refused: {_said(exc)}") from exc


def _same_call(current: ToolCallContext, given: ToolCallContext | None) -> ToolCallContext:
    if given is None:
        return current
    if not isinstance(given, ToolCallContext):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidArgument(f"call_next takes a ToolCallContext (or nothing), not {type(given).__name__}")
    fixed = ("tool_name", "callable_name", "session_id", "approval")  # what the call is, and what its tool says
    changed = [name for name in fixed if getattr(given, name) != getattr(current, name)]
    if changed:
        raise InvalidArgument(
            f"a tool middleware cannot change {', '.join(changed)} of the call {current.qualified_name}:"
            " change args (or positional) only"
        )
    return given


def _said(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["Approver", "CallNext", "ToolCallContext", "ToolChain", "ToolMiddleware", "check_middleware"]
