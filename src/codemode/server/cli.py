"""``codemode-mcp``: parse flags, build the server, serve until the client leaves or a signal arrives."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread
from anyio.abc import TaskStatus

from codemode import __version__
from codemode.errors import CodemodeError
from codemode.executors.base import ExecutionLimits
from codemode.server.auth import load_tokens
from codemode.server.registry import SessionRegistry, new_registry
from codemode.server.settings import LOCAL_PRINCIPAL, ServerSettings

logger = logging.getLogger(__name__)


def _seconds(text: str) -> float | None:
    if text.lower() in {"none", "0", "off"}:
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds, or 'none'")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codemode-mcp",
        description="An MCP server that gives each client a persistent Python code-mode session.",
    )
    add = parser.add_argument
    add("--version", action="version", version=f"%(prog)s {__version__}")
    add("--base", type=Path, default=Path("."), help="workspace directory (default: .)")
    add(
        "--executor",
        choices=["subprocess", "inprocess"],
        default="subprocess",
        help="where code runs: a worker process (default) or the server itself (unsafe: trusted code only)",
    )
    add("--timeout", type=_seconds, default=30.0, help="default seconds per run_code; 'none' = no limit (30)")
    add("--max-timeout", type=_seconds, default=None, help="largest timeout a client may request")
    add("--output-cap", type=_positive_int, default=1024 * 1024, help="characters kept per stream per run (1 MiB)")
    add("--value-cap", type=_positive_int, default=64 * 1024, help="characters kept of the result's repr (64 KiB)")
    add(
        "--interrupt-grace",
        type=float,
        default=2.0,
        help="seconds interrupted code gets to stop before its worker is replaced (2)",
    )
    add("--no-runtime-deps", action="store_true", help="refuse to add/remove packages at runtime; hide those tools")
    add("--extra-dep", action="append", default=[], metavar="REQUIREMENT", help="a package beyond requirements.txt")
    add("--python-version", help="Python of the session venvs, e.g. 3.12 (default: the server's)")
    add("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], default="INFO")

    storage = parser.add_argument_group("storage")
    storage.add_argument(
        "--storage",
        choices=["file", "redis"],
        default="file",
        help="where workflows, artifacts and requirements live (default: file)",
    )
    storage.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for --storage redis (default: $REDIS_URL, else local)",
    )
    storage.add_argument("--redis-prefix", default="codemode", help="prefix of every Redis key (codemode)")
    storage.add_argument(
        "--redis-tools",
        action="store_true",
        help="read tool definitions from Redis too (default: the workspace's tools/)",
    )

    http = parser.add_argument_group("HTTP transport")
    http.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="stdio (default) or http")
    http.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    http.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    http.add_argument(
        "--auth-token",
        default=os.environ.get("CODEMODE_AUTH_TOKEN"),
        help="one bearer token for all clients (default: $CODEMODE_AUTH_TOKEN)",
    )
    http.add_argument("--tokens-file", type=Path, help="JSON object mapping each bearer token to a principal name")
    http.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST[:PORT|:*]",
        help="accepted Host header (repeat); '*' turns Host/Origin checks off",
    )
    http.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accepted Origin header, e.g. https://app.example.com (repeat)",
    )
    http.add_argument("--max-body-bytes", type=_positive_int, default=4 * 1024 * 1024, help="request size limit")
    http.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=1800.0,
        help="seconds before an unused session is closed; 'none' = never (1800)",
    )
    http.add_argument("--max-sessions", type=_positive_int, default=256, help="sessions at once, in all (256)")
    http.add_argument(
        "--max-sessions-per-principal", type=_positive_int, default=64, help="sessions at once per client (64)"
    )
    http.add_argument("--pool-size", type=int, default=2, help="pre-started workers for new sessions (2)")
    return parser


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    limits = ExecutionLimits(output_cap=args.output_cap, value_cap=args.value_cap, interrupt_grace=args.interrupt_grace)
    http = args.transport == "http"
    return ServerSettings(
        base=args.base,
        executor=args.executor,
        timeout=args.timeout,
        max_timeout=args.max_timeout,
        limits=limits,
        log_level=args.log_level,
        allow_runtime_deps=not args.no_runtime_deps,
        extra_deps=args.extra_dep,
        python_version=args.python_version,
        eager_start=not http,  # over HTTP the worker pool has new sessions' workers ready
        storage=args.storage,
        redis_url=args.redis_url,
        redis_prefix=args.redis_prefix,
        redis_tools=args.redis_tools,
        transport=args.transport,
        host=args.host,
        port=args.port,
        idle_timeout=args.idle_timeout if http else None,
        max_sessions=args.max_sessions,
        max_sessions_per_principal=args.max_sessions_per_principal,
        pool_size=args.pool_size if http else 0,
        auth_tokens=load_tokens(args.auth_token, args.tokens_file),
        allowed_hosts=args.allowed_host,
        allowed_origins=args.allowed_origin,
        max_body_bytes=args.max_body_bytes,
    )


async def serve(settings: ServerSettings) -> None:
    """Serve until the client leaves (stdio) or a signal arrives; every session is closed on the way out.

    The registry starts first (and, over stdio, the default session's worker); the ``mcp``
    package, most of the start-up time, is imported in a thread meanwhile.
    """
    async with new_registry(settings) as registry:
        await _check_storage(registry)
        await _serve_with(registry, settings)


async def _serve_with(registry: SessionRegistry, settings: ServerSettings) -> None:
    async with anyio.create_task_group() as tasks:
        if settings.transport == "stdio":
            await tasks.start(_exit_on_signal, registry)
            if settings.eager_start:
                registry.prestart_default(LOCAL_PRINCIPAL)
        app = await anyio.to_thread.run_sync(importlib.import_module, "codemode.server.app")
        server = app.create_server(settings, registry)
        if settings.transport == "stdio":
            await server.run_stdio_async()
        else:
            from codemode.server.http import serve_http

            await serve_http(server, settings, registry)  # uvicorn handles SIGTERM/SIGINT itself
        tasks.cancel_scope.cancel()


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


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.base.is_dir():
        parser.error(f"--base {args.base} is not a directory")
    try:
        settings = settings_from_args(args)
        if settings.transport == "http":
            from codemode.server.http import check_exposure

            check_exposure(settings)
    except CodemodeError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        anyio.run(serve, settings)
    except* CodemodeError as group:  # e.g. Redis unreachable at start
        print(f"codemode-mcp: {group.exceptions[0]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
