"""``tools`` in session code: each tool a proxy, each of its callables a real Python function.

Stdlib-only (the worker loads it by path). When code first touches ``tools.<name>.<x>``
in a run, one host call (``tools.signatures``) brings the tool's callables as specs
(see ``signatures.py``), and each becomes a function with a real ``__signature__`` and
``__doc__``, so ``help(tools.curl.get)`` and ``inspect.signature`` show how to call it.
The specs are kept for the rest of the run and fetched again in the next one, so an
edited tool file is seen by the next run (the host re-reads definitions on every use).

A call maps Python names back to the tool's own (``max_time`` -> ``max-time``),
positional arguments to their parameters, and sends keywords only; what it cannot
check (types, unknown names) the host checks and says. An MCP tool's pictures come
back tagged (:data:`PICTURES`): they are shown as pictures of the run, and returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Any]
Show = Callable[[Any], None]
Load = Callable[[str], Any]

PICTURES = "__codemode_pictures__"
"""A tool result with pictures: ``{PICTURES: [{"mime_type", "data"}], "value": ...}`` (the host makes it)."""
_SHOWN_TYPES = {"image/png": "_repr_png_", "image/jpeg": "_repr_jpeg_", "image/svg+xml": "_repr_svg_"}


class Tools:
    """The ``tools`` namespace."""

    def __init__(self, call: Call, show: Show | None = None, load: Load | None = None) -> None:
        self._call = call
        self._show = show
        self._load = load
        self._proxies: dict[str, ToolProxy] = {}

    def _new_run(self) -> None:
        """Forget what was fetched about tools: the next run sees their definitions as they are then."""
        self._proxies = {}

    def list(self) -> list[dict[str, Any]]:
        return self._call("tools.list", {})

    def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        """Tools for a need, best first; each callable with its Python signature."""
        return self._call("tools.search", {"query": query, "limit": limit})

    def describe(self, name: str | None = None) -> Text:
        """``def`` lines of a tool's functions with one-line docs; without a name, every tool in brief."""
        return Text(self._call("tools.describe", {"name": name}))

    def __getattr__(self, name: str) -> ToolProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> ToolProxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            proxy = self._proxies[name] = ToolProxy(self._call, name, self._show, self._load)
        return proxy

    def __repr__(self) -> str:
        return (
            "tools: tools.describe() lists them, tools.describe(name) shows a tool's functions as Python, "
            "tools.search(query) finds them; tools.<name>.<function>(...) calls one, help() explains it; "
            "tools.<name>(...) runs a CLI tool itself; tools['my-tool']['create-item'] for any name"
        )


class ToolProxy:
    """One tool: call it to run the tool itself; its attributes are its functions (recipes, endpoints, MCP tools)."""

    def __init__(self, call: Call, tool: str, show: Show | None = None, load: Load | None = None) -> None:
        self._call = call
        self._tool = tool
        self._show = show
        self._load = load
        self._api: dict[str, Any] | None = None
        self._functions: dict[str, Callable[..., Any]] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        direct = self._described().get("call")
        return self._invoke(None, direct, args, kwargs)

    def list(self) -> list[dict[str, Any]]:
        """The recipes, endpoints or MCP tools this tool offers, with their signatures and JSON schemas."""
        return self._call("tools.recipes", {"tool": self._tool})

    def describe(self) -> Text:
        """This tool's functions as Python ``def`` lines with one-line docs."""
        return Text(self._call("tools.describe", {"name": self._tool}))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Callable[..., Any]:
        function = self._functions.get(name)
        if function is None:
            function = self._functions[name] = self._function(name)
        return function

    def __dir__(self) -> list[str]:
        names = [spec["python"] for spec in self._described().get("callables", [])]
        return sorted({*names, "list", "describe"})

    def __repr__(self) -> str:
        try:
            names = ", ".join(spec["python"] for spec in self._described().get("callables", [])) or "no functions"
        except Exception as exc:  # noqa: BLE001 - a repr must not raise: say why there is nothing to show
            names = f"unavailable ({exc})"
        return f"<tool {self._tool}: {names}; help(tools.{self._tool}.<name>), or .describe()>"

    @property
    def __signature__(self) -> Any:  # inspect.signature(tools.curl): the direct call, where there is one
        direct = self._described().get("call")
        return self._signatures().build_signature(direct) if direct else None

    def _described(self) -> dict[str, Any]:
        api = self._api
        if api is None:
            api = self._api = self._call("tools.signatures", {"tool": self._tool})
        return api

    def _signatures(self) -> Any:
        if self._load is None:
            raise RuntimeError("signatures are not available here")
        return self._load("signatures")

    def _function(self, name: str) -> Callable[..., Any]:
        specs = self._described().get("callables", [])
        spec = next((s for s in specs if s["name"] == name), None) or next(
            (s for s in specs if s["python"] == name), None
        )
        if spec is None:  # the host says what there is
            return _plain_function(lambda *args, **kwargs: self._invoke(name, None, args, kwargs), name)
        return self._function_of(spec)

    def _function_of(self, spec: dict[str, Any]) -> Callable[..., Any]:
        def function(*args: Any, **kwargs: Any) -> Any:
            return self._invoke(spec["name"], spec, args, kwargs)

        tool = self._described().get("python", self._tool)
        function.__name__ = spec["python"]
        function.__qualname__ = f"{tool}.{spec['python']}"
        function.__module__ = "tools"
        signatures = self._signatures()
        function.__doc__ = signatures.docstring(spec)
        function.__signature__ = signatures.build_signature(spec)  # type: ignore[attr-defined]
        return function

    def _invoke(
        self, name: str | None, spec: dict[str, Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if spec is not None:
            kwargs, args = wire_arguments(spec, f"{self._tool}.{name}" if name else self._tool, args, kwargs), ()
        params = {"tool": self._tool, "recipe": name, "args": kwargs, "positional": list(args)}
        return self._shown(self._call("tools.call", params))

    def _shown(self, value: Any) -> Any:
        if not (isinstance(value, dict) and PICTURES in value):
            return value
        pictures = [Picture(item["mime_type"], item["data"]) for item in value[PICTURES]]
        for picture in pictures:
            if self._show is not None and picture.mime_type in _SHOWN_TYPES:
                self._show(picture)
        if value.get("value") is not None:
            return value["value"]
        return pictures[0] if len(pictures) == 1 else pictures


def wire_arguments(spec: dict[str, Any], label: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments under the tool's own names: positions filled in, Python names mapped back."""
    params = spec["params"]
    positional = [param for param in params if param["kind"] == "positional"]
    if len(args) > len(positional):
        takes = f"{len(positional)} positional argument(s)" if positional else "keyword arguments only"
        raise TypeError(f"{label}() takes {takes} ({len(args)} given); see help() for its parameters")
    by_python = {param["python"]: param for param in params}
    by_name = {param["name"]: param for param in params}
    wire: dict[str, Any] = {param["name"]: value for param, value in zip(positional, args, strict=False)}
    for key, value in kwargs.items():
        param = by_name.get(key) or by_python.get(key)
        name = param["name"] if param is not None else key
        if name in wire:
            raise TypeError(f"{label}() got multiple values for argument {key!r}")
        if value is None and param is not None and param.get("unset"):
            continue  # None is "not given" for a parameter that has no default of its own
        wire[name] = value
    return wire


def _plain_function(body: Callable[..., Any], name: str) -> Callable[..., Any]:
    body.__name__ = body.__qualname__ = name
    return body


class Picture:
    """A picture a tool returned: ``mime_type`` and ``data`` (bytes); shown as a picture of the run."""

    def __init__(self, mime_type: str, data: bytes) -> None:
        self.mime_type = mime_type
        self.data = data

    def _repr_png_(self) -> bytes | None:
        return self.data if self.mime_type == "image/png" else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.data if self.mime_type == "image/jpeg" else None

    def _repr_svg_(self) -> str | None:
        return self.data.decode("utf-8", "replace") if self.mime_type == "image/svg+xml" else None

    def __repr__(self) -> str:
        shown = "shown" if self.mime_type in _SHOWN_TYPES else "not shown: only PNG, JPEG and SVG are"
        return f"<picture {self.mime_type}, {len(self.data):,} bytes ({shown})>"


class Text(str):
    """Text that shows as itself: ``tools.describe()`` as a cell's last line reads like its ``print``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)
