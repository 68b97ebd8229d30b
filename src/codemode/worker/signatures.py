"""Tools as Python: a callable's JSON schema turned into a signature, a docstring and a one-line stub.

Standard library only, and used on both sides: the host imports it to write the
``signature`` strings of listings and search results and the stubs of
``tools.describe``; the worker loads it by path to build the ``inspect.Signature``
that ``help()`` and ``inspect.signature`` show. Both read the same *spec*, a JSON
dict the host sends when code first touches a tool, so what search says and what
``help()`` says agree.

A spec: ``{"name", "python", "description", "params": [param...], "returns": tree,
"returns_doc"}``; a param: ``{"name", "python", "kind": "positional"|"keyword",
"annotation": tree, "required", "description"[, "default"][, "unset"]}``. A param
marked ``unset`` has no default of its own: ``None`` stands for "not given", and the
worker sends nothing for it. An annotation *tree* is a type name (``"str"``,
``"int"``, ``"float"``, ``"bool"``, ``"list"``, ``"dict"``, ``"None"``, ``"Any"``) or a
list: ``["list", item]``, ``["dict", key, value]``, ``["union", a, b, ...]``,
``["literal", value, ...]``. A tree, never a string to evaluate: schemas come from
upstream servers, and the worker builds types from trees without ``eval``.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from typing import Any

_SIMPLE = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
    "null": "None",
}
_MAX_LITERALS = 12  # an enum longer than this reads better as its base type
_MAX_DEPTH = 6  # nested or recursive ($ref) schemas stop here, as Any
_DEFAULT_SHOWN = 40  # characters of a default's repr in a signature
_NON_WORD = re.compile(r"\W")


def python_name(name: str) -> str:
    """The identifier code uses for ``name``: ``max-time`` -> ``max_time``, ``from`` -> ``from_``, ``2x`` -> ``_2x``."""
    text = _NON_WORD.sub("_", name) or "_"
    if text[0].isdigit():
        text = f"_{text}"
    return f"{text}_" if keyword.iskeyword(text) else text


def annotation(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """The annotation tree of a JSON schema (``root`` resolves ``$ref`` into ``$defs``/``definitions``)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return "Any"
    root = root if root is not None else schema
    if isinstance(schema.get("$ref"), str):
        return annotation(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema and _scalar(schema["const"]):
        return ["literal", schema["const"]]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and len(enum) <= _MAX_LITERALS and all(_scalar(v) for v in enum):
        values = [value for value in enum if value is not None]
        return union([["literal", *values]] + (["None"] if None in enum else [])) if values else "None"
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return union([annotation(item, root, depth + 1) for item in schema[key]])
    if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
        return annotation(schema["allOf"][0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        return union([annotation({**schema, "type": item}, root, depth + 1) for item in kind])
    if kind == "array" or (kind is None and "items" in schema):
        item = annotation(schema.get("items"), root, depth + 1) if isinstance(schema.get("items"), dict) else "Any"
        return "list" if item == "Any" else ["list", item]
    if kind == "object" or (kind is None and "properties" in schema):
        return "dict"
    return _SIMPLE.get(kind, "Any") if isinstance(kind, str) else "Any"


def union(trees: Sequence[Any]) -> Any:
    """One tree for several: nested unions flattened, duplicates dropped, ``None`` last, ``Any`` absorbing all."""
    flat: list[Any] = []
    for tree in trees:
        for item in tree[1:] if isinstance(tree, list) and tree[0] == "union" else [tree]:
            if item not in flat:
                flat.append(item)
    if "Any" in flat or not flat:
        return "Any"
    flat.sort(key=lambda item: item == "None")
    return flat[0] if len(flat) == 1 else ["union", *flat]


def _resolve(reference: str, root: dict[str, Any]) -> Any:
    for prefix in ("#/$defs/", "#/definitions/"):
        if reference.startswith(prefix):
            return (root.get(prefix[2:-1]) or {}).get(reference[len(prefix) :])
    return None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def text(tree: Any) -> str:
    """The tree as Python source: ``list[str] | None``, ``Literal['a', 'b']``."""
    if isinstance(tree, str):
        return tree
    head, *rest = tree
    if head == "union":
        return " | ".join(text(item) for item in rest)
    if head == "literal":
        return f"Literal[{', '.join(repr(value) for value in rest)}]"
    return f"{head}[{', '.join(text(item) for item in rest)}]"


def parameters(
    schema: dict[str, Any], positional: Sequence[str] = (), false_booleans: bool = False
) -> list[dict[str, Any]]:
    """The params of a callable whose arguments ``schema`` describes, in Python's order.

    ``positional``: names that may be passed by position, in that order (the rest are
    keyword-only); a required one after an optional one cannot be, so it is keyword-only
    too. Required params come first, then optional ones with their defaults.
    ``false_booleans``: an optional flag without a default defaults to ``False`` (CLI
    flags: not giving one is the same as false).
    """
    found = schema.get("properties")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    required = set(schema.get("required") or ())
    params: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for name, prop in properties.items():
        params[name] = _param(name, prop if isinstance(prop, dict) else {}, schema, name in required, false_booleans)
        params[name]["python"] = _unique(params[name]["python"], taken)
    ordered: list[dict[str, Any]] = []
    for name in positional:
        param = params.get(name)
        if param is None or (ordered and "default" in ordered[-1] and "default" not in param):
            break
        ordered.append({**param, "kind": "positional"})
    rest = [param for name, param in params.items() if name not in {p["name"] for p in ordered}]
    rest.sort(key=lambda param: not param["required"])  # stable: the schema's order within each group
    return ordered + [{**param, "kind": "keyword"} for param in rest]


def _param(
    name: str, prop: dict[str, Any], root: dict[str, Any], required: bool, false_booleans: bool
) -> dict[str, Any]:
    tree = annotation(prop, root)
    param: dict[str, Any] = {
        "name": name,
        "python": python_name(name),
        "annotation": tree,
        "required": required,
        "description": _described(prop, root),
    }
    if required:
        return param
    if "default" in prop:
        param["default"] = prop["default"]
    elif false_booleans and tree == "bool":
        param["default"] = False
    else:
        param["default"], param["unset"] = None, True
    if param["default"] is None:
        param["annotation"] = union([tree, "None"])
    return param


def _described(prop: dict[str, Any], root: dict[str, Any]) -> str:
    """The property's description, plus the keys of the objects it holds: what code must put in them."""
    description = " ".join(str(prop.get("description") or "").split())
    shape = _object_shape(prop.get("items") if prop.get("type") == "array" else prop, root)
    if shape:
        description += f"{'; ' if description else ''}{'each item' if prop.get('type') == 'array' else 'keys'}: {shape}"
    return description


def _object_shape(schema: Any, root: dict[str, Any]) -> str:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = _resolve(schema["$ref"], root)
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return ""
    required = set(schema.get("required") or ())
    fields = [
        f"{name}{'' if name in required else '?'}: {text(annotation(prop, root, 1))}"
        for name, prop in schema["properties"].items()
    ]
    return "{" + ", ".join(fields) + "}"


def _unique(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def callable_spec(
    name: str,
    description: str,
    schema: dict[str, Any],
    *,
    positional: Sequence[str] = (),
    false_booleans: bool = False,
    returns: Any = "Any",
    returns_doc: str = "",
) -> dict[str, Any]:
    """The spec of one callable (see the module's docstring)."""
    return {
        "name": name,
        "python": python_name(name),
        "description": " ".join(description.split()),
        "params": parameters(schema, positional, false_booleans),
        "returns": returns,
        "returns_doc": returns_doc,
    }


def signature_text(spec: dict[str, Any], name: str | None = None) -> str:
    """``get(url: str, *, max_time: int = 30) -> str``: the callable as Python, on one line."""
    parts: list[str] = []
    for param in spec["params"]:
        if param["kind"] == "keyword" and "*" not in parts:
            parts.append("*")
        part = f"{param['python']}: {text(param['annotation'])}"
        if "default" in param:
            part += f" = {_default_text(param['default'])}"
        parts.append(part)
    return f"{name or spec['python']}({', '.join(parts)}) -> {text(spec['returns'])}"


def _default_text(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _DEFAULT_SHOWN else "..."


def stub(spec: dict[str, Any], name: str | None = None) -> str:
    """``def get(url: str, *, max_time: int = 30) -> str:  # GET a URL and return the body``."""
    summary = first_sentence(spec["description"])
    return f"def {signature_text(spec, name)}:" + (f"  # {summary}" if summary else " ...")


def first_sentence(description: str) -> str:
    """The description's first line or sentence: what a one-line doc has room for."""
    line = description.strip().split("\n", 1)[0]
    match = re.match(r"(.+?[.!?])(\s|$)", line)
    return (match.group(1) if match else line).rstrip(".")


def docstring(spec: dict[str, Any]) -> str:
    """The description, one line per parameter, and what the callable returns."""
    lines = [spec["description"] or f"Call {spec['name']}."]
    if spec["params"]:
        lines += ["", "Args:"]
        for param in spec["params"]:
            facts = [text(param["annotation"])]
            if "default" in param and not param.get("unset"):
                facts.append(f"default {_default_text(param['default'])}")
            elif param["required"]:
                facts.append("required")
            real = f" (the tool calls it {param['name']!r})" if param["name"] != param["python"] else ""
            lines.append(f"    {param['python']} ({', '.join(facts)}): {param['description'] or '-'}{real}")
    lines += ["", "Returns:", f"    {text(spec['returns'])}: {spec['returns_doc'] or 'the result'}"]
    return "\n".join(lines)


def build_signature(spec: dict[str, Any]) -> Any:
    """The ``inspect.Signature`` of a spec (worker side: ``inspect`` is imported only when a tool is touched)."""
    import inspect

    kinds = {"positional": inspect.Parameter.POSITIONAL_OR_KEYWORD, "keyword": inspect.Parameter.KEYWORD_ONLY}
    try:
        params = [
            inspect.Parameter(
                param["python"],
                kinds[param["kind"]],
                default=param.get("default", inspect.Parameter.empty),
                annotation=to_type(param["annotation"]),
            )
            for param in spec["params"]
        ]
        return inspect.Signature(params, return_annotation=to_type(spec["returns"]))
    except (ValueError, TypeError, KeyError):  # a spec that Python cannot express: say only "keywords"
        kwargs = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
        return inspect.Signature([kwargs])


def to_type(tree: Any) -> Any:
    """The annotation object of a tree: ``str``, ``list[str]``, ``str | None``, ``Literal['a']``."""
    import typing

    names = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}
    if isinstance(tree, str):
        return None if tree == "None" else names.get(tree, typing.Any)
    head, *rest = tree
    if head == "literal":
        return typing.Literal[tuple(rest)]
    items = [to_type(item) for item in rest]
    if head == "union":
        joined = items[0]
        for item in items[1:]:
            joined = joined | item  # str | None reads as written; typing.Union would show Optional[str]
        return joined
    return names.get(head, list)[tuple(items) if len(items) > 1 else items[0]]
