"""The workspace's features as ``Session`` methods: tools, workflows (skills), artifacts, deps.

Each method delegates to ``self.workspace``, the same stores the session's code
reaches through its namespaces. Deps also depend on the session's executor: only
a worker in the workspace's venv can use installed packages.
"""

from __future__ import annotations

import logging
from typing import Any

from codemode.errors import DepsError, WorkflowNotFound
from codemode.executors.base import Capability, Executor
from codemode.tools.registry import ToolInfo
from codemode.workspace.artifacts import ArtifactInfo
from codemode.workspace.deps import DepsResult, RemoveResult
from codemode.workspace.venvs import LineCallback
from codemode.workspace.workflows import Workflow, WorkflowInfo
from codemode.workspace.workspace import Workspace

logger = logging.getLogger("codemode.session.session")  # the session's log: its warnings are about the session


class WorkspaceMethods:
    """Tools, workflows, artifacts and deps of the session's workspace (a mixin of ``Session``)."""

    workspace: Workspace
    session_id: str
    _executor: Executor
    _no_venv: str | None  # why the session's venv could not be made, if it could not

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

    # py-code-mode (seed 000) calls workflows "skills": the same methods under its names.
    list_skills = list_workflows
    search_skills = search_workflows
    get_skill = get_workflow
    add_skill = add_workflow
    remove_skill = remove_workflow

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

    async def add_dep(self, package: str, progress: LineCallback | None = None) -> DepsResult:
        """Install ``package`` into the session's venv; ``await progress(line)`` gets uv's output as it comes.

        Cancelled, uv is stopped and the venv is put back as it was.
        """
        await self._check_deps_supported()
        return await self.workspace.deps.add(package, progress)

    async def remove_dep(self, package: str) -> RemoveResult:
        await self._check_deps_supported()
        return await self.workspace.deps.remove(package)

    async def sync_deps(self, progress: LineCallback | None = None) -> DepsResult:
        """Install every configured package that is missing (``progress`` and cancellation as for add_dep)."""
        await self._check_deps_supported()
        return await self.workspace.deps.sync(progress)

    async def _enter_venv(self) -> None:
        if not self._runs_in_venv():
            return
        try:
            self._executor.use_python(str(await self.workspace.deps.python()))
        except DepsError as exc:  # no uv, no such Python: run without a venv rather than not at all
            logger.warning("session %s runs without a venv (deps cannot be installed): %s", self.session_id, exc)
            self._no_venv = str(exc)

    def _runs_in_venv(self) -> bool:
        return Capability.DEPS_INSTALL in self._executor.capabilities and self._no_venv is None

    async def _check_deps_supported(self) -> None:
        if self._no_venv is not None:
            raise DepsError(f"this session's venv could not be made, so packages cannot be installed: {self._no_venv}")
        if not self._runs_in_venv():
            raise DepsError(
                f"the {self._executor.name} executor runs code in the server's own interpreter, "
                "so it cannot use installed packages; use the subprocess executor"
            )
