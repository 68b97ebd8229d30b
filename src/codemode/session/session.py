"""``Session``: the one public façade: every feature of a session as a method.

Each feature is a method here and a namespace in the code the session runs; both
reach the same workspace, so what code saves, the API sees, and the other way round.
The methods are py-code-mode's and the seeds' flat API, each a thin delegation to a
part of the session (see :mod:`codemode.session.core`) or to the workspace's stores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from codemode.errors import WorkflowNotFound
from codemode.executors.base import Executor
from codemode.images import Image
from codemode.models import ExecutionLimits
from codemode.sandbox.launcher import SandboxConfig, SandboxMode
from codemode.session.commands import CommandResult
from codemode.session.core import SessionCore
from codemode.session.files import FileEntry
from codemode.session.history import HistoryEntry
from codemode.session.labels import validate_labels
from codemode.session.setup import (
    DEFAULT,
    ExecutorName,
    WorkspaceOptions,
    mcp_config_paths,
    on_base,
    resolve_timeout,
    sandbox_config,
)
from codemode.session.state import SnapshotSource, snapshot_of
from codemode.tools.middleware import ToolMiddleware, check_middleware
from codemode.tools.registry import ToolInfo
from codemode.workspace.artifacts import ArtifactInfo
from codemode.workspace.deps import DepsResult, RemoveResult
from codemode.workspace.host import Handler
from codemode.workspace.quota import StorageQuota
from codemode.workspace.snapshots import RestoreResult, Snapshot, SnapshotInfo, new_snapshot_id
from codemode.workspace.venvs import LineCallback
from codemode.workspace.workflows import Workflow, WorkflowInfo


class Session(SessionCore):
    """A long-lived code-mode session. Use ``async with``, or ``start()`` then ``close()`` (same task)."""

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
        tool_middleware: Sequence[ToolMiddleware] | None = None,
        mcp_config: Sequence[str | Path] | str | Path | None = None,
    ) -> Session:
        """A session on workspace ``base``: its ``tools/``, ``workflows/``, ``artifacts/``, ``requirements.txt``.

        ``sandbox``: ``"auto"`` confines the worker with bubblewrap where it works, ``"bwrap"`` requires it,
        ``"none"`` runs it as an ordinary process; a :class:`SandboxConfig` also sets the network and
        the variables passed through (to the worker and to tools; an executor object's own ``sandbox`` does).
        ``allow_source_builds``: installs may build source distributions, which runs the package's
        code on this host, outside the sandbox (default: wheels only). ``quota``: what code may store.
        ``tool_middleware``: callables ``(context, call_next)`` around every tool call the code makes.
        ``mcp_config``: ``mcpServers`` / ``servers`` JSON files (Claude Desktop, Cursor, VS Code) whose MCP
        servers become tools, ``tools.<server>.<tool>(...)``; a file that cannot be used raises ``InvalidArgument``.
        """
        limits = limits or ExecutionLimits()
        check_middleware(tool_middleware)  # before anything is made for the session
        options = WorkspaceOptions(  # the working directory is the storage's, base
            extra_deps=extra_deps or (),
            allow_runtime_deps=allow_runtime_deps,
            allow_source_builds=allow_source_builds,
            python=python_version,
            cache_venv=cache_venv,
            quota=quota,
            mcp_config=mcp_config_paths(mcp_config),
        )
        executor, workspace, temporary = on_base(base, executor, limits, sandbox_config(sandbox), options)
        session = cls(
            executor=executor,
            workspace=workspace,
            timeout=timeout,
            limits=limits,
            name=name,
            tool_middleware=tool_middleware,
        )
        session.sync_deps_on_start = sync_deps_on_start
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

    # -- the workspace: tools, workflows (py-code-mode's skills), artifacts, deps -------------

    async def list_tools(self) -> list[ToolInfo]:
        return (await self.workspace.tools.list()).tools

    async def search_tools(self, query: str, limit: int = 10) -> list[ToolInfo]:
        return await self.workspace.tools.search(query, limit)

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

    list_skills, search_skills, get_skill = list_workflows, search_workflows, get_workflow
    add_skill, remove_skill = add_workflow, remove_workflow

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

    async def list_deps(self) -> list[str]:
        return await self.workspace.deps.list()

    async def add_dep(self, package: str, progress: LineCallback | None = None) -> DepsResult:
        """Install ``package`` into the session's venv; ``await progress(line)`` gets uv's output as it comes.

        Cancelled, uv is stopped and the venv is put back as it was.
        """
        await self._venv.check()
        return await self.workspace.deps.add(package, progress)

    async def remove_dep(self, package: str) -> RemoveResult:
        await self._venv.check()
        return await self.workspace.deps.remove(package)

    async def sync_deps(self, progress: LineCallback | None = None) -> DepsResult:
        """Install every configured package that is missing (``progress`` and cancellation as for add_dep)."""
        await self._venv.check()
        return await self.workspace.deps.sync(progress)

    # -- snapshots (eryx) ----------------------------------------------------------------

    async def snapshot_state(self, save: bool = False, files: bool = True) -> Snapshot:
        """The variables, functions, classes and imported modules' names of the session, as a :class:`Snapshot`.

        ``len(snapshot)`` is its size. Names that cannot be saved (open files, sockets, generators, locks)
        are left out and listed in ``snapshot.info.skipped`` with the reason. ``save=True`` also stores it
        in the workspace's storage (``snapshot.snapshot_id``), to restore later, elsewhere. The session's
        directory travels with it (``snapshot.files``, within the snapshot size limit) unless ``files=False``.
        """
        snapshot = await self._snapshots.take(self.default_timeout, files)
        snapshot.info.session_id, snapshot.info.session_name = self.session_id, self.name
        if save:
            await self.workspace.snapshots.save(snapshot, self.owner)
        return snapshot

    async def restore_state(self, snapshot: SnapshotSource) -> RestoreResult:
        """Replace the session's variables with a snapshot's: a :class:`Snapshot`, its bytes, or a stored id.

        It may come from this session or another, of this process or another (same Python version). It is
        loaded in the session's worker only, with its files (all or nothing). ``execution_count`` is unchanged.
        """
        snapshot = await snapshot_of(snapshot, self.workspace.snapshots, self.owner)
        outcome, files = await self._snapshots.restore(snapshot, self.default_timeout)
        return RestoreResult(session_id=self.session_id, snapshot_id=snapshot.snapshot_id, files=files, **outcome)

    async def list_snapshots(self) -> list[SnapshotInfo]:
        """The stored snapshots of this session's owner, oldest first."""
        return await self.workspace.snapshots.list(self.owner)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self.workspace.snapshots.delete(snapshot_id, self.owner)

    # -- labels, history, pictures (coda) ----------------------------------------------------

    def set_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Replace the session's labels (validated as a whole: a bad set changes nothing)."""
        self.labels = validate_labels(labels)
        return dict(self.labels)

    def get_labels(self) -> dict[str, str]:
        return dict(self.labels)

    def get_history(self, limit: int | None = None) -> list[HistoryEntry]:
        """The last ``limit`` runs (all kept if None), oldest first."""
        return self.history.entries(limit)

    def truncate_history(self, keep: int) -> int:
        """Keep the last ``keep`` runs; returns how many were dropped."""
        return self.history.truncate(keep)

    def clear_history(self) -> None:
        self.history.clear()

    def get_token_count(self) -> int:
        """Approximate tokens in the history (characters / 4), coda's measure of a session's size."""
        return self.history.token_count()

    def get_image(self, uri: str) -> Image:
        """The full-size original of a run's picture, by its ``full_size_uri`` (the newest few are kept)."""
        return self.images.original(uri)

    # -- the session's directory (AGB's commands and files) -----------------------------------

    async def run_command(
        self, command: list[str] | str, timeout: float | None = DEFAULT, cwd: str | None = None
    ) -> CommandResult:
        """Run ``command`` in the session's sandbox and directory: a list without a shell, a string by /bin/sh.

        ``timeout`` (omitted: the session's default; None: no limit) ends it and every process it started;
        ``cwd`` is a directory relative to the session directory.
        """
        limit = resolve_timeout(timeout, self.default_timeout, self._limits.max_timeout)
        async with self._runner.turn():
            return await self.directory.run(self.session_id, command, limit, cwd)

    async def read_file(self, path: str, binary: bool = False) -> str | bytes:
        """A file of the session directory: text if it is UTF-8 (unless ``binary``), else bytes."""
        return await self.directory.read(path, binary)

    async def write_file(self, path: str, data: str | bytes) -> int:
        """Write a file of the session directory (parents created); returns its size in bytes."""
        return await self.directory.write(path, data)

    async def list_files(self, path: str = ".") -> list[FileEntry]:
        """The entries of a directory of the session directory (links listed, never followed)."""
        return await self.directory.list(path)

    async def delete_file(self, path: str, recursive: bool = False) -> bool:
        """Delete a file or an empty directory (any directory with ``recursive``); False if there was none."""
        return await self.directory.delete(path, recursive)

    # -- the session as its code sees it (``session`` in run_code) ---------------------------------

    def _code_calls(self) -> dict[str, Handler]:
        """What code asks of its own session through ``session``: at once, or, for what needs the worker
        idle (snapshot, restore, reset), when the run ends (see ``after_run``)."""
        return {
            "session.info": lambda: _now(self.info().model_dump(mode="json")),
            "session.labels": lambda: _now(self.get_labels()),
            "session.set_labels": lambda labels: _now(self.set_labels(labels)),
            "session.history": lambda limit=20: _now(
                [entry.model_dump(mode="json") for entry in self.get_history(limit)]
            ),
            "session.snapshots": self._code_snapshots,
            "session.delete_snapshot": self.delete_snapshot,
            "session.snapshot": self._snapshot_at_end,
            "session.restore": self._restore_at_end,
            "session.reset": self._reset_at_end,
        }

    async def _code_snapshots(self) -> list[dict[str, Any]]:
        return [info.model_dump(mode="json") for info in await self.list_snapshots()]

    async def _snapshot_at_end(self) -> str:
        snapshot_id = new_snapshot_id()

        async def take() -> str:
            snapshot = await self.snapshot_state()
            await self.workspace.snapshots.save(snapshot, self.owner, snapshot_id)
            return f"snapshot {snapshot_id} saved: {len(snapshot)} bytes, {len(snapshot.info.saved)} names"

        self.after_run("the snapshot", take)
        return snapshot_id

    async def _restore_at_end(self, snapshot_id: str) -> None:
        await self.workspace.snapshots.info(snapshot_id, self.owner)  # a wrong id fails the call, now

        async def restore() -> str:
            restored = await self.restore_state(snapshot_id)
            return f"snapshot {snapshot_id} restored: {len(restored.restored)} names, {restored.files} files"

        self.after_run("restoring the snapshot", restore)

    async def _reset_at_end(self, hard: bool = False) -> None:
        async def reset() -> str:
            await self.reset(hard=hard)
            return "session reset: " + ("a fresh worker" if hard else "the variables are cleared")

        self.after_run("the reset", reset)


async def _now(value: Any) -> Any:
    return value
