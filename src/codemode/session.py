"""``Session``: the one public façade over an executor and a workspace.

A session is a persistent Python namespace (in a worker process by default)
plus the workspace it works on: tools, workflows, artifacts and deps. Each
feature is a method here and a namespace in the code the session runs; both
reach the same workspace, so what code saves, the API sees, and the other way round.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import anyio

from codemode.artifacts import ArtifactInfo
from codemode.deps import DepsResult, RemoveResult
from codemode.errors import DepsError, InvalidArgument, SessionClosed, WorkflowNotFound
from codemode.executors.base import Capability, ExecutionLimits, Executor
from codemode.host import HostApi
from codemode.models import ExecutionResult, SessionInfo
from codemode.storage.base import Storage
from codemode.storage.file import FileStorage
from codemode.tools.registry import ToolInfo
from codemode.venvs import VenvCache
from codemode.workflows import Workflow, WorkflowInfo
from codemode.workspace import Workspace

logger = logging.getLogger(__name__)

ExecutorName = Literal["subprocess", "inprocess"]


class _UseDefault:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _UseDefault()
"""``run(code)`` without ``timeout`` uses the session's default; ``timeout=None`` means no limit."""


class Session:
    """A long-lived code-mode session. Use ``async with``, or ``start()`` then ``close()`` (same task)."""

    def __init__(
        self,
        storage: Storage | None = None,
        executor: Executor | None = None,
        *,
        workspace: Workspace | None = None,
        timeout: float | None = 30.0,
        limits: ExecutionLimits | None = None,
        sync_deps_on_start: bool = False,
        name: str | None = None,
        session_id: str | None = None,
    ) -> None:
        if workspace is None:
            storage = storage if storage is not None else FileStorage(Path.cwd())
            workspace = Workspace(storage, cwd=_local_dir(storage))
        self.workspace = workspace
        self._limits = limits or ExecutionLimits()
        self._executor = executor if executor is not None else make_executor("subprocess", self._limits)
        _check_timeout(timeout)
        self.default_timeout = timeout
        self.sync_deps_on_start = sync_deps_on_start
        self.session_id = session_id or secrets.token_urlsafe(24)
        self.name = name
        self.created_at = datetime.now(UTC)
        self.labels: dict[str, str] = {}
        self.execution_count = 0
        self.last_activity = time.monotonic()
        self._started = False
        self._closed = False
        self._start_lock = anyio.Lock()
        self._run_lock = anyio.Lock()
        self._host = HostApi(workspace, self._check_deps_supported)
        self._temporary_venvs: Path | None = None
        self._no_venv = False

    # -- constructors ----------------------------------------------------------------

    @classmethod
    def from_base(
        cls,
        base: str | Path,
        *,
        timeout: float | None = 30.0,
        extra_deps: Sequence[str] | None = None,
        allow_runtime_deps: bool = True,
        sync_deps_on_start: bool = False,
        executor: ExecutorName | Executor = "subprocess",
        limits: ExecutionLimits | None = None,
        python_version: str | None = None,
        cache_venv: bool = True,
        name: str | None = None,
    ) -> Session:
        """A session on workspace ``base``: its ``tools/``, ``workflows/``, ``artifacts/``, ``requirements.txt``."""
        directory = Path(base).expanduser().resolve()
        limits = limits or ExecutionLimits()
        temporary = None if cache_venv else Path(tempfile.mkdtemp(prefix="codemode-venvs-"))
        workspace = Workspace(
            FileStorage(directory),
            cwd=directory,
            extra_deps=extra_deps or (),
            allow_runtime_deps=allow_runtime_deps,
            python=python_version,
            venvs=VenvCache(temporary) if temporary else None,
        )
        if isinstance(executor, str):
            executor = make_executor(executor, limits, cwd=directory)
        session = cls(
            executor=executor,
            workspace=workspace,
            timeout=timeout,
            limits=limits,
            sync_deps_on_start=sync_deps_on_start,
            name=name,
        )
        session._temporary_venvs = temporary
        return session

    @classmethod
    def subprocess(cls, base_path: str | Path, *, timeout: float | None = 60.0, **options: Any) -> Session:
        """Code runs in a worker process, in the workspace's venv: isolated, interruptible, restartable."""
        return cls.from_base(base_path, timeout=timeout, executor="subprocess", **options)

    @classmethod
    def inprocess(cls, base_path: str | Path, *, timeout: float | None = 30.0, **options: Any) -> Session:
        """Code runs in the host process: fastest, and not isolated at all (trusted code only)."""
        return cls.from_base(base_path, timeout=timeout, executor="inprocess", **options)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the workspace and start the executor. Safe to call more than once, and concurrently."""
        if self._started and not self._closed:
            return
        async with self._start_lock:
            if self._closed:
                raise SessionClosed(f"session {self.session_id} is closed")
            if self._started:
                return
            await self.workspace.open()
            try:
                await self._enter_venv()
                await self._executor.start(self._host)
                if self.sync_deps_on_start and self._runs_in_venv():
                    await self.workspace.deps.sync()
            except BaseException:
                await self.workspace.close()
                raise
            self._started = True

    async def close(self) -> None:
        """Stop the executor; no process of this session survives it."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._executor.close()
        if self._started:
            await self.workspace.close()  # not inside the shield: it leaves the workspace's task group
        if self._temporary_venvs is not None:
            shutil.rmtree(self._temporary_venvs, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- running code ----------------------------------------------------------------

    async def run(self, code: str, timeout: float | None = DEFAULT) -> ExecutionResult:
        """Run ``code`` in the session's namespace.

        ``timeout`` in seconds; omitted, the session's default; ``None``, no limit.
        """
        if not isinstance(code, str):
            raise InvalidArgument(f"code must be a string, not {type(code).__name__}")
        limit = self.default_timeout if timeout is DEFAULT else timeout
        _check_timeout(limit)
        await self.start()
        async with self._run_lock:
            if self._closed:
                raise SessionClosed(f"session {self.session_id} is closed")
            self.execution_count += 1
            self.touch()
            try:
                result = await self._executor.run(code, count=self.execution_count, timeout=limit)
            finally:
                self.touch()
        result.session_id = self.session_id
        return result

    async def reset(self, hard: bool = False) -> None:
        """Clear user variables (keep the namespaces); ``hard=True`` starts a fresh interpreter."""
        await self.start()
        async with self._run_lock:
            if hard:
                await self._executor.restart()
            else:
                await self._executor.reset()

    def touch(self) -> None:
        """Note that the session is in use now (idle expiry counts from the last activity)."""
        self.last_activity = time.monotonic()

    @property
    def busy(self) -> bool:
        """True while code runs (or a reset is under way)."""
        return self._run_lock.locked()

    def supports(self, capability: str) -> bool:
        return capability in self.supported_capabilities()

    def supported_capabilities(self) -> set[str]:
        capabilities = set(self._executor.capabilities)
        if not (self._runs_in_venv() and self.workspace.deps.allow_runtime_deps):
            capabilities.discard(Capability.DEPS_INSTALL)
        return {str(capability) for capability in capabilities}

    def info(self) -> SessionInfo:
        runtime = self._executor.runtime
        return SessionInfo(
            session_id=self.session_id,
            name=self.name,
            created_at=self.created_at,
            execution_count=self.execution_count,
            executor=self._executor.name,
            capabilities=sorted(Capability(value) for value in self.supported_capabilities()),
            python_version=runtime.python_version if runtime else None,
            python_executable=runtime.executable if runtime else None,
            venv=runtime.prefix if runtime else None,
            worker_pid=runtime.pid if runtime else None,
            default_timeout=self.default_timeout,
            labels=dict(self.labels),
        )

    @property
    def storage(self) -> Storage:
        return self.workspace.storage

    @property
    def executor(self) -> Executor:
        return self._executor

    # -- tools -----------------------------------------------------------------------

    async def list_tools(self) -> list[ToolInfo]:
        return (await self.workspace.tools.list()).tools

    async def search_tools(self, query: str, limit: int = 10) -> list[ToolInfo]:
        return await self.workspace.tools.search(query, limit)

    # -- workflows -------------------------------------------------------------------

    async def list_workflows(self) -> list[WorkflowInfo]:
        return await self.workspace.workflows.list()

    async def search_workflows(self, query: str, limit: int = 5) -> list[WorkflowInfo]:
        return await self.workspace.workflows.search(query, limit)

    async def get_workflow(self, name: str) -> Workflow | None:
        try:
            return await self.workspace.workflows.get(name)
        except WorkflowNotFound:
            return None

    async def add_workflow(self, name: str, source: str, description: str = "") -> WorkflowInfo:
        return await self.workspace.workflows.add(name, source, description)

    async def remove_workflow(self, name: str) -> bool:
        return await self.workspace.workflows.remove(name)

    # -- artifacts -------------------------------------------------------------------

    async def list_artifacts(self) -> list[ArtifactInfo]:
        return await self.workspace.artifacts.list()

    async def save_artifact(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> ArtifactInfo:
        return await self.workspace.artifacts.save(name, data, description, metadata)

    async def load_artifact(self, name: str) -> Any:
        return await self.workspace.artifacts.load(name)

    async def delete_artifact(self, name: str) -> bool:
        return await self.workspace.artifacts.delete(name)

    # -- deps ------------------------------------------------------------------------

    async def list_deps(self) -> list[str]:
        return await self.workspace.deps.list()

    async def add_dep(self, package: str) -> DepsResult:
        await self._check_deps_supported()
        return await self.workspace.deps.add(package)

    async def remove_dep(self, package: str) -> RemoveResult:
        await self._check_deps_supported()
        return await self.workspace.deps.remove(package)

    async def sync_deps(self) -> DepsResult:
        await self._check_deps_supported()
        return await self.workspace.deps.sync()

    async def _enter_venv(self) -> None:
        if not self._runs_in_venv():
            return
        try:
            self._executor.use_python(str(await self.workspace.deps.python()))
        except DepsError as exc:  # no uv, no such Python: run without a venv rather than not at all
            logger.warning("session %s runs without a venv (deps cannot be installed): %s", self.session_id, exc)
            self._no_venv = True

    def _runs_in_venv(self) -> bool:
        return Capability.DEPS_INSTALL in self._executor.capabilities and not self._no_venv

    async def _check_deps_supported(self) -> None:
        if not self._runs_in_venv():
            raise DepsError(
                f"the {self._executor.name} executor runs code in the server's own interpreter, "
                "so it cannot use installed packages; use the subprocess executor"
            )


def make_executor(name: str, limits: ExecutionLimits, cwd: Path | None = None) -> Executor:
    """An executor by name: ``subprocess`` or ``inprocess``."""
    if name == "subprocess":
        from codemode.executors.subprocess import SubprocessExecutor

        return SubprocessExecutor(limits=limits, cwd=cwd)
    if name == "inprocess":
        from codemode.executors.inprocess import InProcessExecutor

        return InProcessExecutor(limits=limits)
    raise InvalidArgument(f"unknown executor {name!r}: use 'subprocess' or 'inprocess'")


def _local_dir(storage: Storage) -> Path | None:
    return storage.base_path if isinstance(storage, FileStorage) else None


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise InvalidArgument(f"timeout must be a positive number of seconds or None (no limit), not {timeout!r}")
