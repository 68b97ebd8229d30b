"""The objects user code sees as ``tools``, ``workflows``, ``artifacts`` and ``deps``.

Stdlib-only (the worker loads it by path). Every method is a call to the session
host through ``call(method, params)``, which the executor supplies: a socket RPC
in the worker, a hop to the event loop in the in-process executor. The host owns
storage and adapters, so what one client saves is visible to every session at once.
Workflows are the exception: their code is fetched from the host but runs here,
in the session, where it can use the same namespaces. ``tools`` is in
``tool_namespace.py``: its functions carry signatures.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Any]
_HERE = os.path.dirname(os.path.abspath(__file__))


class RemoteError(Exception):
    """An operation that the session host ran on behalf of this code failed."""


_KIND_BASES: dict[str, type[Exception]] = {
    "lookup": LookupError,
    "value": ValueError,
    "timeout": TimeoutError,
    "permission": PermissionError,
}
_ERROR_CLASSES: dict[tuple[str, str], type[Exception]] = {}


def remote_error(payload: dict[str, Any]) -> Exception:
    """Build the exception for an error reply: named as on the host, catchable by kind."""
    name = str(payload.get("type") or "RemoteError")
    kind = str(payload.get("kind") or "")
    cls = _ERROR_CLASSES.get((name, kind))
    if cls is None:
        bases = (RemoteError, _KIND_BASES[kind]) if kind in _KIND_BASES else (RemoteError,)
        cls = type(name, bases, {"__module__": "codemode"})
        _ERROR_CLASSES[(name, kind)] = cls
    return cls(str(payload.get("message", "")))


class _Namespace:
    _help = ""

    def __init__(self, call: Call) -> None:
        self._call = call

    def __repr__(self) -> str:
        return self._help


class Artifacts(_Namespace):
    _help = (
        "artifacts: artifacts.save(name, data, description='', metadata=None), artifacts.load(name), "
        "artifacts.list(), artifacts.delete(name); data is text, bytes or JSON data"
    )

    def save(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        params = {"name": name, "data": data, "description": description, "metadata": metadata or {}}
        return self._call("artifacts.save", params)

    def load(self, name: str) -> Any:
        return self._call("artifacts.load", {"name": name})

    def list(self) -> list[dict[str, Any]]:
        return self._call("artifacts.list", {})

    def delete(self, name: str) -> bool:
        return self._call("artifacts.delete", {"name": name})

    def exists(self, name: str) -> bool:
        return any(item["name"] == name for item in self.list())


class Deps(_Namespace):
    _help = "deps: deps.list(), deps.add(package), deps.remove(package), deps.sync()"

    def list(self) -> list[str]:
        return self._call("deps.list", {})

    def add(self, package: str) -> dict[str, Any]:
        return self._installed(self._call("deps.add", {"package": package}))

    def remove(self, package: str) -> dict[str, Any]:
        return self._call("deps.remove", {"package": package})

    def sync(self) -> dict[str, Any]:
        return self._installed(self._call("deps.sync", {}))

    @staticmethod
    def _installed(result: dict[str, Any]) -> dict[str, Any]:
        import importlib

        importlib.invalidate_caches()  # so packages installed just now are importable
        return result


class Workflows(_Namespace):
    _help = (
        "workflows: workflows.invoke(name, **args) or workflows.<name>(**args), workflows.list(), "
        "workflows.search(query), workflows.get(name), workflows.create(name, source, description), "
        "workflows.delete(name); skills is the same object"
    )

    def __init__(self, call: Call, globals_for_workflows: dict[str, Any]) -> None:
        super().__init__(call)
        self._globals = globals_for_workflows
        self._compiled: dict[tuple[str, str], types.CodeType] = {}
        self._lock = threading.Lock()

    def list(self) -> list[dict[str, Any]]:
        return self._call("workflows.list", {})

    def search(self, query: str, limit: int = 5) -> list[dict[str, Any]]:
        return self._call("workflows.search", {"query": query, "limit": limit})

    def get(self, name: str) -> dict[str, Any] | None:
        return self._call("workflows.get", {"name": name})

    def create(self, name: str, source: str, description: str = "") -> dict[str, Any]:
        return self._call("workflows.create", {"name": name, "source": source, "description": description})

    def delete(self, name: str) -> bool:
        return self._call("workflows.delete", {"name": name})

    def invoke(self, name: str, /, **kwargs: Any) -> Any:
        """Run workflow ``name`` here, in the session; await it if ``run`` is async."""
        result = self.load(name)(**kwargs)
        if _is_awaitable(result):
            return _run_awaitable(result)
        return result

    async def ainvoke(self, name: str, /, **kwargs: Any) -> Any:
        """Like :meth:`invoke`, for code that is already inside an event loop (top-level ``await``)."""
        result = self.load(name)(**kwargs)
        if _is_awaitable(result):
            return await result
        return result

    def load(self, name: str) -> Callable[..., Any]:
        """Return the ``run`` function of workflow ``name``, with the namespaces in its globals."""
        source = self._call("workflows.source", {"name": name})
        key = (name, source)  # the text itself: hashlib would load OpenSSL into every worker
        with self._lock:
            code = self._compiled.get(key)
            if code is None:
                code = compile(source, f"<workflow {name}>", "exec")
                self._compiled[key] = code
        module = types.ModuleType(f"workflow_{name}")
        module.__dict__.update(self._globals)
        exec(code, module.__dict__)  # noqa: S102 - workflows are code the session's users saved
        run = module.__dict__.get("run")
        if not callable(run):
            raise RemoteError(f"workflow {name!r} does not define run()")
        return run

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def invoke(**kwargs: Any) -> Any:
            return self.invoke(name, **kwargs)

        invoke.__name__ = name
        return invoke


def _is_awaitable(value: Any) -> bool:
    import inspect

    return inspect.isawaitable(value)


def _run_awaitable(awaitable: Any) -> Any:
    """Finish a coroutine from sync code, whether or not this thread has a running loop."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_wrap(awaitable))
    # A loop is running here (top-level await called a sync invoke): use a helper thread.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_wrap(awaitable))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="codemode-workflow")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _wrap(awaitable: Any) -> Any:
    return await awaitable


class Callbacks(_Namespace):
    """The host functions the session was given (``Session(callbacks=[...])``); each is also a name of its own."""

    _help = "callbacks: callbacks.list(), callbacks.<name>(**args) or just <name>(**args); await <name>(...) works too"

    def __init__(self, call: Call) -> None:
        super().__init__(call)
        self._specs: list[dict[str, Any]] = []
        self._proxies: dict[str, Callback] = {}

    def list(self) -> list[dict[str, Any]]:
        return [dict(spec) for spec in self._specs]

    def install(self, specs: list[dict[str, Any]]) -> dict[str, Callback] | None:
        """Take the host's callbacks; returns their functions, or None if they are the ones installed."""
        if specs == self._specs:
            return None
        self._specs = specs
        self._proxies = {spec["name"]: Callback(self._call, spec) for spec in specs}
        return dict(self._proxies)

    def __getattr__(self, name: str) -> Callback:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Callback:
        try:
            return self._proxies[name]
        except KeyError:
            known = ", ".join(self._proxies) or "none"
            raise AttributeError(f"no callback named {name!r} (callbacks: {known})") from None


class Callback:
    """One host function: ``name(...)`` returns its result, and ``await name(...)`` works as well."""

    def __init__(self, call: Call, spec: dict[str, Any]) -> None:
        self._call = call
        self.__name__ = spec["name"]
        self.__doc__ = spec.get("description") or None
        self._signature = spec.get("signature", "(...)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value = self._call("callbacks.call", {"name": self.__name__, "args": list(args), "kwargs": kwargs})
        if _awaited(sys._getframe(1)):
            return _Ready(value)
        return value

    def __repr__(self) -> str:
        return f"<callback {self.__name__}{self._signature}: {self.__doc__ or 'a host function'}>"


class _Ready:
    """An awaitable that is already done: what ``await callback()`` awaits."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def __await__(self) -> Any:
        return self._value
        yield  # makes this a generator; never reached


_AWAITED: dict[tuple[types.CodeType, int], bool] = {}
_AWAITED_CACHE = 4096


def _awaited(frame: types.FrameType) -> bool:
    """True if the caller awaits the call it is making (its next instruction is GET_AWAITABLE)."""
    key = (frame.f_code, frame.f_lasti)
    found = _AWAITED.get(key)
    if found is None:
        import dis

        following = [ins for ins in dis.get_instructions(frame.f_code) if ins.offset > frame.f_lasti]
        found = bool(following) and following[0].opname == "GET_AWAITABLE"
        if len(_AWAITED) > _AWAITED_CACHE:
            _AWAITED.clear()
        _AWAITED[key] = found
    return found


def sibling(name: str) -> types.ModuleType:
    """A module of this directory, loaded the way this one was: by package (in-process) or by path (worker)."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    # Threads of the code may need a module first at once: none may find it registered but half run.
    with _SIBLINGS_LOADING:
        loaded = sys.modules.get(f"_codemode_{name}")
        if loaded is not None:
            return loaded
        spec = importlib.util.spec_from_file_location(f"_codemode_{name}", os.path.join(_HERE, f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module


_SIBLINGS_LOADING = threading.RLock()  # reentrant: a module may load a sibling as it runs


def build(call: Call, show: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """The predefined names of a session namespace; ``show`` shows a picture a tool returned (the run's display)."""
    shared: dict[str, Any] = {}
    shared.update(
        tools=sibling("tool_namespace").Tools(call, show, sibling),
        artifacts=Artifacts(call),
        deps=Deps(call),
        workflows=Workflows(call, shared),
        callbacks=Callbacks(call),
    )
    shared["skills"] = shared["workflows"]  # py-code-mode's name for them
    return shared
