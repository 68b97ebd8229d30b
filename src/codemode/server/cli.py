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
from codemode.executors.base import ExecutionLimits
from codemode.server.registry import SessionRegistry, new_registry
from codemode.server.settings import LOCAL_PRINCIPAL, ServerSettings

logger = logging.getLogger(__name__)


def _timeout(text: str) -> float | None:
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
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--base", type=Path, default=Path("."), help="workspace directory (default: .)")
    parser.add_argument(
        "--executor",
        choices=["subprocess", "inprocess"],
        default="subprocess",
        help="where code runs: a worker process (default) or the server itself (unsafe, trusted code only)",
    )
    parser.add_argument(
        "--timeout", type=_timeout, default=30.0, help="default seconds per run_code; 'none' = no limit (default: 30)"
    )
    parser.add_argument("--max-timeout", type=_timeout, default=None, help="largest timeout a client may request")
    parser.add_argument(
        "--output-cap", type=_positive_int, default=1024 * 1024, help="characters kept per stream per run (1 MiB)"
    )
    parser.add_argument(
        "--value-cap", type=_positive_int, default=64 * 1024, help="characters kept of the result's repr (64 KiB)"
    )
    parser.add_argument(
        "--interrupt-grace",
        type=float,
        default=2.0,
        help="seconds interrupted code gets to stop before its worker is replaced (default: 2)",
    )
    parser.add_argument(
        "--no-runtime-deps",
        action="store_true",
        help="refuse to add or remove packages at runtime, and hide add_dep/remove_dep",
    )
    parser.add_argument(
        "--extra-dep", action="append", default=[], metavar="REQUIREMENT", help="a package beyond requirements.txt"
    )
    parser.add_argument("--python-version", help="Python of the session venvs, e.g. 3.12 (default: the server's)")
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default="INFO",
        help="stderr log level",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    limits = ExecutionLimits(output_cap=args.output_cap, value_cap=args.value_cap, interrupt_grace=args.interrupt_grace)
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
    )


async def serve_stdio(settings: ServerSettings) -> None:
    """Serve one client over stdio until it closes stdin, or a signal arrives.

    The default session's worker is started first, and the ``mcp`` package (most of
    the start-up time) is imported in a thread meanwhile, so the first run_code finds
    a ready worker. On SIGTERM/SIGINT/SIGHUP every session is closed (no worker or
    child of one survives) and the process exits: the SDK's stdin reader sits in a
    blocking read that cancellation cannot end.
    """
    async with new_registry(settings) as registry, anyio.create_task_group() as tasks:
        await tasks.start(_exit_on_signal, registry)
        if settings.eager_start:
            registry.prestart_default(LOCAL_PRINCIPAL)
        app = await anyio.to_thread.run_sync(importlib.import_module, "codemode.server.app")
        await app.create_server(settings, registry).run_stdio_async()
        tasks.cancel_scope.cancel()  # the client closed stdin: leave normally


async def _exit_on_signal(
    registry: SessionRegistry, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        task_status.started()
        async for signum in signals:
            logger.info("received %s: closing %d session(s)", signal.Signals(signum).name, len(registry))
            await registry.close_all()
            logging.shutdown()
            os._exit(0)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not args.base.is_dir():
        build_parser().error(f"--base {args.base} is not a directory")
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    anyio.run(serve_stdio, settings)


if __name__ == "__main__":
    main()
