"""Approvals: tool calls that run only after a person said yes.

A call needs approval when a ``--require-approval`` pattern matches it or its YAML
definition says ``approval: required``. :class:`ApprovalGate` is the middleware that
enforces this: it asks the approver of the run that made the call (the MCP server's
asks the client through elicitation) and lets the call through only on a yes. Every
other outcome, including nobody to ask and no answer in time, refuses the call with
:class:`~codemode.errors.ApprovalDenied` before anything is called: it fails closed.

Patterns are globs over ``tool.callable`` (``github.*``, ``memory.delete_*``, ``curl.post``);
a pattern without a dot names a whole tool. Matching ignores case and treats ``-``, ``.`` and
every other character that cannot be in a Python name like ``_`` (``tools.my_tool`` is the tool
``my-tool``, ``create_entities`` an MCP server's ``create-entities``), so a spelling does not get
around it.
A direct call ``tools.curl(...)`` can do whatever a recipe of curl can (recipes are
presets of the same command), so it needs approval whenever any call of its tool may.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

import anyio

from codemode.errors import ApprovalDenied, InvalidArgument
from codemode.tools.middleware import CallNext, ToolCallContext, ToolChain, check_middleware
from codemode.tools.spec import CliToolSpec, HttpToolSpec, McpToolSpec

DEFAULT_APPROVAL_TIMEOUT = 300.0
"""Seconds an approval question waits for its answer before the call is refused."""

ARGUMENTS_SHOWN = 1000
"""Characters of a call's arguments (compact JSON) that an approval question shows; the rest is cut."""

NAME_SHOWN = 200
"""Characters of the called name (``tool.callable``) that an approval question shows."""

_PATTERN = re.compile(r"[A-Za-z0-9_*?\[\]!-]{1,64}(\.[!-~]{1,200})?")


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Approval patterns, each checked: ``tool`` or ``tool.callable`` globs of printable characters."""
    if isinstance(patterns, str):
        raise InvalidArgument("approval patterns are a list of globs, not one string")
    checked = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
            raise InvalidArgument(
                f"approval pattern {pattern!r} is not valid: give TOOL or TOOL.CALLABLE, globs with * ? [...]"
                " (e.g. github.*, memory.delete_*, curl.post); no spaces"
            )
        checked.append(pattern)
    return tuple(checked)


_NOT_NAME = re.compile(r"[^0-9a-z*?\[\]!]+")


def _fold(name: str) -> str:
    """``name`` as matching compares it: what code may write for it and what the server calls it meet here.

    Code reaches ``create-entities`` (or ``create.entities``, ``from``) of an MCP server as
    ``create_entities`` (``from_``), and may write either; so case is dropped, every run of other
    characters than letters, digits and glob characters is one ``_``, and ``_`` at the ends goes.
    It only ever makes more calls match, never fewer.
    """
    return _NOT_NAME.sub("_", name.lower()).strip("_")


def matching_pattern(patterns: Iterable[str], tool: str, callable_name: str | None) -> str | None:
    """The first pattern that covers a call of ``tool`` (``callable_name`` None: a direct call), if any."""
    for pattern in patterns:
        tool_glob, dot, callable_glob = pattern.partition(".")
        if not fnmatchcase(_fold(tool), _fold(tool_glob)):
            continue
        if not dot or callable_name is None or fnmatchcase(_fold(callable_name), _fold(callable_glob)):
            return pattern
    return None


def spec_approval(spec: CliToolSpec | HttpToolSpec | McpToolSpec, callable_name: str | None) -> str | None:
    """Why ``spec``'s own definition requires approval for this call, or None if it does not."""
    if spec.approval == "required":
        return f"the definition of tool {spec.name!r} says approval: required"
    own = spec.recipes if isinstance(spec, CliToolSpec) else spec.endpoints if isinstance(spec, HttpToolSpec) else {}
    if callable_name is not None:
        entry = own.get(callable_name)
        if entry is not None and entry.approval == "required":
            return f"the definition of {spec.name}.{callable_name} says approval: required"
        return None
    gated = sorted(name for name, entry in own.items() if entry.approval == "required")
    if gated:
        return f"a direct call of {spec.name!r} can do what {spec.name}.{gated[0]} does, which needs approval"
    return None


class ApprovalGate:
    """The middleware that holds calls needing approval until the run's approver says yes.

    ``require``: patterns (``--require-approval``); calls whose YAML says ``approval: required``
    need it too. ``timeout``: seconds to wait for an answer (None: as long as the run lasts).
    A session always has one, innermost: it sees the arguments the call will really get.
    """

    def __init__(self, require: Iterable[str] = (), timeout: float | None = DEFAULT_APPROVAL_TIMEOUT) -> None:
        self.require = check_patterns(require)
        if timeout is not None and not 0 < timeout < float("inf"):
            raise InvalidArgument(f"approval timeout must be a positive number of seconds or None, not {timeout!r}")
        self.timeout = timeout

    def reason(self, context: ToolCallContext) -> str | None:
        """Why this call needs approval, or None if it does not."""
        pattern = matching_pattern(self.require, context.tool_name, context.callable_name)
        if pattern is not None and context.callable_name is None and "." in pattern:
            return f"the server requires approval for {pattern!r}, and a direct call of the tool can do what that does"
        if pattern is not None:
            return f"the server requires approval for {pattern!r}"
        return context.approval

    async def __call__(self, context: ToolCallContext, call_next: CallNext) -> Any:
        reason = self.reason(context)
        if reason is not None:
            await self._approve(context, reason)
        return await call_next()

    async def _approve(self, context: ToolCallContext, reason: str) -> None:
        name = context.qualified_name
        if context.approver is None:
            raise ApprovalDenied(
                f"{name} needs approval ({reason}), and there is nobody to ask: no run with an approver is under"
                " way (outside an MCP request, pass Session.run(approver=...); a thread that outlived its run"
                " has none); the call was not made",
                "no_approver",
            )
        approved = False
        with anyio.move_on_after(self.timeout if self.timeout is not None else float("inf")) as waiting:
            approved = await context.approver(context, reason)
        if waiting.cancelled_caught:
            raise ApprovalDenied(
                f"no answer to the approval request for {name} within {self.timeout:g} s; the call was not made",
                "timeout",
            )
        if approved is not True:  # only a plain yes lets it through
            raise ApprovalDenied(f"the approval request for {name} was declined; the call was not made", "declined")


def session_chain(tool_middleware: object, session_id: str) -> ToolChain:
    """A session's chain: its ``tool_middleware`` (checked), then an :class:`ApprovalGate` unless it has one.

    Innermost, the gate sees the arguments the call will really get; and with it, a YAML
    ``approval: required`` holds in every session.
    """
    middleware = check_middleware(tool_middleware)
    if not any(isinstance(item, ApprovalGate) for item in middleware):
        middleware.append(ApprovalGate())
    return ToolChain(middleware, session_id)


def question(context: ToolCallContext, reason: str, limit: int = ARGUMENTS_SHOWN) -> str:
    """The approval question: which tool, with which arguments (compact JSON, at most ``limit`` characters)."""
    shown: dict[str, Any] = dict(context.args)
    if context.positional:
        shown = {"*args": list(context.positional), **shown}
    arguments = _visible(json.dumps(shown, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=repr))
    if len(arguments) > limit:
        arguments = f"{arguments[:limit]}… ({len(arguments) - limit} more characters not shown)"
    name = _visible(context.qualified_name)
    if len(name) > NAME_SHOWN:  # a callable's name comes from the code: an MCP server's tool may be called anything
        name = f"{name[:NAME_SHOWN]}… ({len(name) - NAME_SHOWN} more characters not shown)"
    return (
        f"Code in session {context.session_id[:8]} wants to call {name}"
        f" with arguments {arguments}. Allow this call? (Approval needed: {_visible(reason)}.)"
    )


def _visible(text: str) -> str:
    """``text`` with control and formatting characters (newlines, bidi overrides, zero-width) escaped.

    What code chose (arguments, a callable's name) must not be able to fake the question's layout.
    """
    return "".join(
        char if unicodedata.category(char) not in {"Cc", "Cf", "Zl", "Zp"} else f"\\u{ord(char):04x}" for char in text
    )


__all__ = [
    "ARGUMENTS_SHOWN",
    "DEFAULT_APPROVAL_TIMEOUT",
    "ApprovalGate",
    "check_patterns",
    "matching_pattern",
    "question",
    "session_chain",
    "spec_approval",
]
