"""Semantic search (the ``[semantic]`` extra): the model, hybrid ranking, and search by meaning from every surface.

Tests that need the model skip, saying why, when the extra is not installed;
with ``CODEMODE_REQUIRE_SEMANTIC=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mcp import Client

from codemode import Session
from codemode.search.embeddings import MODEL_SHA256, Embedder, SemanticUnavailable, load, shared, unavailable_reason
from codemode.search.index import MIN_SIMILARITY, _embedding_text, bm25, hybrid
from tests.search_eval import documents, evaluate
from tests.server.conftest import server_command

CURL = """\
name: curl
description: Make HTTP requests (GET, POST, JSON APIs) and return the response body
command: curl
tags: [http, network, web, api]
"""
SQLITE = """\
name: sqlite
description: Run SQL statements against a SQLite database file
command: sqlite3
tags: [sql, database]
"""
DOUBLE = '"""Multiply a number by two."""\n\ndef run(x: int) -> int:\n    return x * 2\n'
GREET = '"""Say hello to someone."""\n\ndef run(name: str) -> str:\n    return f"hi {name}"\n'


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    found = shared()
    if found is None:
        reason = f"semantic search is unavailable: {unavailable_reason()}"
        if os.environ.get("CODEMODE_REQUIRE_SEMANTIC") == "1":
            pytest.fail(f"CODEMODE_REQUIRE_SEMANTIC=1 but {reason}")
        pytest.skip(f"{reason} (CODEMODE_REQUIRE_SEMANTIC=1 makes this a failure)")
    return found


@pytest.fixture
def semantic_workspace(workspace: Path, embedder: Embedder) -> Path:
    (workspace / "tools").mkdir()
    (workspace / "tools" / "curl.yaml").write_text(CURL)
    (workspace / "tools" / "sqlite.yaml").write_text(SQLITE)
    (workspace / "workflows").mkdir()
    (workspace / "workflows" / "double.py").write_text(DOUBLE)
    (workspace / "workflows" / "greet.py").write_text(GREET)
    return workspace


def test_hybrid_beats_bm25_clearly_on_paraphrased_queries(embedder: Embedder):
    keyword, combined = evaluate(bm25), evaluate(hybrid)
    assert combined.top1 >= keyword.top1 + 0.5, (keyword, combined)
    assert combined.mrr >= keyword.mrr + 0.5, (keyword, combined)


def test_hybrid_keeps_keyword_queries_as_good_as_bm25(embedder: Embedder):
    keyword, combined = evaluate(bm25, "keyword_queries"), evaluate(hybrid, "keyword_queries")
    assert combined.top1 >= keyword.top1 and combined.mrr >= keyword.mrr, (keyword, combined)


def test_unrelated_documents_are_not_results(embedder: Embedder):
    assert hybrid("will it rain tomorrow in Paris", documents(), 3)[0][0] == "weather"
    assert hybrid("quantum chromodynamics lattice", documents(), 10) == []


def test_a_keyword_match_is_a_result_even_when_the_meaning_is_far(embedder: Embedder):
    query = "unpack the holiday mood with grandma"
    (tar,) = [document for document in documents() if document.key == "tar"]
    similarity = embedder.embed_items([_embedding_text(tuple(tar.fields))])[0] @ embedder.embed_query(query)
    assert float(similarity) < MIN_SIMILARITY
    assert [key for key, _ in hybrid(query, documents(), 10)] == ["tar"]


def test_vectors_are_unit_length_and_closer_for_closer_meanings(embedder: Embedder):
    vectors = embedder.embed_items(["fetch a web page", "download a site's html", "bake a chocolate cake"])
    assert [round(float(row @ row), 4) for row in vectors] == [1.0, 1.0, 1.0]
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.3


def test_only_new_or_changed_texts_are_embedded(embedder: Embedder):
    texts = ["cache probe one", "cache probe two", "cache probe three"]
    first = embedder.embed_items(texts)
    before = embedder.cached
    again = embedder.embed_items([*texts[:2], "cache probe three, edited"])
    assert embedder.cached == before + 1
    assert (again[:2] == first[:2]).all()


def test_a_model_file_that_is_not_the_pinned_one_is_refused(tmp_path: Path, embedder: Embedder):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(SemanticUnavailable, match=f"not the pinned {MODEL_SHA256}"):
        Embedder(fake, "{}")


def test_the_model_loads_and_embeds_without_opening_a_connection(monkeypatch, embedder: Embedder):
    def refuse(*args: object) -> None:
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = load()
    assert fresh.embed_query("offline").shape == (384,)


def test_start_up_loads_no_model_code():
    model_code = {"numpy", "onnxruntime", "tokenizers"}
    code = f"import sys, codemode, codemode.server.cli; print(sorted({model_code!r} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_without_the_extra_search_is_bm25_after_one_warning():
    code = textwrap.dedent("""
        import logging, sys
        sys.modules["onnxruntime"] = None  # what a missing extra looks like to an import
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
        from codemode.search.index import Document, bm25, hybrid
        documents = [Document("curl", [("curl", 3.0), ("make http requests", 1.0)]), Document("jq", [("jq", 3.0)])]
        assert hybrid("http", documents, 5) == bm25("http", documents, 5)
        assert [key for key, _ in hybrid("http", documents, 5)] == ["curl"]
        assert hybrid("fetch a web page", documents, 5) == []
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1
    assert "keyword-only (BM25)" in warnings[0] and "codemode-mcp[semantic]" in warnings[0]


@pytest.mark.anyio
async def test_session_finds_tools_and_workflows_by_meaning(semantic_workspace: Path):
    async with Session.from_base(semantic_workspace, timeout=10) as session:
        tools = await session.search_tools("grab the contents of a site")
        workflows = await session.search_workflows("twice as much")
    assert tools[0].name == "curl" and tools[0].score is not None and tools[0].score > 0
    assert [workflow.name for workflow in workflows] == ["double"]


@pytest.mark.anyio
async def test_code_finds_tools_and_workflows_by_meaning(semantic_workspace: Path):
    async with Session.from_base(semantic_workspace, timeout=10) as session:
        result = await session.run(
            "[tools.search('query tables in a local relational store')[0]['name'],"
            " workflows.search('welcome a visitor')[0]['name']]"
        )
    assert result.error is None, result.error
    assert str(result.value) == "['sqlite', 'greet']"


@pytest.mark.anyio
async def test_mcp_clients_find_tools_and_workflows_by_meaning(semantic_workspace: Path):
    async with Client(server_command(semantic_workspace), mode="legacy") as client:
        tools = await client.call_tool("search_tools", {"query": "grab the contents of a site"})
        workflows = await client.call_tool("search_workflows", {"query": "welcome a visitor"})
    found = tools.structured_content["tools"]  # type: ignore[index]
    assert found[0]["name"] == "curl" and found[0]["score"] > 0
    assert workflows.structured_content["workflows"][0]["name"] == "greet"  # type: ignore[index]
