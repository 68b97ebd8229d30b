"""``codemode-mcp``: parse flags, build the server, serve until the client leaves or a signal arrives."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

import anyio
import anyio.to_thread
from anyio.abc import TaskStatus

from codemode.errors import CodemodeError
from codemode.sandbox.launcher import resolve_mode, warn_unconfined
from codemode.sandbox.workdir import remove_stale_dirs
from codemode.server.arguments import parse_settings
from codemode.server.factory import ServerParts
from codemode.server.flags import build_parser
from codemode.server.registry import SessionRegistry
from codemode.server.settings import LOCAL_PRINCIPAL, ServerSettings

logger = logging.getLogger(__name__)


async def serve(settings: ServerSettings) -> None:
    """Serve until the client leaves (stdio) or a signal arrives; every session is closed on the way out.

    The registry starts first (and, over stdio, the default session's worker); the ``mcp``
    package, most of the start-up time, is imported in a thread meanwhile.
    """
    await anyio.to_thread.run_sync(_check_sandbox, settings)
    async with ServerParts(settings).registry() as registry:
        await _check_storage(registry)
        await _serve_with(registry, settings)


def _check_sandbox(settings: ServerSettings) -> None:
    """Say once, at start, what is not confined and how to fix it; fail if bwrap was required and cannot work."""
    remove_stale_dirs(settings.sandbox.state_dir)
    if settings.executor == "inprocess":
        logger.warning("--executor inprocess: code runs inside this server; nothing is confined (trusted code only)")
        return
    if resolve_mode(settings.sandbox) == "none":
        warn_unconfined(settings.sandbox)


async def _serve_with(registry: SessionRegistry, settings: ServerSettings) -> None:
    async with anyio.create_task_group() as tasks:
        if settings.transport == "stdio":
            await tasks.start(_exit_on_signal, registry)
            if settings.eager_start:
                registry.prestart_default(LOCAL_PRINCIPAL)
        app = await anyio.to_thread.run_sync(importlib.import_module, "codemode.server.app")
        server = app.create_server(settings, registry)
        if settings.transport == "stdio":
            tasks.start_soon(_announce_ready, registry, settings)
            await server.run_stdio_async()
        else:
            from codemode.server.http import serve_http

            await serve_http(server, settings, registry)  # uvicorn handles SIGTERM/SIGINT itself
        tasks.cancel_scope.cancel()


async def _announce_ready(registry: SessionRegistry, settings: ServerSettings) -> None:
    """One line on stderr once serving: what a user looks at first when their client shows nothing."""
    if not logger.isEnabledFor(logging.INFO):
        return
    workspace = registry.workspace
    try:
        tools = await workspace.tools.list(connect=False)  # MCP servers connect on first use, not at start
        counts = f"{len(tools.tools)} tools, {len(await workspace.workflows.list())} workflows"
    except CodemodeError as exc:
        counts = f"tools and workflows not listed ({exc})"
    if settings.executor == "inprocess":
        sandbox = "none (--executor inprocess)"
    else:
        sandbox = await anyio.to_thread.run_sync(resolve_mode, settings.sandbox)
    logger.info(
        "ready on stdio: workspace %s (%s, data in %s), sandbox %s, network %s",
        settings.base.expanduser().resolve(),
        counts,
        workspace.storage.location,
        sandbox,
        "on" if settings.sandbox.network else "off",
    )


async def _check_storage(registry: SessionRegistry) -> None:
    ping = getattr(registry.workspace.storage, "ping", None)
    if ping is not None:
        await ping()  # Redis down at start: say so now, not at the first call


async def _exit_on_signal(
    registry: SessionRegistry, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Over stdio, SIGTERM/SIGINT/SIGHUP close every session, then the process exits.

    Exiting directly: the SDK's stdin reader sits in a blocking read that cancellation cannot end.
    """
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        task_status.started()
        async for signum in signals:
            logger.info("received %s: closing %d session(s)", signal.Signals(signum).name, len(registry))
            await registry.close_all()
            logging.shutdown()
            os._exit(0)


class _ExpectedErrorsAtDebug(logging.Filter):
    """The SDK logs each refused call (bad arguments, a missing artifact) at INFO: the caller's expected
    mistake, answered to the caller. Those are its logger's only INFO records; they go to DEBUG.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:
        from codemode.server.check import main as check

        sys.exit(check(argv[1:]))
    parser = build_parser()
    _, settings = parse_settings(parser, argv)
    if settings.enable_tools or settings.disable_tools:  # the tools are imported only when a name needs checking
        from codemode.server.profiles import check_tool_names

        try:
            check_tool_names(settings.enable_tools + settings.disable_tools)
        except CodemodeError as exc:
            parser.error(str(exc))
    if settings.transport == "http":
        from codemode.server.http import check_exposure

        try:
            check_exposure(settings)
        except CodemodeError as exc:
            parser.error(str(exc))
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("mcp.server.mcpserver.server").addFilter(_ExpectedErrorsAtDebug())
    try:
        anyio.run(serve, settings)
    except* CodemodeError as group:  # e.g. Redis unreachable at start
        print(f"codemode-mcp: {group.exceptions[0]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
