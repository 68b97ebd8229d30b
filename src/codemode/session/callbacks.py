"""Callbacks: host functions the session's code calls by name (eryx's ``Session(callbacks=[...])``).

``Session(callbacks=[Callback("increment", increment, "Add one")])`` (or the dict
``{"name", "fn", "description"}``) makes ``increment`` a name in the session's code:
``increment()`` and ``await increment()`` both call it, ``callbacks.list()`` lists them.
Arguments and results are JSON data (bytes too); the function may be sync (run in
a thread, off the event loop) or async. What it raises reaches the code as an
exception of the same name, catchable by its family (``except ValueError``).
The call travels the same path as ``artifacts.save``: see ``host.py``.
"""

from __future__ import annotations

import functools
import inspect
import json
import keyword
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from codemode.errors import CallbackFailed, InvalidArgument
from codemode.executors.base import Executor
from codemode.worker.protocol import to_wire

RESERVED = frozenset({"tools", "workflows", "skills", "artifacts", "deps", "callbacks", "input"})
"""Names the session's namespace predefines: a callback cannot take them."""

_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (PermissionError, "permission"),
    (TimeoutError, "timeout"),
    (LookupError, "lookup"),
    (ValueError, "value"),
)


@dataclass(frozen=True)
class Callback:
    """A host function the session's code may call: ``name(...)`` there runs ``fn(...)`` here."""

    name: str
    fn: Callable[..., Any]
    description: str = ""


class CallbackSet:
    """A session's callbacks, checked once; serves the code's calls to them."""

    def __init__(self, items: Iterable[Callback | Mapping[str, Any]] | None) -> None:
        self._by_name: dict[str, Callback] = {}
        for item in items or ():
            callback = as_callback(item)
            if callback.name in self._by_name:
                raise InvalidArgument(f"two callbacks are named {callback.name!r}: names must be unique")
            self._by_name[callback.name] = callback
        self.specs = [_spec(callback) for callback in self._by_name.values()]

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def handlers(self) -> dict[str, Callable[..., Awaitable[Any]]]:
        """The host calls that code makes through ``callbacks``."""
        return {"callbacks.call": self.call}

    async def install(self, executor: Executor) -> None:
        """Make sure the interpreter has them as names (it may be a fresh one since the last run)."""
        if self._by_name:
            await executor.request("install_callbacks", {"callbacks": self.specs})

    async def call(self, name: str, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None) -> Any:
        callback = self._by_name.get(name)
        if callback is None:
            raise InvalidArgument(f"no callback named {name!r}; the session has: {', '.join(self._by_name) or 'none'}")
        try:
            value = await _invoke(callback.fn, args or [], kwargs or {})
        except Exception as exc:  # noqa: BLE001 - the code that called it gets it as its own exception
            raise _failure(name, exc) from exc
        try:
            json.dumps(to_wire(value))
        except (TypeError, ValueError):
            raise CallbackFailed(
                f"{name}() returned a {type(value).__name__}, which is not JSON data (or bytes)"
            ) from None
        return value


def as_callback(item: object) -> Callback:
    """A :class:`Callback` from one, or from a dict ``{"name", "fn", "description"}``; checked."""
    if isinstance(item, Mapping):
        unknown = set(item) - {"name", "fn", "description"}
        if unknown or "name" not in item or "fn" not in item:
            raise InvalidArgument(
                f"a callback dict has the keys name, fn and (optionally) description, not {sorted(item)}"
            )
        item = Callback(item["name"], item["fn"], item.get("description", ""))
    if not isinstance(item, Callback):
        raise InvalidArgument(f"a callback is a Callback or a dict with name and fn, not {type(item).__name__}")
    name = item.name
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise InvalidArgument(f"callback name {name!r} must be a Python identifier that does not start with '_'")
    if name in RESERVED:
        raise InvalidArgument(
            f"callback name {name!r} is taken by the session's namespace ({', '.join(sorted(RESERVED))})"
        )
    if not callable(item.fn):
        raise InvalidArgument(f"callback {name!r}: fn must be callable, not {type(item.fn).__name__}")
    if not isinstance(item.description, str):
        raise InvalidArgument(f"callback {name!r}: the description must be a string")
    return item


def _spec(callback: Callback) -> dict[str, str]:
    try:
        signature = str(inspect.signature(callback.fn, eval_str=True))
    except (NameError, SyntaxError):  # annotations that do not evaluate: show them as written
        signature = str(inspect.signature(callback.fn))
    except (TypeError, ValueError):
        signature = "(...)"
    description = callback.description or inspect.getdoc(callback.fn) or ""
    return {"name": callback.name, "description": description, "signature": signature}


async def _invoke(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    value = await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
    if inspect.isawaitable(value):
        value = await value
    return value


_FAILURES: dict[tuple[str, str], type[CallbackFailed]] = {}


def _failure(name: str, exc: Exception) -> CallbackFailed:
    """A CallbackFailed named like ``exc``'s class, so the code sees ``ValueError`` for a ValueError."""
    kind = next((kind for base, kind in _KINDS if isinstance(exc, base)), "runtime")
    key = (type(exc).__name__, kind)
    cls = _FAILURES.get(key)
    if cls is None:
        cls = type(key[0], (CallbackFailed,), {"kind": kind})
        _FAILURES[key] = cls
    return cls(f"callback {name}() raised {type(exc).__name__}: {exc}")
