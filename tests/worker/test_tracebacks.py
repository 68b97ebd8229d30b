"""Tracebacks of user code point at the right place in the cell."""

from __future__ import annotations

import pytest

from codemode import Session

pytestmark = pytest.mark.anyio


def _caret_column(traceback: str, source_line: str) -> tuple[int, int]:
    """Where the carets start, and where the failing name starts, in the traceback's own layout."""
    lines = traceback.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == source_line)
    shown, carets = lines[at], lines[at + 1]
    return carets.index("^"), shown.index("undefined_name")


async def test_carets_are_under_the_failing_expression_on_the_last_line(session: Session):
    result = await session.run("x = 1\ny = x + undefined_name")  # no final newline
    assert result.error_info is not None
    caret, name = _caret_column(result.error_info.traceback, "y = x + undefined_name")
    assert caret == name


async def test_carets_are_under_the_failing_expression_before_the_last_line(session: Session):
    result = await session.run("y = 1 + undefined_name\nz = 2")
    assert result.error_info is not None
    caret, name = _caret_column(result.error_info.traceback, "y = 1 + undefined_name")
    assert caret == name
