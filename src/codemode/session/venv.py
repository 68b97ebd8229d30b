"""The session's venv, as one part of the session: whether its worker runs in the workspace's venv.

Only a worker in the workspace's venv can use packages that ``deps`` installs; the
in-process executor, or a venv that could not be made, means ``deps.add`` is refused
with the reason. What the session can do follows from that and from its executor.
"""

from __future__ import annotations

import logging

from codemode.errors import DepsError
from codemode.executors.base import Executor
from codemode.models import Capability
from codemode.session import javascript
from codemode.workspace.workspace import Workspace

logger = logging.getLogger("codemode.session")  # the session's log: its warnings are about the session


class SessionVenv:
    """Puts a session's worker in the workspace's venv, and says whether packages can be installed."""

    def __init__(self, executor: Executor, workspace: Workspace, session_id: str) -> None:
        self._executor = executor
        self._workspace = workspace
        self._session_id = session_id
        self.problem: str | None = None
        """Why the venv could not be made, if it could not."""

    async def enter(self) -> None:
        """Before the worker starts: point it at the venv's Python (made or updated first)."""
        if not self.in_use():
            return
        try:
            self._executor.use_python(str(await self._workspace.deps.python()))
        except DepsError as exc:  # no uv, no such Python: run without a venv rather than not at all
            logger.warning("session %s runs without a venv (deps cannot be installed): %s", self._session_id, exc)
            self.problem = str(exc)

    def in_use(self) -> bool:
        """True if the worker runs (or will run) in the venv."""
        return Capability.DEPS_INSTALL in self._executor.capabilities and self.problem is None

    async def check(self) -> None:
        """``DepsError`` saying why, unless packages installed now can be used by this session."""
        if self.problem is not None:
            raise DepsError(f"this session's venv could not be made, so packages cannot be installed: {self.problem}")
        if not self.in_use():
            raise DepsError(
                f"the {self._executor.name} executor runs code in the server's own interpreter, "
                "so it cannot use installed packages; use the subprocess executor"
            )

    def capabilities(self) -> set[str]:
        """What the session can do: its executor's capabilities, as far as this venv and the machine allow."""
        capabilities = set(self._executor.capabilities)
        if not (self.in_use() and self._workspace.deps.allow_runtime_deps):
            capabilities -= {Capability.DEPS_INSTALL, Capability.DEPS_UNINSTALL}
        if Capability.PROCESS_ISOLATION in capabilities:  # a worker of its own, so a directory of its own
            capabilities.add(Capability.COMMANDS)
        if javascript.available():
            capabilities.add(Capability.JAVASCRIPT)
        return {str(capability) for capability in capabilities}
