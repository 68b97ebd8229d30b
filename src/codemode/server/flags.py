"""The command line's flags: the parser, its groups, and the types that read sizes and times.

Shared by ``codemode-mcp`` (:mod:`codemode.server.cli`) and ``codemode-mcp check``; the docs'
configuration reference is generated from :func:`build_parser`. :mod:`codemode.server.arguments`
turns what it parsed into :class:`~codemode.server.settings.ServerSettings`.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from codemode import __version__
from codemode.tools.approval import DEFAULT_APPROVAL_TIMEOUT
from codemode.workspace.quota import StorageQuota


def _seconds(text: str) -> float | None:
    if text.lower() in {"none", "0", "off"}:
        return None
    value = float(text)
    if not 0 < value < math.inf:  # NaN fails this too
        raise argparse.ArgumentTypeError("must be a positive, finite number of seconds, or 'none'")
    return value


def _size(text: str) -> int | None:
    """``2G``, ``512M``, ``64K``, a number of bytes, or ``none``."""
    if text.lower() in {"none", "off", "unlimited"}:
        return None
    scale = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a size such as 2G, 512M, 64K or a number of bytes, or 'none'"
        ) from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError("must be a positive size")
    return int(value)


def _bounded_size(text: str) -> int:
    """A size that must have a value (``none`` is not allowed)."""
    value = _size(text)
    if value is None:
        raise argparse.ArgumentTypeError("must be a size such as 256M or 1G ('none' is not allowed here)")
    return value


def _limit(text: str) -> int | None:
    return None if text.lower() in {"none", "off", "unlimited"} else _positive_int(text)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be a positive, finite number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codemode-mcp",
        description="An MCP server that gives each client a persistent Python code-mode session.",
        epilog="codemode-mcp check --base DIR [--json] [server flags]: check a workspace as the server would "
        "load it, and exit 1 on any problem (for CI).",
    )
    add = parser.add_argument
    add("--version", action="version", version=f"%(prog)s {__version__}")
    add("--base", type=Path, default=Path("."), help="workspace directory (default: .)")
    add(
        "--executor",
        choices=["subprocess", "inprocess", "in-process", "container", "deno-sandbox"],
        default="subprocess",
        help="where code runs: a worker process (default) or the server itself (inprocess, py-code-mode's "
        "in-process: unsafe, trusted code only); py-code-mode's container and deno-sandbox are refused: "
        "here the worker is confined by bubblewrap (--sandbox)",
    )
    add("--timeout", type=_seconds, default=30.0, help="default seconds per run_code; 'none' = no limit (30)")
    add(
        "--max-timeout",
        type=_seconds,
        default=600.0,
        help="largest timeout a client may request; larger, 'inf' and NaN are refused; 'none' = no cap (600)",
    )
    add("--output-cap", type=_positive_int, default=1024 * 1024, help="characters kept per stream per run (1 MiB)")
    add("--value-cap", type=_positive_int, default=64 * 1024, help="characters kept of the result's repr (64 KiB)")
    add(
        "--interrupt-grace",
        type=_positive_seconds,
        default=2.0,
        help="seconds interrupted code gets to stop before its worker is replaced (2)",
    )
    add("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], default="INFO")
    _add_packages_flags(parser)
    _add_sandbox_flags(parser)
    _add_surface_flags(parser)
    _add_storage_flags(parser)
    _add_tool_flags(parser)
    _add_http_flags(parser)
    _add_session_flags(parser)
    _add_approval_flags(parser)
    return parser


def _add_approval_flags(parser: argparse.ArgumentParser) -> None:
    approvals = parser.add_argument_group("approvals (tool calls a person must allow)")
    approvals.add_argument(
        "--require-approval",
        action="append",
        default=[],
        metavar="PATTERN",
        help="tool calls from code that run only after the MCP client approves them (repeat): a glob over "
        "TOOL.CALLABLE, e.g. github.*, memory.delete_*, curl.post; TOOL alone covers every call of a tool. "
        "Case does not matter, and '-', '.' or any character a Python name cannot hold matches '_' (code's "
        "name for an MCP server's tool); a direct call tools.TOOL(...) counts as every callable of TOOL. "
        "The server asks through MCP elicitation; a decline, a cancel, a client that cannot be asked or no "
        "answer in time refuses the call, and nothing is called. A tool's YAML 'approval: required' does the "
        "same for that tool or recipe",
    )
    approvals.add_argument(
        "--approval-timeout",
        type=_seconds,
        default=DEFAULT_APPROVAL_TIMEOUT,
        metavar="SECONDS",
        help="seconds to wait for the answer to an approval question before the call is refused; the wait "
        "counts toward the run's timeout; 'none' = as long as the run lasts "
        f"({DEFAULT_APPROVAL_TIMEOUT:g})",
    )


def _add_packages_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("packages (the session venvs)")
    group.add_argument(
        "--sync-deps",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="install the configured packages when a session starts (default: no; py-code-mode's "
        "--no-sync-deps is accepted)",
    )
    group.add_argument(
        "--no-runtime-deps", action="store_true", help="refuse to add/remove packages at runtime; hide those tools"
    )
    group.add_argument(
        "--allow-source-builds",
        action="store_true",
        help="let package installs build source distributions (default: wheels only); a build runs the "
        "package's code on this host as this user, outside the sandbox: only with a trusted index",
    )
    group.add_argument(
        "--extra-dep", action="append", default=[], metavar="REQUIREMENT", help="a package beyond requirements.txt"
    )
    group.add_argument(
        "--python-version",
        "--subprocess-python-version",
        help="Python of the session venvs, e.g. 3.12 (default: the server's)",
    )
    group.add_argument("--subprocess-venv-path", help=argparse.SUPPRESS)  # py-code-mode's: refused with the reason
    group.add_argument("--subprocess-no-cache-venv", action="store_true", help=argparse.SUPPRESS)  # likewise


def _add_surface_flags(parser: argparse.ArgumentParser) -> None:
    surface = parser.add_argument_group("the MCP surface (what the agent reads on every turn)")
    surface.add_argument(
        "--mcp-tools",
        choices=["code", "py-code-mode", "full"],
        default=os.environ.get("CODEMODE_MCP_TOOLS", "code"),
        help="which tools to offer: code (run_code and search; everything else from code, the default), "
        "py-code-mode (its 0.16 tools and text results) or full (every operation as a tool); "
        "default: $CODEMODE_MCP_TOOLS, else code",
    )
    surface.add_argument(
        "--enable-tool", action="append", default=[], metavar="NAME", help="also offer this tool of full (repeat)"
    )
    surface.add_argument(
        "--disable-tool", action="append", default=[], metavar="NAME", help="do not offer this tool (repeat)"
    )


def _add_storage_flags(parser: argparse.ArgumentParser) -> None:
    storage = parser.add_argument_group("storage")
    storage.add_argument(
        "--storage",
        default="file",
        metavar="file|redis|PATH",
        help="where workflows, artifacts and requirements live: file (--base, the default), redis, "
        "or a directory (py-code-mode's --storage PATH)",
    )
    storage.add_argument(
        "--tools", type=Path, metavar="PATH", help="directory of tool YAML files (default: the workspace's tools/)"
    )
    storage.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for --storage redis (default: $REDIS_URL, else local)",
    )
    storage.add_argument("--redis", metavar="URL", help="store in Redis at URL (py-code-mode's flag)")
    storage.add_argument("--redis-prefix", "--prefix", default="codemode", help="prefix of every Redis key (codemode)")
    storage.add_argument(
        "--redis-tools",
        action="store_true",
        help="read tool definitions from Redis too (default: the workspace's tools/)",
    )
    quota = StorageQuota()  # the defaults live there
    for flag, field, what in (
        ("--artifacts-quota", "artifacts_bytes", "all artifacts of the workspace"),
        ("--snapshots-quota", "snapshots_bytes", "stored snapshots per principal"),
        ("--sessions-quota", "sessions_bytes", "stored named sessions per principal"),
    ):
        default = getattr(quota, field)
        storage.add_argument(flag, type=_bounded_size, default=default, help=f"{what} ({default // 1024**3}G)")


def _add_tool_flags(parser: argparse.ArgumentParser) -> None:
    tools = parser.add_argument_group("tools (beyond the workspace's tools/*.yaml)")
    tools.add_argument(
        "--mcp-config",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="an MCP client's JSON config whose servers become tools (tools.SERVER.TOOL(...) in code): "
        '"mcpServers" (Claude Desktop, Cursor, .mcp.json) or "servers" (VS Code\'s mcp.json), with stdio '
        "(command, args, env, cwd) and HTTP (url, headers, type http or sse) servers. Each connects on first "
        "use, with the tools' allow-list environment plus its env (${VAR} reads this server's). Repeat for "
        "more files; a file that cannot be used stops the server with a message naming it and the server",
    )


def _add_http_flags(parser: argparse.ArgumentParser) -> None:
    http = parser.add_argument_group("HTTP transport")
    http.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="stdio (default) or http")
    http.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    http.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    http.add_argument(
        "--auth-token",
        default=os.environ.get("CODEMODE_AUTH_TOKEN"),
        help="one bearer token for all clients (default: $CODEMODE_AUTH_TOKEN); a token given here is visible "
        "in the process list: prefer the environment variable or --tokens-file",
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
        "--http-header-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        default=10.0,
        help="seconds a client has to send a request's headers, else its connection is closed (10)",
    )
    http.add_argument(
        "--http-body-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        default=30.0,
        help="seconds a client has to send a request's body once its headers are in (30)",
    )
    http.add_argument(
        "--http-keep-alive",
        type=_positive_seconds,
        metavar="SECONDS",
        default=5.0,
        help="seconds an idle connection stays open (5)",
    )
    http.add_argument(
        "--http-max-connections",
        type=_positive_int,
        metavar="N",
        default=512,
        help="connections at once; one more closes the oldest idle one, or is turned away if none is idle (512)",
    )


def _add_session_flags(parser: argparse.ArgumentParser) -> None:
    sessions = parser.add_argument_group("sessions (HTTP serves many clients)")
    sessions.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=1800.0,
        help="seconds before an unused session is closed; 'none' = never (1800)",
    )
    sessions.add_argument(
        "--max-sessions",
        type=_positive_int,
        default=256,
        help="sessions at once, in all; when full, the least recently used idle one closes (256)",
    )
    sessions.add_argument(
        "--max-sessions-per-principal",
        type=_positive_int,
        default=64,
        help="sessions at once per principal (a token's name; all unauthenticated callers are one, 'local'); "
        "when full, its least recently used idle one closes (64)",
    )
    sessions.add_argument("--pool-size", type=int, default=2, help="pre-started workers for new sessions (2)")


def _add_sandbox_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sandbox and limits (per session worker)")
    add = group.add_argument
    add(
        "--sandbox",
        choices=["auto", "bwrap", "none"],
        default="auto",
        help="confine workers with bubblewrap: 'auto' where it works (default), 'bwrap' or fail, 'none' never",
    )
    add(
        "--network",
        choices=["on", "off"],
        help="workers' network; 'off' = an empty network namespace (default: off over HTTP, on over stdio)",
    )
    add(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="with the network off, a host code may still reach through a proxy on the host (repeat): a name, "
        "*.suffix or IP address; without a port 443 and 80. Implies --network off",
    )
    add(
        "--pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="pass this environment variable to workers and tools",
    )
    add(
        "--state-dir",
        type=Path,
        help="where session directories live (default: $CODEMODE_STATE_DIR or ~/.local/state/codemode)",
    )
    add("--memory-limit", type=_size, default=2 * 1024**3, help="memory per worker, e.g. 2G; 'none' = no limit (2G)")
    add("--max-processes", type=_limit, default=256, help="processes and threads per worker (256)")
    add("--max-open-files", type=_limit, default=1024, help="open files per worker process (1024)")
    add("--max-file-size", type=_size, default=1024**3, help="largest file a worker may write (1G)")
    add("--cpu-seconds", type=_limit, default=3600, help="CPU seconds per worker process over its life (3600)")
    add("--max-session-dir-size", type=_size, default=1024**3, help="size of a session's directory (1G)")
    add(
        "--image-max-edge",
        type=_positive_int,
        default=1568,
        help="longest side in pixels of a picture run_code returns; larger ones shrink, the original is linked (1568)",
    )
    add(
        "--image-max-bytes",
        type=_bounded_size,
        default=1024**2,
        help="bytes of a picture run_code returns, e.g. 1M; larger ones shrink, the original is linked (1M)",
    )
    add("--max-snapshot-size", type=_bounded_size, default=256 * 1024**2, help="largest snapshot of a session (256M)")
