"""Worker-side snapshot operations: save the user namespace to a file, load it back.

Standard library only (loaded by path into the worker, see :mod:`ops`); the
serializer, cloudpickle, is imported from the directory the host names for the
duration of one operation (see :mod:`codemode.executors.serializer`).

A snapshot file is ``MAGIC``, one line of JSON (the header: Python version, the
names saved, the modules to re-import, what was skipped) and a pickle of the
saved values. The host reads the header as JSON and never unpickles anything;
only a worker does. Functions and classes defined in the session are pickled by
value with their globals tied to the session's namespace, so after a restore
they see and change the restored variables as before. The predefined namespaces
(``tools``, ``artifacts`` ...) are pickled as references to the new worker's own.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import pickle
import sys
import types
from collections.abc import Iterator
from typing import Any

MAGIC = b"CODEMODE-SNAPSHOT/1\n"
_NAMESPACE_REF = "namespace"
_PREDEFINED_REF = "predefined:"


class SnapshotUnavailable(Exception):
    """The serializer cannot be imported here."""


class SnapshotTooLarge(Exception):
    """The snapshot would exceed its size limit."""


class SnapshotIncompatible(Exception):
    """The file is not a snapshot this interpreter can load."""


def snapshot_save(interp: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Write the user namespace to ``params["path"]``; ``{size, saved, skipped, modules}``."""
    path, limit = params["path"], params.get("max_bytes")
    with _serializer(params.get("serializer")) as cloudpickle:
        values, modules, skipped = _partition(interp)
        try:
            size = _write(path, values, modules, skipped, limit, cloudpickle, interp)
        except SnapshotTooLarge:
            raise
        except Exception:  # noqa: BLE001 - some value cannot be pickled: find which, save the rest
            for name, reason in _unpicklable(values, cloudpickle, interp):
                del values[name]
                skipped.append({"name": name, "reason": reason})
            size = _write(path, values, modules, skipped, limit, cloudpickle, interp)
    return {"size": size, "saved": sorted([*values, *modules]), "skipped": skipped, "modules": modules}


def snapshot_load(interp: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Replace the user namespace with the snapshot in ``params["path"]``; ``{restored, failed}``.

    All or nothing for the values: if they cannot be loaded, the namespace is left as it was.
    A module that cannot be imported here is reported in ``failed`` and the rest is restored.
    """
    with open(params["path"], "rb") as file, _serializer(params.get("serializer")):
        header = _read_header(file)
        backup = dict(interp.namespace)
        interp.reset()
        try:
            # Inside: an imported module's own code can raise anything (SystemExit), and must not lose the namespace.
            failed = _import_modules(interp, header.get("modules", {}))
            with _no_gc():  # millions of new containers would set off the cyclic GC again and again
                values = _Unpickler(file, interp).load()
        except BaseException:
            interp.namespace.clear()
            interp.namespace.update(backup)
            raise
    interp.namespace.update(values)
    restored = sorted(name for name in [*values, *header.get("modules", {})] if name in interp.namespace)
    return {"restored": restored, "failed": failed}


HANDLERS = {"snapshot_save": snapshot_save, "snapshot_load": snapshot_load}


# -- saving -----------------------------------------------------------------------------


def _partition(interp: Any) -> tuple[dict[str, Any], dict[str, str], list[dict[str, str]]]:
    """The user's values, its module names (``alias -> module``) and what cannot be saved at all."""
    values: dict[str, Any] = {}
    modules: dict[str, str] = {}
    skipped: list[dict[str, str]] = []
    for name in interp.user_names():
        value = interp.namespace.get(name)
        if isinstance(value, types.ModuleType):
            module_name = getattr(value, "__name__", None)
            if isinstance(module_name, str) and sys.modules.get(module_name) is value:
                modules[name] = module_name
            else:
                skipped.append({"name": name, "reason": "a module made at run time cannot be imported again"})
        else:
            values[name] = value
    return values, modules, skipped


def _write(
    path: str,
    values: dict[str, Any],
    modules: dict[str, str],
    skipped: list[dict[str, str]],
    limit: int | None,
    cloudpickle: Any,
    interp: Any,
) -> int:
    header = {
        "python": _python_version(),
        "serializer": f"cloudpickle {getattr(cloudpickle, '__version__', '?')}",
        "names": sorted(values),
        "modules": modules,
        "skipped": skipped,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as raw:
        out = _Capped(raw, limit)
        out.write(MAGIC + json.dumps(header).encode() + b"\n")
        _pickler(cloudpickle, out, interp).dump(values)
        return out.size


def _unpicklable(values: dict[str, Any], cloudpickle: Any, interp: Any) -> Iterator[tuple[str, str]]:
    """Each name whose value cannot be pickled alone, with the reason (pickled into a counter, not kept)."""
    for name, value in list(values.items()):
        try:
            _pickler(cloudpickle, _Capped(None, None), interp).dump(value)
        except Exception as exc:  # noqa: BLE001 - the reason is reported, whatever it is
            yield name, f"{type(exc).__name__}: {exc}"


def _pickler(cloudpickle: Any, out: Any, interp: Any) -> Any:
    # Only reducer_override, no persistent_id: the C pickler calls persistent_id for every object,
    # ints and strings included, which made snapshots of many small values several times slower.
    predefined = {id(value): name for name, value in _predefined(interp).items()}
    namespace = interp.namespace

    class Pickler(cloudpickle.Pickler):
        def _function_getnewargs(self, func: Any) -> Any:
            # A function of the session gets the restoring worker's namespace as its globals, not a copy.
            args = super()._function_getnewargs(func)
            return (args[0], _NAMESPACE, *args[2:]) if func.__globals__ is namespace else args

        def reducer_override(self, obj: Any) -> Any:
            if obj is _NAMESPACE:
                return _resolve, (_NAMESPACE_REF,)
            name = predefined.get(id(obj))
            if name is not None:
                return _resolve, (_PREDEFINED_REF + name,)
            if isinstance(obj, io.IOBase):  # cloudpickle would save a readable file's contents as a StringIO
                raise TypeError(f"an open file ({type(obj).__name__}) belongs to this process and cannot be saved")
            return super().reducer_override(obj)

    return Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)


class _Namespace:
    """Stands for the session's namespace in a snapshot."""


_NAMESPACE = _Namespace()


def _resolve(reference: str) -> Any:
    """What a snapshot refers to by name; only a loader can tell (its ``find_class`` replaces this)."""
    raise pickle.UnpicklingError(f"{reference!r} can only be resolved while a snapshot is restored")


def _predefined(interp: Any) -> dict[str, Any]:
    users = set(interp.user_names())
    return {
        name: value
        for name, value in interp.namespace.items()
        if name not in users and not (name.startswith("__") and name.endswith("__"))
    }


class _Capped:
    """A write-only file that counts bytes and refuses to grow past ``limit`` (``raw=None``: count only)."""

    def __init__(self, raw: Any, limit: int | None) -> None:
        self._raw = raw
        self._limit = limit
        self.size = 0

    def write(self, data: Any) -> int:
        length = memoryview(data).nbytes
        self.size += length
        if self._limit is not None and self.size > self._limit:
            raise SnapshotTooLarge(f"the snapshot is larger than its limit of {self._limit:,} bytes")
        if self._raw is not None:
            self._raw.write(data)
        return length


# -- loading ----------------------------------------------------------------------------


def _read_header(file: Any) -> dict[str, Any]:
    if file.read(len(MAGIC)) != MAGIC:
        raise SnapshotIncompatible("this is not a codemode snapshot")
    header = json.loads(file.readline())
    here = _python_version()
    if header.get("python") != here:
        raise SnapshotIncompatible(
            f"the snapshot was taken with Python {header.get('python')} and this session runs Python {here}: "
            "functions and classes can only be restored into the same Python version"
        )
    return header


def _import_modules(interp: Any, modules: dict[str, str]) -> list[dict[str, str]]:
    import importlib

    failed = []
    for name, module_name in modules.items():
        try:
            interp.namespace[name] = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - one missing package must not lose the rest
            failed.append({"name": name, "reason": f"import {module_name} failed: {type(exc).__name__}: {exc}"})
    return failed


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, interp: Any) -> None:
        super().__init__(file)
        self._interp = interp
        self._predefined = _predefined(interp)

    def find_class(self, module: str, name: str) -> Any:
        if name == _resolve.__name__ and module == _resolve.__module__:
            return self._resolve
        return super().find_class(module, name)

    def _resolve(self, reference: str) -> Any:
        if reference == _NAMESPACE_REF:
            return self._interp.namespace
        name = reference.removeprefix(_PREDEFINED_REF)
        if reference.startswith(_PREDEFINED_REF) and name in self._predefined:
            return self._predefined[name]
        raise pickle.UnpicklingError(f"unknown reference in the snapshot: {reference!r}")


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


@contextlib.contextmanager
def _serializer(path: str | None) -> Iterator[Any]:
    """cloudpickle, from ``path`` (appended to ``sys.path`` while the operation runs) if not importable as is."""
    added = path if path is not None and path not in sys.path else None
    if added is not None:
        sys.path.append(added)
    try:
        try:
            import cloudpickle
        except ImportError as exc:
            where = f" (looked in {path})" if path else ""
            raise SnapshotUnavailable(
                f"snapshots are unavailable in this session: its Python cannot import cloudpickle{where}: {exc}"
            ) from None
        yield cloudpickle
    finally:
        if added is not None:
            with contextlib.suppress(ValueError):
                sys.path.remove(added)
