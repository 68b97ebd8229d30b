"""Tools as Python: JSON schemas become annotations, signatures, docstrings and stubs (worker/signatures.py)."""

from __future__ import annotations

import inspect
from typing import Any, Literal

import pytest

from codemode.worker import signatures
from codemode.worker.tool_namespace import wire_arguments

CURL_GET = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "description": "The URL to request"},
        "max-time": {"type": "integer", "description": "Give up after this many seconds", "default": 30},
    },
    "required": ["url"],
}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "str"),
        ({"type": "integer"}, "int"),
        ({"type": "number"}, "float"),
        ({"type": "boolean"}, "bool"),
        ({"type": "object"}, "dict"),
        ({"type": "array"}, "list"),
        ({"type": "array", "items": {"type": "string"}}, "list[str]"),
        ({"type": ["string", "null"]}, "str | None"),
        ({"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]}, "list[int] | None"),
        ({"enum": ["open", "closed"]}, "Literal['open', 'closed']"),
        ({"const": 3}, "Literal[3]"),
        ({}, "Any"),
        ({"anyOf": [{"type": "string"}, {}]}, "Any"),
        ({"type": "array", "items": {"$ref": "#/$defs/Entity"}}, "list[dict]"),
    ],
)
def test_json_types_become_python_annotations(schema: dict[str, Any], expected: str):
    root = {"$defs": {"Entity": {"type": "object", "properties": {"name": {"type": "string"}}}}}
    assert signatures.text(signatures.annotation(schema, {**root, **schema})) == expected


@pytest.mark.parametrize(
    ("name", "python"),
    [("max-time", "max_time"), ("create-entities", "create_entities"), ("from", "from_"), ("2fa", "_2fa"),
     ("browser.navigate", "browser_navigate"), ("plain", "plain")],
)  # fmt: skip
def test_names_become_python_identifiers(name: str, python: str):
    assert signatures.python_name(name) == python
    assert python.isidentifier()


def test_a_signature_puts_required_first_and_marks_keyword_only_parameters():
    spec = signatures.callable_spec(
        "get", "GET a URL and return the body.", CURL_GET, positional=["url"], returns="str"
    )
    assert signatures.signature_text(spec) == "get(url: str, *, max_time: int = 30) -> str"
    assert signatures.stub(spec) == "def get(url: str, *, max_time: int = 30) -> str:  # GET a URL and return the body"
    schema = {"type": "object", "properties": {"limit": {"type": "integer"}, "query": {"type": "string"}}}
    schema["required"] = ["query"]
    searched = signatures.callable_spec("search", "", schema)
    assert signatures.signature_text(searched) == "search(*, query: str, limit: int | None = None) -> Any"


def test_a_required_positional_after_an_optional_one_becomes_keyword_only():
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["b"]}
    spec = signatures.callable_spec("f", "", schema, positional=["a", "b"])
    assert signatures.signature_text(spec) == "f(a: str | None = None, *, b: str) -> Any"


def test_optional_cli_flags_default_to_false():
    schema = {"type": "object", "properties": {"silent": {"type": "boolean"}, "flag": {"type": "boolean"}}}
    spec = signatures.callable_spec("curl", "", schema, false_booleans=True)
    assert signatures.signature_text(spec) == "curl(*, silent: bool = False, flag: bool = False) -> Any"


def test_the_inspect_signature_matches_the_text():
    spec = signatures.callable_spec("get", "GET a URL", CURL_GET, positional=["url"], returns="str")
    built = signatures.build_signature(spec)
    assert str(built) == "(url: str, *, max_time: int = 30) -> str"
    assert built.parameters["max_time"].kind is inspect.Parameter.KEYWORD_ONLY
    assert built.parameters["url"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_annotations_are_real_types():
    assert signatures.to_type(["union", ["list", "str"], "None"]) == (list[str] | None)
    assert signatures.to_type(["literal", "a", "b"]) == Literal["a", "b"]
    assert signatures.to_type("Any") is Any
    assert signatures.to_type(["dict", "str", "int"]) == dict[str, int]


def test_the_docstring_has_a_line_per_parameter_and_what_it_returns():
    spec = signatures.callable_spec(
        "get", "GET a URL", CURL_GET, positional=["url"], returns="str", returns_doc="the body"
    )
    assert signatures.docstring(spec) == (
        "GET a URL\n\nArgs:\n"
        "    url (str, required): The URL to request\n"
        "    max_time (int, default 30): Give up after this many seconds (the tool calls it 'max-time')\n"
        "\nReturns:\n    str: the body"
    )


def test_the_docstring_shows_the_keys_of_objects_a_parameter_holds():
    entity = {"type": "object", "properties": {"name": {"type": "string"}, "tags": {"type": "array"}}}
    entity["required"] = ["name"]
    schema = {
        "type": "object",
        "properties": {"entities": {"type": "array", "items": entity}},
        "required": ["entities"],
    }
    doc = signatures.docstring(signatures.callable_spec("create_entities", "Create entities", schema))
    assert "entities (list[dict], required): each item: {name: str, tags?: list}" in doc


def test_a_spec_python_cannot_express_falls_back_to_keywords():
    spec = {"params": [{"python": "a b", "kind": "keyword", "annotation": "str", "required": True}], "returns": "Any"}
    assert str(signatures.build_signature(spec)) == "(**kwargs)"


def test_calls_map_python_names_and_positions_back_to_the_tools_own():
    spec = signatures.callable_spec("get", "", CURL_GET, positional=["url"])
    assert wire_arguments(spec, "curl.get", ("http://x",), {"max_time": 5}) == {"url": "http://x", "max-time": 5}
    assert wire_arguments(spec, "curl.get", (), {"max-time": 5}) == {"max-time": 5}
    with pytest.raises(TypeError, match=r"curl.get\(\) takes 1 positional argument\(s\) \(2 given\)"):
        wire_arguments(spec, "curl.get", ("a", "b"), {})
    with pytest.raises(TypeError, match="multiple values for argument 'url'"):
        wire_arguments(spec, "curl.get", ("a",), {"url": "b"})


def test_none_for_a_parameter_without_a_default_is_not_sent():
    schema = {"type": "object", "properties": {"limit": {"type": "integer"}, "n": {"type": ["integer", "null"]}}}
    spec = signatures.callable_spec("f", "", schema)
    assert wire_arguments(spec, "f", (), {"limit": None, "n": 1, "extra": None}) == {"n": 1, "extra": None}
