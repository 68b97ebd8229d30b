"""Benchmark search: quality of BM25 alone vs hybrid, latency over 500 items, model load time.

Run: uv run python bench/search.py [--searches 300] [--loads 5] [--json bench/results/search.json]

Quality is measured on ``tests/data/search_eval.json`` (paraphrased queries, and
keyword queries for contrast): top-1 accuracy and mean reciprocal rank.
Latency is that of the ranking function (``codemode.search.index.hybrid``, what
``search_tools``/``search_workflows`` call after listing the items) over 500
generated tool descriptions, warm (their vectors cached) with a query never
seen before each time; also the first search (embeds all 500) and a search
after one item changed. Model load time is measured in fresh processes,
imports of numpy and onnxruntime included.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from codemode.search import embeddings  # noqa: E402
from codemode.search.index import Document, bm25, hybrid  # noqa: E402
from tests.search_eval import evaluate, queries  # noqa: E402

VERBS = "fetch parse convert resize compress send list search render validate sync merge".split()
OBJECTS = "pages images invoices logs tickets emails videos tables repos metrics events backups".split()
PLACES = ["from S3", "on GitHub", "in Postgres", "over SSH", "in Slack", "on disk", "via HTTP", "in Jira"]
# The package is imported first: its own import (pydantic, the MCP SDK) is not the model's cost.
LOAD_CODE = (
    "import time, codemode.search.embeddings as e; t = time.perf_counter(); e.load(); print(time.perf_counter() - t)"
)


def corpus(size: int) -> list[Document]:
    chooser = random.Random(0)
    documents = []
    for index in range(size):
        verb, thing, place = chooser.choice(VERBS), chooser.choice(OBJECTS), chooser.choice(PLACES)
        description = f"{verb.capitalize()} {thing} {place}, with retries and a timeout (variant {index})"
        documents.append(Document(f"{verb}_{thing}_{index}", [(f"{verb}_{thing}_{index}", 3.0), (description, 1.0)]))
    return documents


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latency(documents: list[Document], searches: int) -> dict[str, float]:
    phrases = [query for query, _ in queries()]
    started = time.perf_counter()
    hybrid("warm up the item vectors", documents, 10)
    first = time.perf_counter() - started
    timings: dict[str, list[float]] = {"hybrid": [], "bm25": []}
    for index in range(searches):
        query = f"{phrases[index % len(phrases)]} {index}"  # never the same query twice
        for name, ranker in (("hybrid", hybrid), ("bm25", bm25)):
            started = time.perf_counter()
            ranker(query, documents, 10)
            timings[name].append(time.perf_counter() - started)
    changed = list(documents)
    changed[7] = Document(changed[7].key, [(changed[7].key, 3.0), ("An edited description of this tool", 1.0)])
    started = time.perf_counter()
    hybrid("one item changed", changed, 10)
    after_change = time.perf_counter() - started
    return {
        "items": len(documents),
        "first_search_ms": first * 1000,
        "hybrid_p50_ms": percentile(timings["hybrid"], 0.5) * 1000,
        "hybrid_p95_ms": percentile(timings["hybrid"], 0.95) * 1000,
        "bm25_p50_ms": percentile(timings["bm25"], 0.5) * 1000,
        "bm25_p95_ms": percentile(timings["bm25"], 0.95) * 1000,
        "search_after_one_item_changed_ms": after_change * 1000,
    }


def load_times(runs: int) -> list[float]:
    return [
        float(subprocess.run([sys.executable, "-c", LOAD_CODE], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "search.json")
    args = parser.parse_args()
    if embeddings.shared() is None:
        sys.exit(f"semantic search is unavailable: {embeddings.unavailable_reason()}")
    results: dict[str, Any] = {"quality": {}}
    for section in ("queries", "keyword_queries"):
        for name, ranker in (("bm25", bm25), ("hybrid", hybrid)):
            quality = evaluate(ranker, section)
            results["quality"][f"{section}/{name}"] = {
                "queries": len(queries(section)),
                "top1": round(quality.top1, 3),
                "mrr": round(quality.mrr, 3),
                "misses": quality.misses,
            }
    results["latency"] = {key: round(value, 3) for key, value in latency(corpus(500), args.searches).items()}
    loads = load_times(args.loads)
    results["model_load_s"] = {"median": round(statistics.median(loads), 3), "max": round(max(loads), 3)}

    print(f"{'quality':<26} {'queries':>7} {'top-1':>6} {'MRR':>6}")
    for key, row in results["quality"].items():
        print(f"{key:<26} {row['queries']:>7} {row['top1']:>6.3f} {row['mrr']:>6.3f}")
    print()
    for key, value in results["latency"].items():
        print(f"{key:<34} {value:>9.3f}")
    load = results["model_load_s"]
    print(f"{'model load s (median, max)':<34} {load['median']:>9.3f} {load['max']:.3f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
