"""What ``Session(...)`` is given, checked, and the parts made of it: executor, workspace, timeout.

Each argument is checked here, once, with an error that says what is allowed;
``Session`` only uses what passed.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from codemode.config import ExecutorConfig, SubprocessConfig
from codemode.errors import InvalidArgument
from codemode.executors.base import Executor
from codemode.models import ExecutionLimits
from codemode.sandbox.launcher import SandboxConfig, SandboxMode
from codemode.storage.base import Storage
from codemode.storage.file import FileStorage
from codemode.storage.memory import MemoryStorage
from codemode.tools.mcp_config import check_mcp_configs
from codemode.workspace.quota import StorageQuota
from codemode.workspace.venvs import VenvCache
from codemode.workspace.workspace import Workspace

ExecutorName = Literal["subprocess", "inprocess"]


class _UseDefault:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _UseDefault()
"""``run(code)`` without ``timeout`` uses the session's default; ``timeout=None`` means no limit."""


def make_executor(name: str, limits: ExecutionLimits, sandbox: SandboxConfig | None = None) -> Executor:
    """An executor by name: ``subprocess`` or ``inprocess`` (which cannot be sandboxed)."""
    if name == "subprocess":
        from codemode.executors.subprocess_executor import SubprocessExecutor

        return SubprocessExecutor(limits=limits, sandbox=sandbox)
    if name == "inprocess":
        if sandbox is not None and sandbox.mode == "bwrap":
            raise InvalidArgument("the in-process executor runs code inside the server and cannot be sandboxed")
        if sandbox is not None and sandbox.allow_hosts:
            raise InvalidArgument(
                "--allow-host needs the subprocess executor: in-process code uses the server's network"
            )
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
    """``storage`` if it is a storage backend; none: an ephemeral one, in memory (eryx's ``Session()``).
    Anything else is a TypeError saying what is allowed."""
    if storage is None:
        return MemoryStorage()  # workflows and artifacts live as long as the session
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


@dataclass(frozen=True)
class WorkspaceOptions:
    """What a workspace is made of beyond its storage; :meth:`build` is the one place it becomes a ``Workspace``.

    ``Session.from_base``, ``Session(storage, executor)`` (from the executor's config) and the
    server each fill one.
    """

    cwd: Path | None = None  # None: a FileStorage's directory
    extra_deps: Sequence[str] = ()
    allow_runtime_deps: bool = True
    allow_source_builds: bool = False
    python: str | None = None
    cache_venv: bool = True
    tools_path: Path | None = None
    tool_storage: Storage | None = None
    quota: StorageQuota | None = None  # None: the defaults
    mcp_config: Sequence[Path] = ()  # mcpServers / servers files; checked by build

    @classmethod
    def of_config(cls, config: ExecutorConfig | None) -> WorkspaceOptions:
        """py-code-mode's executor config: tools, deps and, for a subprocess, the Python and its venv."""
        if config is None:
            return cls()
        is_subprocess = isinstance(config, SubprocessConfig)
        return cls(
            extra_deps=config.extra_deps(),
            allow_runtime_deps=config.allow_runtime_deps,
            python=config.python_version if is_subprocess else None,
            cache_venv=config.cache_venv if is_subprocess else True,
            tools_path=config.tools_path,
        )

    def build(self, storage: Storage, pass_env: Sequence[str]) -> tuple[Workspace, Path | None]:
        """The workspace (its tools get ``pass_env`` too), and the temporary directory of its venvs.

        Whoever closes the workspace removes that directory; it is None if venvs are cached. An
        ``mcp_config`` file that cannot be used (not JSON, a server without a command) is an ``InvalidArgument``
        that names the file and the server.
        """
        check_mcp_configs(self.mcp_config)
        temporary, venvs = venv_cache(self.cache_venv)
        workspace = Workspace(
            storage,
            cwd=self.cwd or (storage.base_path if isinstance(storage, FileStorage) else None),
            extra_deps=self.extra_deps,
            allow_runtime_deps=self.allow_runtime_deps,
            allow_source_builds=self.allow_source_builds,
            python=self.python,
            venvs=venvs,
            tool_storage=self.tool_storage,
            tools_path=self.tools_path,
            pass_env=pass_env,
            quota=self.quota,
            mcp_config=self.mcp_config,
        )
        return workspace, temporary


def session_workspace(
    storage: Storage, executor: Executor, sandbox: SandboxConfig, options: WorkspaceOptions | None = None
) -> tuple[Workspace, Path | None]:
    """A session's own workspace: ``options``, else those of the executor's config (see ``build``).

    Its tools get the variables the executor's workers get, so code sees one environment
    whether it reads a variable itself or through a tool: the executor's sandbox config's
    ``pass_env`` (``sandbox``'s for an executor without one, the in-process executor).
    """
    options = options or WorkspaceOptions.of_config(getattr(executor, "config", None))
    own = getattr(executor, "sandbox", None)
    return options.build(storage, (own if isinstance(own, SandboxConfig) else sandbox).pass_env)


def on_base(
    base: str | Path,
    executor: Executor | str,
    limits: ExecutionLimits,
    sandbox: SandboxConfig,
    options: WorkspaceOptions,
) -> tuple[Executor, Workspace, Path | None]:
    """What ``Session.from_base`` is made of: the executor (made if named), the workspace on ``base``, and
    the temporary directory of its venvs (see ``build``)."""
    if isinstance(executor, str):
        executor = make_executor(executor, limits, sandbox)
    workspace, temporary = session_workspace(FileStorage(base), executor, sandbox, options)
    return executor, workspace, temporary


def mcp_config_paths(paths: Sequence[str | Path] | str | Path | None) -> tuple[Path, ...]:
    """``Session(mcp_config=...)``: one path or several, each made absolute (a relative one is the cwd's)."""
    if paths is None:
        return ()
    if isinstance(paths, str | Path):
        paths = [paths]
    return tuple(Path(path).expanduser().resolve() for path in paths)


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
