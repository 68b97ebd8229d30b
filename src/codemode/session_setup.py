"""What ``Session(...)`` is given, checked, and the parts made of it: executor, workspace, timeout.

Each argument is checked here, once, with an error that says what is allowed;
``Session`` only uses what passed.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Literal

from codemode.config import ExecutorConfig, SubprocessConfig
from codemode.errors import InvalidArgument
from codemode.executors.base import ExecutionLimits, Executor
from codemode.executors.sandbox import SandboxConfig, SandboxMode
from codemode.storage.base import Storage
from codemode.storage.file import FileStorage
from codemode.venvs import VenvCache
from codemode.workspace import Workspace

ExecutorName = Literal["subprocess", "inprocess"]


class _UseDefault:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _UseDefault()
"""``run(code)`` without ``timeout`` uses the session's default; ``timeout=None`` means no limit."""


def make_executor(name: str, limits: ExecutionLimits, sandbox: SandboxConfig | None = None) -> Executor:
    """An executor by name: ``subprocess`` or ``inprocess`` (which cannot be sandboxed)."""
    if name == "subprocess":
        from codemode.executors.subprocess import SubprocessExecutor

        return SubprocessExecutor(limits=limits, sandbox=sandbox)
    if name == "inprocess":
        if sandbox is not None and sandbox.mode == "bwrap":
            raise InvalidArgument("the in-process executor runs code inside the server and cannot be sandboxed")
        from codemode.executors.inprocess import InProcessExecutor

        return InProcessExecutor(limits=limits)
    raise InvalidArgument(f"unknown executor {name!r}: use 'subprocess' or 'inprocess'")


def sandbox_config(sandbox: SandboxMode | SandboxConfig) -> SandboxConfig:
    if isinstance(sandbox, SandboxConfig):
        return sandbox
    if sandbox not in ("auto", "bwrap", "none"):
        raise InvalidArgument(f"sandbox must be 'auto', 'bwrap', 'none' or a SandboxConfig, not {sandbox!r}")
    return SandboxConfig(mode=sandbox)


def check_storage(storage: object) -> Storage:
    """``storage`` if it is a storage backend; else a TypeError saying what is."""
    if storage is None:
        raise TypeError(
            "Session needs a storage: Session(storage=FileStorage(base_path=...)) or RedisStorage(url=...); "
            "or use Session.from_base(path)"
        )
    if not isinstance(storage, Storage):
        raise TypeError(f"storage must be a FileStorage or RedisStorage (a Storage), not {type(storage).__name__}")
    return storage


def check_executor(executor: object) -> None:
    """A TypeError unless ``executor`` is an executor object (names are checked by make_executor)."""
    required = ("name", "capabilities", "start", "run", "reset", "close")
    if not all(hasattr(executor, name) for name in required):
        raise TypeError(
            f"executor must be a SubprocessExecutor or InProcessExecutor (or 'subprocess' / 'inprocess'), "
            f"not {type(executor).__name__}"
        )


def workspace_for(storage: Storage, config: ExecutorConfig | None) -> tuple[Workspace, Path | None]:
    """The workspace of ``Session(storage, executor)``: an executor's config adds tools, deps, the Python.

    Also the temporary directory of its venvs, which the session removes on close (None if venvs are cached).
    """
    cwd = storage.base_path if isinstance(storage, FileStorage) else None
    if config is None:
        return Workspace(storage, cwd=cwd), None
    is_subprocess = isinstance(config, SubprocessConfig)
    temporary, venvs = venv_cache(not is_subprocess or config.cache_venv)
    workspace = Workspace(
        storage,
        cwd=cwd,
        extra_deps=config.extra_deps(),
        allow_runtime_deps=config.allow_runtime_deps,
        python=config.python_version if is_subprocess else None,
        venvs=venvs,
        tools_path=config.tools_path,
    )
    return workspace, temporary


def venv_cache(cache: bool) -> tuple[Path | None, VenvCache | None]:
    """Unless venvs are cached across sessions: a cache in a new temporary directory (and that directory)."""
    if cache:
        return None, None
    temporary = Path(tempfile.mkdtemp(prefix="codemode-venvs-"))
    return temporary, VenvCache(temporary)


def resolve_timeout(timeout: float | None, default: float | None, max_timeout: float | None) -> float | None:
    """``timeout`` (``default`` if it is ``DEFAULT``); InvalidArgument unless it is within ``max_timeout``."""
    if timeout is DEFAULT:
        timeout = default
    if max_timeout is None:
        if timeout is not None and (not _is_number(timeout) or not 0 < timeout < math.inf):
            raise InvalidArgument(f"timeout must be a positive number of seconds or None (no limit), not {timeout!r}")
        return timeout
    if timeout is None or not _is_number(timeout) or not 0 < timeout <= max_timeout:
        raise InvalidArgument(
            f"timeout must be a positive number of seconds up to {max_timeout:g} (the maximum), not {timeout!r}"
        )
    return timeout


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
