"""``Session``: the one public façade over an executor, a storage and the features.

A session is a persistent Python namespace (in a worker process by default)
plus the workspace it works on: tools, workflows, artifacts and deps. Each
feature is a method here and a namespace in the code the session runs; both
reach the same objects, so what code saves, the API sees, and the other way round.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import anyio

from codemode.artifacts import ArtifactInfo, ArtifactStore
from codemode.errors import InvalidArgument, SessionClosed
from codemode.executors.base import ExecutionLimits, Executor
from codemode.models import ExecutionResult, SessionInfo
from codemode.storage.base import Storage
from codemode.storage.file import FileStorage

ExecutorName = Literal["subprocess", "inprocess"]


class _UseDefault:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _UseDefault()
"""``run(code)`` without ``timeout`` uses the session's default; ``timeout=None`` means no limit."""


class Session:
    """A long-lived code-mode session. Use ``async with``, or ``start()`` then ``close()``."""

    def __init__(
        self,
        storage: Storage | None = None,
        executor: Executor | None = None,
        *,
        timeout: float | None = 30.0,
        limits: ExecutionLimits | None = None,
        name: str | None = None,
        session_id: str | None = None,
    ) -> None:
        self._storage = storage if storage is not None else FileStorage(Path.cwd())
        self._limits = limits or ExecutionLimits()
        self._executor = executor if executor is not None else _make_executor("subprocess", self._limits)
        _check_timeout(timeout)
        self.default_timeout = timeout
        self.session_id = session_id or secrets.token_urlsafe(24)
        self.name = name
        self.created_at = datetime.now(UTC)
        self.labels: dict[str, str] = {}
        self.execution_count = 0
        self._started = False
        self._closed = False
        self._start_lock = anyio.Lock()
        self._run_lock = anyio.Lock()
        self._artifacts = ArtifactStore(self._storage)
        self._calls: dict[str, Callable[..., Awaitable[Any]]] = {
            "artifacts.save": self._code_save_artifact,
            "artifacts.load": self._artifacts.load,
            "artifacts.list": self._code_list_artifacts,
            "artifacts.delete": self._artifacts.delete,
        }

    # -- constructors ----------------------------------------------------------------

    @classmethod
    def from_base(
        cls,
        base: str | Path,
        *,
        timeout: float | None = 30.0,
        executor: ExecutorName | Executor = "subprocess",
        limits: ExecutionLimits | None = None,
        name: str | None = None,
    ) -> Session:
        """A session on workspace ``base`` (its ``tools/``, ``workflows/``, ``artifacts/``)."""
        limits = limits or ExecutionLimits()
        if isinstance(executor, str):
            executor = _make_executor(executor, limits, cwd=Path(base).expanduser().resolve())
        return cls(FileStorage(base), executor, timeout=timeout, limits=limits, name=name)

    @classmethod
    def subprocess(cls, base_path: str | Path, *, timeout: float | None = 60.0, **options: Any) -> Session:
        """Code runs in a worker process: isolated from the host, interruptible, restartable."""
        return cls.from_base(base_path, timeout=timeout, executor="subprocess", **options)

    @classmethod
    def inprocess(cls, base_path: str | Path, *, timeout: float | None = 30.0, **options: Any) -> Session:
        """Code runs in the host process: fastest, and not isolated at all (trusted code only)."""
        return cls.from_base(base_path, timeout=timeout, executor="inprocess", **options)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the executor. Safe to call more than once, and concurrently."""
        if self._started and not self._closed:
            return
        async with self._start_lock:
            if self._closed:
                raise SessionClosed(f"session {self.session_id} is closed")
            if not self._started:
                await self._executor.start(self._handle_call)
                self._started = True

    async def close(self) -> None:
        """Stop the executor; no process of this session survives it."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._executor.close()

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
            result = await self._executor.run(code, count=self.execution_count, timeout=limit)
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

    def supports(self, capability: str) -> bool:
        return capability in self._executor.capabilities

    def supported_capabilities(self) -> set[str]:
        return {str(capability) for capability in self._executor.capabilities}

    def info(self) -> SessionInfo:
        runtime = self._executor.runtime
        return SessionInfo(
            session_id=self.session_id,
            name=self.name,
            created_at=self.created_at,
            execution_count=self.execution_count,
            executor=self._executor.name,
            capabilities=sorted(self._executor.capabilities),
            python_version=runtime.python_version if runtime else None,
            python_executable=runtime.executable if runtime else None,
            venv=runtime.prefix if runtime else None,
            worker_pid=runtime.pid if runtime else None,
            default_timeout=self.default_timeout,
            labels=dict(self.labels),
        )

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def executor(self) -> Executor:
        return self._executor

    # -- artifacts -------------------------------------------------------------------

    async def list_artifacts(self) -> list[ArtifactInfo]:
        return await self._artifacts.list()

    async def save_artifact(
        self, name: str, data: Any, description: str = "", metadata: dict[str, Any] | None = None
    ) -> ArtifactInfo:
        return await self._artifacts.save(name, data, description, metadata)

    async def load_artifact(self, name: str) -> Any:
        return await self._artifacts.load(name)

    async def delete_artifact(self, name: str) -> bool:
        return await self._artifacts.delete(name)

    @property
    def artifacts(self) -> ArtifactStore:
        return self._artifacts

    # -- calls from the session's code -------------------------------------------------

    async def _handle_call(self, method: str, params: dict[str, Any]) -> Any:
        handler = self._calls.get(method)
        if handler is None:
            raise InvalidArgument(f"unknown host call {method!r}")
        try:
            return await handler(**params)
        except TypeError as exc:  # wrong or missing arguments from user code
            raise InvalidArgument(f"{method}(): {exc}") from None

    async def _code_save_artifact(self, **params: Any) -> dict[str, Any]:
        return (await self._artifacts.save(**params)).model_dump(mode="json")

    async def _code_list_artifacts(self) -> list[dict[str, Any]]:
        return [info.model_dump(mode="json") for info in await self._artifacts.list()]


def _make_executor(name: str, limits: ExecutionLimits, cwd: Path | None = None) -> Executor:
    if name == "subprocess":
        from codemode.executors.subprocess import SubprocessExecutor

        return SubprocessExecutor(limits=limits, cwd=cwd)
    if name == "inprocess":
        from codemode.executors.inprocess import InProcessExecutor

        return InProcessExecutor(limits=limits)
    raise InvalidArgument(f"unknown executor {name!r}: use 'subprocess' or 'inprocess'")


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise InvalidArgument(f"timeout must be a positive number of seconds or None (no limit), not {timeout!r}")
