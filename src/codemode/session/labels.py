"""Labels: a session's small ``key: value`` tags (AGB's session labels), checked here and only here.

A label set is at most ``MAX_LABELS`` pairs of non-empty strings, keys up to
``MAX_KEY_CHARS`` and values up to ``MAX_VALUE_CHARS`` characters. A bad set is
refused as a whole, with a message that names the offending entry, so nothing
half-applied is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from codemode.errors import InvalidArgument
from codemode.names import shortened

MAX_LABELS = 64
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
LABEL_RULE = (
    f"labels are at most {MAX_LABELS} pairs of non-empty strings: keys up to {MAX_KEY_CHARS} characters, "
    f"values up to {MAX_VALUE_CHARS}"
)


def validate_labels(labels: object) -> dict[str, str]:
    """A copy of ``labels`` if every entry is valid, else :class:`InvalidArgument` naming the bad one."""
    if not isinstance(labels, Mapping):
        raise InvalidArgument(f"labels must be a dict of strings, not {type(labels).__name__}; {LABEL_RULE}")
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"{len(labels)} labels are too many; {LABEL_RULE}")
    for key, value in labels.items():
        problem = _problem(key, value)
        if problem is not None:
            raise InvalidArgument(f"label {shortened(repr(key))}: {problem}; {LABEL_RULE}")
    return dict(labels)


def has_labels(labels: Mapping[str, str], wanted: Mapping[str, str] | None) -> bool:
    """True if ``labels`` carries every pair of ``wanted`` (no filter: always)."""
    return not wanted or wanted.items() <= labels.items()


def _problem(key: object, value: object) -> str | None:
    if problem := _text_problem("key", key, MAX_KEY_CHARS):
        return problem
    if value is None:
        return "the value is None"
    return _text_problem("value", value, MAX_VALUE_CHARS)


def _text_problem(part: str, text: object, max_chars: int) -> str | None:
    if not isinstance(text, str):
        return f"the {part} must be a string, not {type(text).__name__}"
    if not text:
        return f"the {part} is empty"
    if len(text) > max_chars:
        return f"the {part} has {len(text)} characters, more than {max_chars}"
    return None
