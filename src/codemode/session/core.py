"""``SessionCore``: what every session is: its parts, its lifecycle, running code, and what it reports.

A session is a persistent Python namespace (in a worker process by default) plus
the workspace it works on. It is composed of parts, each in a module of its own
and each given only what it needs: the runner (one operation at a time in the
interpreter), the session's directory (files, commands, archive), its snapshots,
its venv, its history, labels and pictures. :class:`~codemode.Session` adds the
features as methods over these parts; arguments are checked in ``setup``.
"""

from __future__ import annotations

import functools
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.to_thread

from codemode.errors import CodemodeError, InvalidArgument, SessionClosed
from codemode.executors.base import Executor, OutputCallback
from codemode.executors.procstat import process_usage
from codemode.images import ImageStore
from codemode.models import Capability, ExecutionLimits, ExecutionResult, SessionInfo
from codemode.sandbox.launcher import SandboxConfig, SandboxMode
from codemode.session.callbacks import Callback, CallbackSet
from codemode.session.directory import SessionDirectory
from codemode.session.history import History, HistoryLimits
from codemode.session.javascript import Language
from codemode.session.labels import validate_labels
from codemode.session.runner import Runner
from codemode.session.setup import (
    DEFAULT,
    ExecutorName,
    WorkspaceOptions,
    check_executor,
    check_storage,
    make_executor,
    mcp_config_paths,
    resolve_timeout,
    sandbox_config,
    session_workspace,
)
from codemode.session.state import SessionSnapshots
from codemode.session.venv import SessionVenv
from codemode.storage.base import Storage
from codemode.tools.approval import session_chain
from codemode.tools.middleware import Approver, ToolMiddleware
from codemode.workspace.host import Handler, HostApi
from codemode.workspace.quota import StorageQuota
from codemode.workspace.workspace import Workspace


class SessionCore:
    """A session's parts and lifecycle. Use :class:`~codemode.Session`, which adds every feature as a method."""

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
        tool_middleware: Sequence[ToolMiddleware] | None = None,
        mcp_config: Sequence[str | Path] | str | Path | None = None,
    ) -> None:
        self._limits = limits or ExecutionLimits()
        callbacks_ = CallbackSet(callbacks)
        confinement = sandbox_config(sandbox)
        if executor is None or isinstance(executor, str):
            executor = make_executor(executor or "subprocess", self._limits, confinement)
        check_executor(executor)
        config = getattr(executor, "config", None)
        self._temporary_venvs: Path | None = None  # removed on close
        if workspace is not None and mcp_config:
            raise InvalidArgument("mcp_config belongs to the workspace: give it to Workspace(...), or no workspace")
        if workspace is None:
            options = replace(WorkspaceOptions.of_config(config), quota=quota, mcp_config=mcp_config_paths(mcp_config))
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
        self.history = History(history)
        self.images = ImageStore(self.session_id)
        self.owner = "local"  # whose stored snapshots this session saves and restores (the server: the principal)
        self.last_activity = time.monotonic()
        self._started = False
        self._closed = False
        self._start_lock = anyio.Lock()
        self.tool_chain = session_chain(tool_middleware, self.session_id)  # tool_middleware, then an approval gate
        # The parts the session is composed of: each knows only what it is given here.
        self._runner = Runner(executor, callbacks_, self.start, self.touch, self._check_open, self.tool_chain)
        self._venv = SessionVenv(executor, workspace, self.session_id)
        self._host = HostApi(workspace, self._venv.check, callbacks_.handlers(), self.tool_chain)
        self.directory = SessionDirectory(executor, self._limits, self.start)
        """The session's working directory: its files, commands and archive (the file methods use it)."""
        self._snapshots = SessionSnapshots(executor, self._limits, self.directory, self._runner.turn)
        self._after_run: list[tuple[str, Callable[[], Awaitable[str]]]] = []
        self._host.add(self._code_calls())

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
                await self._venv.enter()
                await self._executor.start(self._host)
                if self.sync_deps_on_start and self._venv.in_use():
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
        approver: Approver | None = None,
    ) -> ExecutionResult:
        """Run ``code`` in the session's namespace.

        ``timeout`` in seconds; omitted, the session's default; ``None``, no limit.
        ``on_output(stream, text)`` (sync or async) gets the output of a long run while it runs,
        in chunks every half second or so ("stdout" or "stderr"); the result has all of it anyway.
        ``language="javascript"`` runs it in the session's Node.js context instead (see ``supports``).
        ``approver(context, reason)`` answers the approvals this run's tool calls need (True: allow);
        without one, such calls are refused. Time spent waiting for an answer counts toward ``timeout``.
        """
        limit = resolve_timeout(timeout, self.default_timeout, self._limits.max_timeout)
        try:
            result = await self._runner.run(code, limit, on_output, language, approver)
        except BaseException:
            self._after_run.clear()  # the run did not end as a run: what it asked for is not done
            raise
        result.notes += await self._run_deferred()
        result.session_id = self.session_id
        result.notes += self.images.keep_originals(result.images)
        self.history.record(code, result)
        return result

    def after_run(self, what: str, operation: Callable[[], Awaitable[str]]) -> None:
        """Do ``operation`` when the current run ends: code asked for what needs the worker idle (a
        snapshot, a reset). Its answer, or why ``what`` failed, becomes a note of the run's result."""
        self._after_run.append((what, operation))

    async def _run_deferred(self) -> list[str]:
        notes = []
        while self._after_run:
            what, operation = self._after_run.pop(0)
            try:
                notes.append(await operation())
            except CodemodeError as exc:
                notes.append(f"{what} failed: {exc}")
        return notes

    def _code_calls(self) -> dict[str, Handler]:
        """The host calls of code's ``session`` namespace (see :class:`~codemode.Session`)."""
        return {}

    def add_host_calls(self, calls: Mapping[str, Handler]) -> None:
        """More calls code may make: the server adds its principal's sessions (``sessions.*``)."""
        self._host.add(calls)

    def lost_before_start(self, note: str) -> None:
        """This session replaces one whose state is gone: its first run says so (``state_lost`` and ``note``)."""
        self._runner.lost_before_start(note)

    async def reset(self, hard: bool = False) -> None:
        """Clear user variables (keep the namespaces); ``hard=True`` starts a fresh interpreter.

        ``execution_count`` goes on after a soft reset and starts again at 0 with a fresh interpreter.
        """
        await self._runner.reset(hard, javascript_too=self.supports(Capability.JAVASCRIPT))

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
        """True while code runs (or a reset, command or snapshot is under way)."""
        return self._runner.busy

    @property
    def execution_count(self) -> int:
        """Runs so far (a fresh interpreter starts again at 0)."""
        return self._runner.execution_count

    @execution_count.setter
    def execution_count(self, count: int) -> None:
        self._runner.execution_count = count

    def supports(self, capability: str) -> bool:
        return capability in self.supported_capabilities()

    def supported_capabilities(self) -> set[str]:
        return self._venv.capabilities()

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
