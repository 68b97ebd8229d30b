"""The one rule for names that users choose: workflows, artifacts, sessions, label keys.

A name is checked here before it is used anywhere, in particular before it is
ever joined into a path or a Redis key.
"""

from __future__ import annotations

import re

from codemode.errors import InvalidName

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"
NAME_RULE = (
    "a name starts with a letter or '_', continues with letters, digits, '_', '.' or '-', "
    "and has at most 128 characters"
)
_NAME = re.compile(NAME_PATTERN)


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it is valid, else raise :class:`InvalidName` saying why."""
    if not isinstance(name, str):
        raise InvalidName(f"{what} must be a string, not {type(name).__name__}")
    if not _NAME.fullmatch(name):
        raise InvalidName(f"{what} {shortened(name)!r} is not allowed: {NAME_RULE}")
    return name


def shortened(text: str, max_chars: int = 60) -> str:
    """``text`` cut to ``max_chars`` (with "..."), to quote what a user sent in an error message."""
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."
