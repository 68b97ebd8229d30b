"""Parsed flags, checked and turned into :class:`~codemode.server.settings.ServerSettings`.

The flags themselves are in :mod:`codemode.server.flags`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from codemode.errors import CodemodeError, InvalidArgument
from codemode.models import ExecutionLimits
from codemode.sandbox.launcher import SandboxConfig
from codemode.server.auth import load_tokens
from codemode.server.settings import ServerSettings
from codemode.tools.approval import check_patterns
from codemode.tools.mcp_config import check_mcp_configs
from codemode.workspace.quota import StorageQuota


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    limits = _limits(args)
    if args.timeout is None and args.max_timeout is not None:
        raise InvalidArgument("--timeout none (no limit) needs --max-timeout none too")
    if args.timeout is not None and args.max_timeout is not None and args.timeout > args.max_timeout:
        raise InvalidArgument(f"--timeout {args.timeout:g} is larger than --max-timeout {args.max_timeout:g}")
    http = args.transport == "http"
    return ServerSettings(
        base=args.base,
        executor=_executor(args),
        timeout=args.timeout,
        limits=limits,
        log_level=args.log_level,
        allow_runtime_deps=not args.no_runtime_deps,
        allow_source_builds=args.allow_source_builds,
        extra_deps=args.extra_dep,
        python_version=args.python_version,
        **_approval_settings(args),
        eager_start=not http,  # over HTTP the worker pool has new sessions' workers ready
        sandbox=_sandbox_config(args, http),
        **_storage_settings(args),
        sync_deps_on_start=args.sync_deps,
        redis_prefix=args.redis_prefix,
        redis_tools=args.redis_tools,
        quota=StorageQuota(
            artifacts_bytes=args.artifacts_quota,
            snapshots_bytes=args.snapshots_quota,
            sessions_bytes=args.sessions_quota,
        ),
        mcp_tools=args.mcp_tools,
        enable_tools=args.enable_tool,
        disable_tools=args.disable_tool,
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
        http_header_timeout=args.http_header_timeout,
        http_body_timeout=args.http_body_timeout,
        http_keep_alive=args.http_keep_alive,
        http_max_connections=args.http_max_connections,
    )


def _executor(args: argparse.Namespace) -> Literal["subprocess", "inprocess"]:
    """``--executor``, py-code-mode's names included; its executors that do not exist here say what does."""
    if args.executor in ("container", "deno-sandbox"):
        raise InvalidArgument(
            f"--executor {args.executor} is py-code-mode's; this server confines every worker with bubblewrap "
            "instead (--executor subprocess with --sandbox bwrap: own namespaces, seccomp, limits, no network "
            "over HTTP)"
        )
    if args.subprocess_venv_path or args.subprocess_no_cache_venv:
        raise InvalidArgument(
            "--subprocess-venv-path and --subprocess-no-cache-venv are py-code-mode's: here each workspace's venv "
            "is built with uv from its requirements.txt and cached by content; choose the Python with "
            "--python-version"
        )
    return "inprocess" if args.executor in ("inprocess", "in-process") else "subprocess"


def _limits(args: argparse.Namespace) -> ExecutionLimits:
    return ExecutionLimits(
        output_cap=args.output_cap,
        value_cap=args.value_cap,
        interrupt_grace=args.interrupt_grace,
        max_timeout=args.max_timeout,
        memory_bytes=args.memory_limit,
        max_processes=args.max_processes,
        max_open_files=args.max_open_files,
        max_file_bytes=args.max_file_size,
        cpu_seconds=args.cpu_seconds,
        max_workdir_bytes=args.max_session_dir_size,
        image_max_edge=args.image_max_edge,
        image_max_bytes=args.image_max_bytes,
        max_snapshot_bytes=args.max_snapshot_size,
    )


def _sandbox_config(args: argparse.Namespace, http: bool) -> SandboxConfig:
    """``--sandbox``, ``--network``, ``--allow-host`` ...; the network is off by default over HTTP or with hosts."""
    network = args.network or ("off" if http or args.allow_host else "on")
    try:
        return SandboxConfig(
            mode=args.sandbox,
            network=network == "on",
            pass_env=tuple(args.pass_env),
            state_dir=args.state_dir,
            allow_hosts=tuple(args.allow_host),
        )
    except ValidationError as exc:
        raise InvalidArgument("; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())) from None


def _approval_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``--require-approval`` (checked here: a bad pattern is a usage error that names it), ``--approval-timeout``."""
    return {"require_approval": list(check_patterns(args.require_approval)), "approval_timeout": args.approval_timeout}


def _storage_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``--storage file|redis|PATH``, ``--redis URL`` (py-code-mode's), ``--tools PATH`` and ``--mcp-config`` as
    settings."""
    kind, path = (args.storage, None) if args.storage in {"file", "redis"} else ("file", Path(args.storage))
    url = args.redis_url
    if args.redis is not None:
        if path is not None:
            raise InvalidArgument(f"--redis stores in Redis, --storage {args.storage} in a directory: give one")
        kind, url = "redis", args.redis
    if path is not None and path.exists() and not path.is_dir():
        raise InvalidArgument(f"--storage {path} is not a directory (give file, redis or a directory)")
    if args.tools is not None and not args.tools.is_dir():
        raise InvalidArgument(f"--tools {args.tools} is not a directory")
    mcp_config = [path.expanduser().resolve() for path in args.mcp_config]
    check_mcp_configs(mcp_config)  # a file that cannot be used: say so now, like a bad --base
    return {"storage": kind, "storage_path": path, "tools_path": args.tools, "redis_url": url, "mcp_config": mcp_config}


def _missing_base(base: Path) -> str:
    """The error for a --base that is not a directory, with the path it was resolved to and against what."""
    return (
        f"--base {base}: {base.expanduser().resolve()} is not a directory. A relative --base is resolved against "
        f"the current directory ({Path.cwd()}); in an MCP client's config, give an absolute path, or start the "
        "server with `uv run --project DIR` (keeps the client's directory) rather than `uv run --directory DIR` "
        "(changes it)"
    )


def parse_settings(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, ServerSettings]:
    """The parsed flags and the settings they make; a bad flag or value ends in the parser's usage error."""
    args = parser.parse_args(argv)
    if not args.base.is_dir():
        parser.error(_missing_base(args.base))
    try:
        return args, settings_from_args(args)
    except CodemodeError as exc:
        parser.error(str(exc))
