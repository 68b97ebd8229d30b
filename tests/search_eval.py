"""The search evaluation set (``tests/data/search_eval.json``) and its measures: for tests and ``bench/search.py``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codemode.search.index import Document

EVAL_FILE = Path(__file__).parent / "data" / "search_eval.json"
Ranker = Callable[[str, Sequence[Document], int], list[tuple[str, float]]]


@dataclass(frozen=True)
class Quality:
    top1: float  # share of queries whose expected item comes first
    mrr: float  # mean reciprocal rank of the expected item (0 when it is not in the results)
    misses: list[str]  # queries whose expected item is not first


def documents() -> list[Document]:
    """The items as the tool registry and the workflow store weigh their fields."""
    found = []
    for item in json.loads(EVAL_FILE.read_text())["items"]:
        if item["kind"] == "tool":
            fields = [(item["name"], 3.0), (item["description"], 1.0), (" ".join(item["tags"]), 2.0)]
        else:
            fields = [(item["name"], 3.0), (item["description"], 1.0), (" ".join(item["parameters"]), 1.0)]
        found.append(Document(item["name"], fields))
    return found


def queries(section: str = "queries") -> list[tuple[str, str]]:
    """``(query, expected key)`` pairs: the paraphrases, or with ``section="keyword_queries"`` the keyword ones."""
    return [(entry["query"], entry["expected"]) for entry in json.loads(EVAL_FILE.read_text())[section]]


def evaluate(ranker: Ranker, section: str = "queries", limit: int = 10) -> Quality:
    corpus = documents()
    ranks = []
    for query, expected in queries(section):
        keys = [key for key, _ in ranker(query, corpus, limit)]
        ranks.append((query, keys.index(expected) + 1 if expected in keys else None))
    return Quality(
        top1=sum(rank == 1 for _, rank in ranks) / len(ranks),
        mrr=sum(1 / rank for _, rank in ranks if rank) / len(ranks),
        misses=[query for query, rank in ranks if rank != 1],
    )
