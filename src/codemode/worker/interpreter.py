"""The REPL core that both executors share: compile, run, shape results.

Stdlib-only, because the worker loads it by path into an interpreter that may
not have ``codemode`` installed. It knows nothing about processes, pipes or
MCP: the subprocess worker and the in-process executor wrap it with their own
output capture and transport.
"""

from __future__ import annotations

import ast
import builtins
import collections
import linecache
import os
import traceback
import types
from collections.abc import Mapping
from typing import Any

CELL_PREFIX = "<cell-"
_LAST_VALUE = "__codemode_last_value__"
_CO_COROUTINE = 0x0080  # inspect.CO_COROUTINE, without importing inspect into every worker
_LINECACHE_CELLS = 500
_NO_INPUT = (
    "input() is not available in a code-mode session: code runs without an interactive stdin. "
    "Put the values in the code, or load them from an artifact."
)
# Frames from these files are ours, not the user's: tracebacks leave them out.
_OWN_DIR = os.path.dirname(os.path.abspath(__file__))


def _no_input(prompt: object = "") -> str:
    raise EOFError(_NO_INPUT)


class Interpreter:
    """One persistent namespace and the rules for running code in it.

    ``predefined`` maps names (``tools``, ``artifacts``, ...) to objects that
    every fresh namespace starts with, and that :meth:`reset` restores.
    """

    def __init__(
        self,
        predefined: Mapping[str, Any],
        *,
        value_cap: int,
        traceback_cap: int,
        module_name: str = "__main__",
    ) -> None:
        self._predefined = dict(predefined)
        self._value_cap = value_cap
        self._traceback_cap = traceback_cap
        self._module_name = module_name
        self.module = types.ModuleType(module_name)
        self.namespace: dict[str, Any] = self.module.__dict__
        self._cells: collections.deque[str] = collections.deque()
        self._loop: Any = None
        self.running_user_code = False
        self.reset()

    def reset(self) -> None:
        """Drop every user variable; keep the predefined names."""
        self.namespace.clear()
        self.namespace.update(
            __name__=self._module_name,
            __builtins__=builtins,
            input=_no_input,
            **self._predefined,
        )

    def predefined(self, name: str) -> Any:
        """The predefined object ``name`` (whatever the code has bound to that name since)."""
        return self._predefined[name]

    def predefine(self, names: Mapping[str, Any]) -> None:
        """Add names every namespace starts with, kept by :meth:`reset` (a session's callbacks)."""
        self._predefined.update(names)
        self.namespace.update(names)

    def user_names(self) -> list[str]:
        """Names the session's code defined: not the predefined ones, not dunders."""
        return [
            name
            for name in self.namespace
            if name not in self._predefined and not (name.startswith("__") and name.endswith("__")) and name != "input"
        ]

    def execute(self, code: str, count: int) -> dict[str, Any]:
        """Run ``code``; return ``{value, literal, error, truncated}`` (output is captured by the caller).

        ``value`` is the repr of the last expression; ``literal`` is that value encoded by
        :func:`encode_literal` when it is plain data that survives the trip to the host, else None.
        """
        filename = f"{CELL_PREFIX}{count}>"
        self._remember_source(filename, code)
        self._new_run()
        try:
            compiled, has_value = self._compile(code, filename)
        except (SyntaxError, ValueError) as exc:
            return {"value": None, "literal": None, "error": self._syntax_error(exc), "truncated": False}
        try:
            self._run(compiled)
            value = self.namespace.pop(_LAST_VALUE, None) if has_value else None
            shown, truncated = self._show(value)
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
            self.namespace.pop(_LAST_VALUE, None)
            error = self._error(exc)
            return {"value": None, "literal": None, "error": error, "truncated": bool(error.pop("_truncated", False))}
        # A cut repr means a value too big to send whole: it stays a (cut) repr.
        literal = None if shown is None or truncated else encode_literal(value)
        return {"value": shown, "literal": literal, "error": None, "truncated": truncated}

    def _new_run(self) -> None:
        # Namespaces that keep what they fetched for one run (``tools``: signatures) start afresh.
        for value in self._predefined.values():
            new_run = getattr(type(value), "_new_run", None)
            if new_run is not None:
                new_run(value)

    # -- compiling and running ---------------------------------------------------------

    def _compile(self, code: str, filename: str) -> tuple[types.CodeType, bool]:
        """Compile ``code`` as one unit; a final expression is assigned to a hidden name.

        One code object, not "body + last expression", so that top-level ``await``
        anywhere in the cell runs in one coroutine (``t = create_task(...)`` then
        ``await t`` must share a running loop).
        """
        tree = ast.parse(code, filename, "exec")
        has_value = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
        if has_value:
            last = tree.body[-1]
            assert isinstance(last, ast.Expr)
            target = ast.Name(id=_LAST_VALUE, ctx=ast.Store())
            tree.body[-1] = ast.copy_location(ast.Assign(targets=[target], value=last.value), last)
            ast.fix_missing_locations(tree)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        return compile(tree, filename, "exec", flags=flags, dont_inherit=True), has_value

    def _run(self, code: types.CodeType) -> Any:
        self.running_user_code = True
        try:
            result = eval(code, self.namespace)  # noqa: S307 - running the user's code is the point
            if code.co_flags & _CO_COROUTINE:
                result = self._await(result)
            return result
        finally:
            self.running_user_code = False

    def _await(self, coroutine: Any) -> Any:
        # asyncio is imported only by code that uses top-level await: it costs start-up time and memory.
        import asyncio

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        task = self._loop.create_task(coroutine)
        try:
            return self._loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                try:
                    self._loop.run_until_complete(task)
                except BaseException:  # noqa: BLE001, S110 - the original error is the one to report
                    pass
            raise

    def _show(self, value: Any) -> tuple[str | None, bool]:
        if value is None:
            return None, False
        self.namespace["_"] = value
        self.running_user_code = True
        try:
            text = repr(value)
        finally:
            self.running_user_code = False
        return _cap(text, self._value_cap)

    def _remember_source(self, filename: str, code: str) -> None:
        # linecache lets tracebacks show the cell's lines; keep only the recent cells. Every line ends
        # with a newline, as read from a file: without one, Python 3.11 puts the carets one column right.
        lines = (code if code.endswith("\n") else code + "\n").splitlines(True)
        linecache.cache[filename] = (len(code), None, lines, filename)
        self._cells.append(filename)
        while len(self._cells) > _LINECACHE_CELLS:
            linecache.cache.pop(self._cells.popleft(), None)

    # -- shaping errors -------------------------------------------------------------

    def _syntax_error(self, exc: SyntaxError | ValueError) -> dict[str, Any]:
        text = "".join(traceback.format_exception_only(type(exc), exc))
        error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc), "traceback": text}
        if isinstance(exc, SyntaxError):
            error.update(message=exc.msg or str(exc), line=exc.lineno, column=exc.offset)
        return error

    def _error(self, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, SyntaxError):  # raised by compile()/exec() inside user code
            return self._syntax_error(exc)
        summary = traceback.TracebackException.from_exception(exc)
        _drop_own_frames(summary)
        text, truncated = _cap("".join(summary.format()), self._traceback_cap, keep_tail=True)
        message = _system_exit_message(exc) if isinstance(exc, SystemExit) else _safe_str(exc)
        error: dict[str, Any] = {"type": type(exc).__name__, "message": message, "traceback": text}
        frame = _last_cell_frame(summary)
        if frame is not None:
            error["line"] = frame.lineno
        if truncated:
            error["_truncated"] = True
        return error


# -- plain data that crosses to the host as itself ----------------------------------------
#
# Only exact built-in types qualify (a subclass could carry behaviour, or lie in its repr),
# encoded as JSON with one-key tags for what JSON lacks. The host rebuilds them with a
# decoder that accepts these tags and nothing else, so nothing the worker sends is ever
# evaluated or unpickled. Encoding runs no user code: exact built-ins only.

LITERAL_MAX_DEPTH = 32
LITERAL_MAX_NODES = 10_000
_SPECIAL_FLOATS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


class _NotLiteral(Exception):
    pass


def encode_literal(value: Any) -> Any:
    """``value`` as tagged JSON data if it is plain data within the size bounds, else None."""
    budget = [LITERAL_MAX_NODES]
    try:
        return _encode(value, 0, budget)
    except (_NotLiteral, UnicodeEncodeError):
        return None


def _encode(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if depth > LITERAL_MAX_DEPTH or budget[0] < 0:
        raise _NotLiteral
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is str:
        value.encode("utf-8")  # lone surrogates would not survive the UTF-8 frame
        return value
    if kind is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"float": repr(value)}
    if kind is bytes:
        import base64

        return {"bytes": base64.b64encode(value).decode("ascii")}
    if kind is list:
        return [_encode(item, depth + 1, budget) for item in value]
    if kind is tuple or kind is set or kind is frozenset:
        return {kind.__name__: [_encode(item, depth + 1, budget) for item in value]}
    if kind is dict:
        return {"dict": [[_encode(k, depth + 1, budget), _encode(v, depth + 1, budget)] for k, v in value.items()]}
    raise _NotLiteral


def decode_literal(data: Any) -> Any:
    """Inverse of :func:`encode_literal`; raises ``ValueError`` for anything it did not produce."""
    budget = [LITERAL_MAX_NODES]
    try:
        return _decode(data, 0, budget)
    except (TypeError, _NotLiteral, RecursionError) as exc:  # TypeError: an unhashable key or set item
        raise ValueError(f"not an encoded literal: {exc}") from None


def _decode(data: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if depth > LITERAL_MAX_DEPTH or budget[0] < 0:
        raise _NotLiteral("too deep or too large")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [_decode(item, depth + 1, budget) for item in data]
    if kind is not dict or len(data) != 1:
        raise _NotLiteral(f"unexpected {kind.__name__}")
    ((tag, payload),) = data.items()
    if tag == "bytes" and type(payload) is str:
        import base64

        return base64.b64decode(payload, validate=True)
    if tag == "float" and payload in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[payload]
    if type(payload) is not list:
        raise _NotLiteral(f"bad payload for {tag!r}")
    if tag == "dict":
        return dict(_pair(item, depth, budget) for item in payload)
    items = [_decode(item, depth + 1, budget) for item in payload]
    if tag == "tuple":
        return tuple(items)
    if tag == "set":
        return set(items)
    if tag == "frozenset":
        return frozenset(items)
    raise _NotLiteral(f"unknown tag {tag!r}")


def _pair(item: Any, depth: int, budget: list[int]) -> tuple[Any, Any]:
    if type(item) is not list or len(item) != 2:
        raise _NotLiteral("a dict item is not a [key, value] pair")
    return _decode(item[0], depth + 1, budget), _decode(item[1], depth + 1, budget)


def _drop_own_frames(summary: traceback.TracebackException) -> None:
    seen: set[int] = set()
    current: traceback.TracebackException | None = summary
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kept = [frame for frame in current.stack if not _is_own_file(frame.filename)]
        current.stack = traceback.StackSummary.from_list(kept)
        current = current.__cause__ or current.__context__


def _is_own_file(filename: str) -> bool:
    return os.path.dirname(os.path.abspath(filename)) == _OWN_DIR if not filename.startswith("<") else False


def _last_cell_frame(summary: traceback.TracebackException) -> traceback.FrameSummary | None:
    cells = [frame for frame in summary.stack if frame.filename.startswith(CELL_PREFIX)]
    return cells[-1] if cells else None


def _system_exit_message(exc: SystemExit) -> str:
    return (
        f"code called exit({exc.code!r}); a code-mode session does not end on exit(): "
        "the interpreter and its variables are still there"
    )


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception as inner:  # noqa: BLE001 - a broken __str__ must not hide the error itself
        return f"<str() of the exception failed: {type(inner).__name__}>"


def _cap(text: str, cap: int, keep_tail: bool = False) -> tuple[str, bool]:
    if len(text) <= cap:
        return text, False
    marker = f"\n... [{len(text) - cap:,} characters cut] ...\n"
    if keep_tail:
        half = cap // 2
        return text[:half] + marker + text[-half:], True
    return text[:cap] + marker, True
