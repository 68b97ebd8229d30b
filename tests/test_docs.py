"""The README stays a short front page, and its links into the documentation lead somewhere.

The site itself is checked by ``mkdocs build --strict`` in ``.ci/run`` (broken links, missing pages,
the generated configuration reference); these tests only read files, so they stay fast.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_LINES = 400
SETUP_COMMANDS = ("uv run codemode-mcp --base .", "uv run pytest")

# [text](target) and [text]: target, ignoring images' leading "!" (an image link is a link too)
_INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _first_code_block(text: str) -> list[str]:
    match = re.search(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no code block"
    return [line.split("#", 1)[0].strip() for line in match.group(1).splitlines() if line.strip()]


def _links(text: str) -> list[str]:
    prose = _FENCE.sub("", text)  # a link-like string inside a code block is code, not a link
    return _INLINE_LINK.findall(prose) + _REFERENCE_LINK.findall(prose)


def _docs_targets(text: str) -> list[tuple[str, Path]]:
    """Each relative link into docs/ with the file it names (the anchor and query left off)."""
    targets = []
    for link in _links(text):
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # a web address, or an anchor within the README
        path = (ROOT / unquote(parts.path)).resolve()
        if path == ROOT / "docs" or ROOT / "docs" in path.parents:
            targets.append((link, path))
    return targets


def test_readme_is_short_and_starts_with_the_two_setup_commands():
    text = _readme()
    lines = text.splitlines()
    assert len(lines) < MAX_README_LINES, f"README.md has {len(lines)} lines; the guide belongs in docs/"
    preamble = text[: text.index("```")]
    assert [line for line in preamble.splitlines() if line.strip()] == ["# codemode-mcp"], (
        "README.md must open with its title and then the set-up commands"
    )
    assert _first_code_block(text) == list(SETUP_COMMANDS)


def test_every_readme_link_into_docs_names_a_file_that_exists():
    targets = _docs_targets(_readme())
    assert targets, "README.md links to no page of docs/"
    missing = [link for link, path in targets if not path.is_file()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
