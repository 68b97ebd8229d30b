"""``Session``: the one public façade over an executor and a workspace.

A session is a persistent Python namespace (in a worker process by default)
plus the workspace it works on: tools, workflows, artifacts and deps. Each
feature is a method here and a namespace in the code the session runs; both
reach the same workspace, so what code saves, the API sees, and the other way round.

Here: construction, lifecycle, running code and commands. Feature methods come
from ``session_workspace`` and ``session_state``; arguments are checked in ``session_setup``.
"""

from __future__ import annotations

import functools
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.to_thread

from codemode.errors import InvalidArgument, SessionClosed
from codemode.executors.base import Capability, ExecutionLimits, Executor, OutputCallback
from codemode.executors.procstat import process_usage
from codemode.images import ImageStore
from codemode.models import ExecutionResult, SessionInfo
from codemode.sandbox.launcher import SandboxConfig, SandboxMode
from codemode.session import javascript
from codemode.session.callbacks import Callback, CallbackSet
from codemode.session.directory import DirectoryMethods
from codemode.session.features import WorkspaceMethods
from codemode.session.history import History, HistoryLimits
from codemode.session.javascript import Language
from codemode.session.labels import validate_labels
from codemode.session.setup import (
    DEFAULT,
    ExecutorName,
    WorkspaceOptions,
    check_executor,
    check_storage,
    make_executor,
    resolve_timeout,
    sandbox_config,
    session_workspace,
)
from codemode.session.state import StateMethods
from codemode.storage.base import Storage
from codemode.storage.file import FileStorage
from codemode.workspace.host import HostApi
from codemode.workspace.quota import StorageQuota
from codemode.workspace.workspace import Workspace


class Session(WorkspaceMethods, StateMethods, DirectoryMethods):
    """A long-lived code-mode session. Use ``async with``, or ``start()`` then ``close()`` (same task)."""

    def __init__(
        self,
        storage: Storage | None = None,
        executor: Executor | ExecutorName | None = None,
        *,
        workspace: Workspace | None = None,
        timeout: float | None = DEFAULT,
        limits: ExecutionLimits | None = None,
        sync_deps_on_start: bool = False,
        name: str | None = None,
        session_id: str | None = None,
        sandbox: SandboxMode | SandboxConfig = "auto",
        labels: Mapping[str, str] | None = None,
        history: HistoryLimits | None = None,
        callbacks: Iterable[Callback | Mapping[str, Any]] | None = None,
        quota: StorageQuota | None = None,
    ) -> None:
        self._limits = limits or ExecutionLimits()
        self._callbacks = CallbackSet(callbacks)
        confinement = sandbox_config(sandbox)
        if executor is None or isinstance(executor, str):
            executor = make_executor(executor or "subprocess", self._limits, confinement)
        check_executor(executor)
        config = getattr(executor, "config", None)
        self._temporary_venvs: Path | None = None  # removed on close
        if workspace is None:
            options = replace(WorkspaceOptions.of_config(config), quota=quota)
            workspace, self._temporary_venvs = session_workspace(check_storage(storage), executor, confinement, options)
        self.workspace = workspace
        self._executor = executor
        default = config.default_timeout if config is not None else 30.0
        self.default_timeout = resolve_timeout(timeout, default, self._limits.max_timeout)
        self.sync_deps_on_start = sync_deps_on_start
        self.session_id = session_id or secrets.token_urlsafe(24)
        self.name = name
        self.created_at = datetime.now(UTC)
        self.labels = validate_labels(labels or {})
        self.metadata: dict[str, Any] = {}
        self.notes: list[str] = []  # what session_info should say, e.g. what a resume could not bring back
        self._lost_before: str | None = None  # why this session's first run starts from nothing
        self.history = History(history)
        self.images = ImageStore()
        self.execution_count = 0
        self.owner = "local"  # whose stored snapshots this session saves and restores (the server: the principal)
        self.last_activity = time.monotonic()
        self._started = False
        self._closed = False
        self._start_lock = anyio.Lock()
        self._run_lock = anyio.Lock()
        self._host = HostApi(workspace, self._check_deps_supported, self._callbacks.handlers())
        self._no_venv = None

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
        sandbox: SandboxMode | SandboxConfig = "auto",
        allow_source_builds: bool = False,
        quota: StorageQuota | None = None,
    ) -> Session:
        """A session on workspace ``base``: its ``tools/``, ``workflows/``, ``artifacts/``, ``requirements.txt``.

        ``sandbox``: ``"auto"`` confines the worker with bubblewrap where it works, ``"bwrap"`` requires it,
        ``"none"`` runs it as an ordinary process; a :class:`SandboxConfig` also sets the network and
        the variables passed through (to the worker and to tools; an executor object's own ``sandbox`` does).
        ``allow_source_builds``: installs may build source distributions, which runs the package's
        code on this host, outside the sandbox (default: wheels only). ``quota``: what code may store.
        """
        limits = limits or ExecutionLimits()
        confinement = sandbox_config(sandbox)
        if isinstance(executor, str):
            executor = make_executor(executor, limits, confinement)
        options = WorkspaceOptions(  # the working directory is the storage's, base
            extra_deps=extra_deps or (),
            allow_runtime_deps=allow_runtime_deps,
            allow_source_builds=allow_source_builds,
            python=python_version,
            cache_venv=cache_venv,
            quota=quota,
        )
        workspace, temporary = session_workspace(FileStorage(base), executor, confinement, options)
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
            self._check_open()
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
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, self._temporary_venvs, ignore_errors=True))

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosed(f"session {self.session_id} is closed")

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """The started worker to oneself: no run, reset or command runs meanwhile."""
        await self.start()
        async with self._run_lock:
            self.touch()
            yield

    @property
    def started(self) -> bool:
        """True once the worker has started (until the session closes)."""
        return self._started and not self._closed

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- running code ----------------------------------------------------------------

    async def run(
        self,
        code: str,
        timeout: float | None = DEFAULT,
        *,
        on_output: OutputCallback | None = None,
        language: Language = "python",
    ) -> ExecutionResult:
        """Run ``code`` in the session's namespace.

        ``timeout`` in seconds; omitted, the session's default; ``None``, no limit.
        ``on_output(stream, text)`` (sync or async) gets the output of a long run while it runs,
        in chunks every half second or so ("stdout" or "stderr"); the result has all of it anyway.
        ``language="javascript"`` runs it in the session's Node.js context instead (see ``supports``).
        """
        if not isinstance(code, str):
            raise InvalidArgument(f"code must be a string, not {type(code).__name__}")
        javascript.check_language(language)
        limit = resolve_timeout(timeout, self.default_timeout, self._limits.max_timeout)
        await self.start()
        async with self._run_lock:
            self._check_open()
            self.execution_count += 1
            self.touch()
            try:
                if language == "javascript":
                    result = await javascript.run(self._executor, code, count=self.execution_count, timeout=limit)
                else:
                    streaming = {"on_output": on_output} if on_output is not None else {}
                    await self._callbacks.install(self._executor)
                    result = await self._executor.run(code, count=self.execution_count, timeout=limit, **streaming)
            finally:
                self.touch()
        result.session_id = self.session_id
        if self._lost_before is not None:
            result.state_lost = True
            result.notes.append(self._lost_before)
            self._lost_before = None
        self._keep_originals(result)
        self.history.record(code, result)
        return result

    def lost_before_start(self, note: str) -> None:
        """This session replaces one whose state is gone: its first run says so (``state_lost`` and ``note``)."""
        self._lost_before = note

    async def reset(self, hard: bool = False) -> None:
        """Clear user variables (keep the namespaces); ``hard=True`` starts a fresh interpreter.

        ``execution_count`` goes on after a soft reset and starts again at 0 with a fresh interpreter.
        """
        await self.start()
        async with self._run_lock:
            if hard:
                await self._executor.restart()
                self.execution_count = 0
            else:
                await self._executor.reset()
                if self.supports(Capability.JAVASCRIPT):
                    await javascript.reset(self._executor)

    async def clear_state(self) -> None:
        """eryx's ``clear_state``: drop the names the code defined; the worker, its imports and the count stay."""
        await self.reset()

    async def restart(self) -> None:
        """eryx's ``reset``: a fresh interpreter (a new worker process); ``execution_count`` starts again at 0."""
        await self.reset(hard=True)

    # -- activity and capabilities ---------------------------------------------------

    def touch(self) -> None:
        """Note that the session is in use now (idle expiry counts from the last activity)."""
        self.last_activity = time.monotonic()

    @property
    def last_used_at(self) -> datetime:
        """When a call last used the session (``last_activity`` is monotonic, for timing)."""
        return datetime.now(UTC) - timedelta(seconds=time.monotonic() - self.last_activity)

    @property
    def busy(self) -> bool:
        """True while code runs (or a reset is under way)."""
        return self._run_lock.locked()

    def supports(self, capability: str) -> bool:
        return capability in self.supported_capabilities()

    def supported_capabilities(self) -> set[str]:
        capabilities = set(self._executor.capabilities)
        if not (self._runs_in_venv() and self.workspace.deps.allow_runtime_deps):
            capabilities -= {Capability.DEPS_INSTALL, Capability.DEPS_UNINSTALL}
        if Capability.PROCESS_ISOLATION in capabilities:  # a worker of its own, so a directory of its own
            capabilities.add(Capability.COMMANDS)
        if javascript.available():
            capabilities.add(Capability.JAVASCRIPT)
        return {str(capability) for capability in capabilities}

    def info(self) -> SessionInfo:
        runtime = self._executor.runtime
        usage = process_usage(runtime.pid if runtime else None)
        return SessionInfo(
            session_id=self.session_id,
            name=self.name,
            created_at=self.created_at,
            last_used_at=self.last_used_at,
            uptime_seconds=(datetime.now(UTC) - self.created_at).total_seconds(),
            execution_count=self.execution_count,
            executor=self._executor.name,
            capabilities=sorted(Capability(value) for value in self.supported_capabilities()),
            python_version=runtime.python_version if runtime else None,
            python_executable=runtime.executable if runtime else None,
            venv=runtime.prefix if runtime else None,
            worker_pid=runtime.pid if runtime else None,
            default_timeout=self.default_timeout,
            labels=dict(self.labels),
            confinement=self._executor.confinement,
            worker_rss_bytes=usage.rss_bytes,
            worker_cpu_seconds=usage.cpu_seconds,
            history_length=len(self.history),
            history_tokens=self.history.token_count(),
            notes=list(self.notes),
        )

    @property
    def storage(self) -> Storage:
        return self.workspace.storage

    @property
    def executor(self) -> Executor:
        return self._executor

    @property
    def limits(self) -> ExecutionLimits:
        return self._limits
