from codemode.search.index import Document, bm25, tokenize


def test_identifiers_split_at_snake_kebab_and_camel_case_and_stay_whole():
    assert tokenize("fetchJSON get_repo max-time") == [
        "fetch",
        "json",
        "fetchjson",
        "get",
        "repo",
        "get_repo",
        "max",
        "time",
        "max-time",
    ]


def test_stopwords_are_dropped_and_case_folded():
    assert tokenize("Make THE requests") == ["make", "requests"]


def test_best_match_first_with_scores():
    documents = [
        Document("curl", [("curl", 3.0), ("make http requests", 1.0)]),
        Document("jq", [("jq", 3.0), ("query json", 1.0)]),
        Document("http_get", [("http_get", 3.0), ("get a page over http", 1.0)]),
    ]
    ranked = bm25("http", documents, limit=10)
    assert [key for key, _ in ranked] == ["http_get", "curl"]
    assert all(score > 0 for _, score in ranked)


def test_no_match_no_result_and_limit_applies():
    documents = [Document(str(i), [("alpha", 1.0)]) for i in range(5)]
    assert bm25("beta", documents, limit=3) == []
    assert len(bm25("alpha", documents, limit=3)) == 3


def test_empty_query_returns_nothing():
    assert bm25("the", [Document("a", [("the", 1.0)])], limit=5) == []
