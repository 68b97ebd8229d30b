"""What ``ServerSettings`` describe, built: the storage, the workspace every session shares, executors, sessions.

Settings are data; this is the one place that turns them into objects.
"""

from __future__ import annotations

from codemode.errors import DepsError
from codemode.executors.base import Executor
from codemode.server.capacity import Limits
from codemode.server.pool import WorkerPool, started
from codemode.server.registry import SessionRegistry
from codemode.server.session_calls import principal_calls
from codemode.server.settings import ServerSettings
from codemode.session.session import Session
from codemode.session.setup import WorkspaceOptions, make_executor
from codemode.storage.base import Storage
from codemode.storage.file import FileStorage
from codemode.tools.approval import ApprovalGate
from codemode.workspace.workspace import Workspace


class ServerParts:
    """Builds the server's parts as ``settings`` describe them."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def storage(self) -> Storage:
        settings = self.settings
        if settings.storage == "redis":
            from codemode.storage.redis import RedisStorage  # redis-py is imported only by servers that use it

            return RedisStorage(settings.redis_url, settings.redis_prefix)
        return FileStorage((settings.storage_path or settings.base).expanduser().resolve())

    def workspace(self) -> Workspace:
        """The workspace every session of this server shares (not opened)."""
        settings = self.settings
        base = settings.base.expanduser().resolve()
        # Tools are local files (base's tools/) unless the data is in base itself, or Redis holds them too.
        in_base = settings.storage == "file" and settings.storage_path is None
        tool_storage = None if in_base or settings.redis_tools else FileStorage(base)
        options = WorkspaceOptions(
            cwd=base,
            extra_deps=settings.extra_deps,
            allow_runtime_deps=settings.allow_runtime_deps,
            allow_source_builds=settings.allow_source_builds,
            python=settings.python_version,
            tools_path=settings.tools_path.expanduser().resolve() if settings.tools_path else None,
            tool_storage=tool_storage,
            quota=settings.quota,
            mcp_config=tuple(settings.mcp_config),
        )
        # Every session's executor is made with settings.sandbox: tools get what its workers get.
        workspace, _ = options.build(self.storage(), settings.sandbox.pass_env)  # venvs cached: no temporary dir
        return workspace

    def executor(self) -> Executor:
        return make_executor(self.settings.executor, self.settings.limits, self.settings.sandbox)

    def session(self, workspace: Workspace, name: str | None = None, executor: Executor | None = None) -> Session:
        """A session on ``workspace`` as this server configures them (not started)."""
        settings = self.settings
        return Session(
            executor=executor or self.executor(),
            workspace=workspace,
            timeout=settings.timeout,
            limits=settings.limits,
            sync_deps_on_start=settings.sync_deps_on_start,
            name=name,
            history=settings.history,
            # The server's approval is the sessions' one middleware; run_code gives it the client to ask.
            tool_middleware=[ApprovalGate(settings.require_approval, settings.approval_timeout)],
        )

    def registry(self) -> SessionRegistry:
        """A registry as the settings configure it: one shared workspace, limits, a worker pool; each
        session it makes can reach its principal's other sessions from code."""
        settings = self.settings
        workspace = self.workspace()
        pool = None
        if settings.pool_size > 0 and settings.executor == "subprocess":

            async def make() -> Executor:
                try:
                    python: str | None = str(await workspace.deps.python())
                except DepsError:
                    python = None  # sessions fall back to the server's interpreter too
                return await started(self.executor(), python)

            pool = WorkerPool(settings.pool_size, make)
        limits = Limits(settings.max_sessions, settings.max_sessions_per_principal, settings.idle_timeout)

        def bind(session: Session, principal: str) -> None:
            session.add_host_calls(principal_calls(registry, principal, session))

        registry = SessionRegistry(
            lambda name, executor: self.session(workspace, name, executor), workspace, limits, pool, bind
        )
        return registry
