"""MkDocs hook: the configuration reference is generated from the command line's own parser.

``docs/reference/configuration.md`` holds the marker ``<!-- cli-reference -->``; at build time it is replaced
by one table per argument group of ``codemode.server.flags.build_parser()`` (flags, default, help) and
the flags ``codemode-mcp check`` adds. So the page cannot drift from the flags the server really takes.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MARKER = "<!-- cli-reference -->"
PAGE = "reference/configuration.md"
# Defaults that build_parser() reads from the environment: the page shows what the code falls back to,
# never a value of the machine that builds the docs (a token, a Redis password in a URL).
ENVIRONMENT_DEFAULTS = ("REDIS_URL", "CODEMODE_AUTH_TOKEN")
# Flags whose value is a size in bytes: their defaults are shown as the command line spells them (2G).
SIZE_UNITS = (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024))
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|])")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace the marker on the configuration page with the generated reference; leave other pages alone."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its {MARKER} marker: the command-line reference has nowhere to go")
    return markdown.replace(MARKER, render_reference())


def render_reference() -> str:
    """Markdown for every flag of ``codemode-mcp`` and of ``codemode-mcp check``."""
    from codemode.server.flags import build_parser
    from codemode.server.check import build_check_parser

    with _documentation_environment():
        parser = build_parser()
        check = build_check_parser()
    lines = ["## Commands", "", "```text", f"{parser.prog} [flags]", f"{check.prog} [flags] [--json]", "```", ""]
    if parser.description:
        lines += [_escape(parser.description), ""]
    for group in parser._action_groups:  # argparse has no public accessor for its groups
        actions = [action for action in group._group_actions if _documented(action)]
        if not actions:
            continue
        title = _group_title(group)
        lines += [f"## {title} {{#{_slug(title)}}}", ""]
        if group.description:
            lines += [_escape(group.description), ""]
        lines += _table(actions)
    server_flags = {flag for action in parser._actions for flag in action.option_strings}
    extra = [a for a in check._actions if _documented(a) and not set(a.option_strings) <= server_flags]
    lines += ["## `codemode-mcp check` {#check}", ""]
    if parser.epilog:
        lines += [_escape(parser.epilog), ""]
    lines += [
        "`codemode-mcp check` takes every flag above (it loads the workspace the way the server would) and these:",
        "",
    ]
    lines += _table(extra)
    return "\n".join(lines)


@contextmanager
def _documentation_environment() -> Iterator[None]:
    """Hide the variables build_parser() takes defaults from, for as long as the parsers are built."""
    saved = {name: os.environ.pop(name) for name in ENVIRONMENT_DEFAULTS if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _documented(action: argparse.Action) -> bool:
    return (
        bool(action.option_strings)
        and action.help != argparse.SUPPRESS
        and not isinstance(action, argparse._HelpAction)
    )


def _group_title(group: argparse._ArgumentGroup) -> str:
    title = group.title or "options"
    if title in {"options", "optional arguments"}:  # argparse's name for the ungrouped flags
        return "General"
    return title[:1].upper() + title[1:]


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _table(actions: list[argparse.Action]) -> list[str]:
    rows = ["| flag | default | what it does |", "|---|---|---|"]
    rows += [f"| {_flags(action)} | {_default(action)} | {_help(action)} |" for action in actions]
    return [*rows, ""]


def _flags(action: argparse.Action) -> str:
    value = _value_name(action)
    spelled = [f"{flag} {value}" if value else flag for flag in action.option_strings]
    return "<br>".join(f"`{flag}`" for flag in spelled)


def _value_name(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None:
        return "|".join(str(choice) for choice in action.choices)
    kind = getattr(action.type, "__name__", "")
    for word, name in (("size", "SIZE"), ("seconds", "SECONDS"), ("int", "N"), ("limit", "N"), ("Path", "PATH")):
        if word in kind:
            return name
    return action.dest.upper()


def _default(action: argparse.Action) -> str:
    default = action.default
    if isinstance(action, argparse._VersionAction):
        return "–"
    if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):
        return "on" if default else "off"
    if default is None or default == [] or default == argparse.SUPPRESS:
        return "–"
    if isinstance(default, Path):
        return f"`{default}`"
    if isinstance(default, int) and _is_size(action):
        return f"`{_size(default)}`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


def _is_size(action: argparse.Action) -> bool:
    return "size" in getattr(action.type, "__name__", "")


def _size(value: int) -> str:
    for unit, scale in SIZE_UNITS:
        if value >= scale and value % scale == 0:
            return f"{value // scale}{unit}"
    return str(value)


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:  # argparse's own placeholders, e.g. %(default)s
        text = text % {**vars(action), "prog": "codemode-mcp"}
    if isinstance(action, argparse._VersionAction):
        text = text or "print the version and exit"
    if not text and action.choices is not None:
        text = f"one of: {', '.join(map(str, action.choices))}"
    if action.choices is not None and action.metavar is not None:
        text += f" (one of: {', '.join(map(str, action.choices))})"
    return _escape(text)


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
