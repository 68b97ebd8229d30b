"""Search over tools and workflows: Okapi BM25, fused with embedding similarity when the extra is installed.

:func:`rank` is the one entry point (tools, workflows and skills, from the
``Session`` API, from code and over MCP all come here). BM25 is exact and in
pure Python: the corpora are small (tens to a few thousand documents) and
change at any time, so the index is rebuilt per query from token counts cached
by text; a dependency with sparse matrices would cost more to import than it
saves. Tokens come from names split at ``snake_case``, ``kebab-case`` and
``camelCase`` boundaries, so ``fetchJson`` matches a search for "json".

With the ``[semantic]`` extra (see ``embeddings.py``), documents are ranked by
the cosine similarity of sentence embeddings, so "grab a web page" finds
``curl``, and a keyword match adds a bounded bonus (``bm25 / (bm25 + 3)``
times 0.1). Reciprocal rank fusion was measured on ``tests/data/search_eval.json``
and lost (top-1 0.53 with equal weights, 0.77 at best, against 0.87): on paraphrased queries BM25's first place
is often a match on an incidental word, and rank fusion cannot tell a weak
match from a strong one. Without the extra, search is BM25 alone, after one
warning.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread

from codemode.search import embeddings

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Za-z][a-z]*|\d+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_STOPWORDS = frozenset("a an and are as at be by for from in is it of on or the to with".split())
K1 = 1.5
B = 0.75
KEYWORD_BONUS = 0.1  # the most a keyword match adds to a cosine; cosines of candidates differ by 0.05 to 0.3
KEYWORD_HALF = 3.0  # the BM25 score that earns half the bonus: about one query word matching a name
MIN_SIMILARITY = 0.2  # below this cosine, a document that matches no query word is unrelated, not a result


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
    counts = [_weighted_counts(tuple(document.fields)) for document in documents]
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


@functools.lru_cache(maxsize=4096)
def _weighted_counts(fields: tuple[tuple[str, float], ...]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text, weight in fields:
        for token in tokenize(text):
            counts[token] += weight  # type: ignore[assignment]
    return counts


async def rank(query: str, documents: Sequence[Document], limit: int) -> list[tuple[str, float]]:
    """The ``limit`` best ``(key, score)`` pairs, best first: hybrid when the extra is installed, else BM25.

    Runs in a worker thread: the first call loads the model, and new or changed
    documents are embedded (later calls reuse their cached vectors).
    """
    return await anyio.to_thread.run_sync(hybrid, query, documents, limit)


def hybrid(query: str, documents: Sequence[Document], limit: int) -> list[tuple[str, float]]:
    """Cosine similarity plus a keyword bonus; BM25 alone when embeddings are unavailable.

    A document that no query word matches is a result only when it is similar
    enough to the query; one that a query word matches always is.
    """
    embedder = embeddings.shared() if query.strip() and documents and limit > 0 else None
    if embedder is None:
        return bm25(query, documents, limit)
    keyword = dict(bm25(query, documents, len(documents)))
    matrix = embedder.embed_items([_embedding_text(tuple(document.fields)) for document in documents])
    similarities = (matrix @ embedder.embed_query(query)).tolist()
    scored = []
    for document, similarity in zip(documents, similarities, strict=True):
        match = keyword.get(document.key, 0.0)
        if match > 0 or similarity >= MIN_SIMILARITY:
            scored.append((document.key, round(similarity + KEYWORD_BONUS * match / (match + KEYWORD_HALF), 4)))
    scored.sort(key=lambda pair: (-pair[1], pair[0]))
    return scored[:limit]


@functools.lru_cache(maxsize=4096)
def _embedding_text(fields: tuple[tuple[str, float], ...]) -> str:
    """The document as prose: identifiers split into words (the model reads ``fetch_json`` as three tokens)."""
    return ". ".join(_CAMEL.sub(" ", text).replace("_", " ") for text, _ in fields if text.strip())
