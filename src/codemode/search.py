"""Keyword search over tools and workflows: Okapi BM25, exact, in pure Python.

The corpora are small (tens to a few thousand documents) and change at any
time, so the index is rebuilt per query in microseconds; a dependency with
sparse matrices would cost more to import than it saves. Tokens come from
names split at ``snake_case``, ``kebab-case`` and ``camelCase`` boundaries, so
``fetchJson`` matches a search for "json".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Za-z][a-z]*|\d+")
_STOPWORDS = frozenset("a an and are as at be by for from in is it of on or the to with".split())
K1 = 1.5
B = 0.75


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; identifiers are split into their parts and also kept whole."""
    tokens: list[str] = []
    for chunk in re.split(r"[^A-Za-z0-9_-]+", text):
        parts = [part.lower() for part in _WORD.findall(chunk)]
        tokens += [part for part in parts if part not in _STOPWORDS]
        whole = chunk.lower().strip("_-")
        if len(parts) > 1 and whole:
            tokens.append(whole)
    return tokens


@dataclass(frozen=True)
class Document:
    """One searchable item: its key and the text fields that describe it, with weights."""

    key: str
    fields: Sequence[tuple[str, float]]


def bm25(query: str, documents: Sequence[Document], limit: int) -> list[tuple[str, float]]:
    """The ``limit`` best ``(key, score)`` pairs for ``query``, best first; only documents that match."""
    terms = set(tokenize(query))
    if not terms or not documents or limit <= 0:
        return []
    counts = [_weighted_counts(document) for document in documents]
    lengths = [sum(count.values()) for count in counts]
    average = sum(lengths) / len(lengths) or 1.0
    frequency = Counter(term for count in counts for term in count if term in terms)
    scored = []
    for document, count, length in zip(documents, counts, lengths, strict=True):
        score = 0.0
        for term in terms & count.keys():
            idf = math.log(1 + (len(documents) - frequency[term] + 0.5) / (frequency[term] + 0.5))
            tf = count[term]
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
        if score > 0:
            scored.append((document.key, round(score, 4)))
    scored.sort(key=lambda pair: (-pair[1], pair[0]))
    return scored[:limit]


def _weighted_counts(document: Document) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text, weight in document.fields:
        for token in tokenize(text):
            counts[token] += weight  # type: ignore[assignment]
    return counts
