"""Count lines, words and the most frequent words of a text, or of a text artifact."""

import re
from collections import Counter


def run(text: str | None = None, artifact: str | None = None, top: int = 10) -> dict:
    if text is None:
        if artifact is None:
            raise ValueError("give text= or artifact=")
        text = artifacts.load(artifact)  # noqa: F821 - `artifacts` is predefined in a session
    words = re.findall(r"[\w']+", text.lower())
    return {
        "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
        "words": len(words),
        "top": Counter(words).most_common(top),
    }
