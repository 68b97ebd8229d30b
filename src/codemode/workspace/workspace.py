"""``Workspace``: what every session on one workspace shares.

Storage and the features on it (artifacts, workflows, tools, deps) belong to the
workspace, not to a session: a workflow saved by one client is there for every
other at once, MCP tool servers are connected once, and sessions share the venv.
Sessions made with ``Session.from_base`` get a workspace of their own; the MCP
server gives all its sessions one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import TaskGroup

from codemode.storage.base import WORKSPACE, Storage
from codemode.storage.file import FileStorage
from codemode.tools.registry import ToolRegistry
from codemode.workspace.artifacts import DEFAULT_MAX_BYTES, ArtifactStore
from codemode.workspace.deps import DepsManager
from codemode.workspace.quota import StorageQuota
from codemode.workspace.snapshots import SnapshotStore
from codemode.workspace.venvs import VenvCache
from codemode.workspace.workflows import WorkflowStore


class Workspace:
    """Storage plus artifacts, workflows, tools and deps on it. Open it before use; close it after."""

    def __init__(
        self,
        storage: Storage,
        *,
        cwd: Path | None = None,
        extra_deps: Sequence[str] = (),
        allow_runtime_deps: bool = True,
        allow_source_builds: bool = False,
        python: str | None = None,
        venvs: VenvCache | None = None,
        max_artifact_bytes: int = DEFAULT_MAX_BYTES,
        tool_storage: Storage | None = None,
        tools_path: Path | None = None,
        pass_env: Sequence[str] = (),
        quota: StorageQuota | None = None,
        mcp_config: Sequence[Path] = (),
    ) -> None:
        self.storage = storage
        self.cwd = cwd
        self.quota = quota or StorageQuota()
        self.artifacts = ArtifactStore(storage, max_artifact_bytes, self.quota)
        self.workflows = WorkflowStore(storage, self.quota)
        self.snapshots = SnapshotStore(storage, self.quota)
        # Tool definitions may come from elsewhere than the data (local files beside shared Redis).
        # mcp_config: mcpServers files (Claude Desktop, Cursor, VS Code), whose servers are tools too.
        if tools_path is not None:  # a directory of YAML files (py-code-mode's tools_path), not a storage collection
            self.tools = ToolRegistry(
                FileStorage(tools_path), cwd, collection=WORKSPACE, pass_env=pass_env, mcp_config=mcp_config
            )
        else:
            self.tools = ToolRegistry(tool_storage or storage, cwd, pass_env=pass_env, mcp_config=mcp_config)
        self.deps = DepsManager(
            storage,
            venvs,
            extra_deps=extra_deps,
            allow_runtime_deps=allow_runtime_deps,
            allow_source_builds=allow_source_builds,
            python=python,
        )
        self._tasks: TaskGroup | None = None
        self._users = 0

    async def open(self) -> None:
        """Start the task group that long-lived connections (MCP tool servers) live in."""
        self._users += 1
        if self._tasks is None:
            self._tasks = anyio.create_task_group()
            await self._tasks.__aenter__()
            self.tools.bind(self._tasks)

    async def close(self) -> None:
        """Close connections; the last of several ``open`` calls does it."""
        self._users -= 1
        if self._users > 0 or self._tasks is None:
            return
        tasks, self._tasks = self._tasks, None
        with anyio.CancelScope(shield=True):
            try:
                await self.tools.aclose()
            finally:
                await self.deps.close()
        tasks.cancel_scope.cancel()
        await tasks.__aexit__(None, None, None)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
