"""Upstream MCP servers from the files users already have: ``mcpServers`` (Claude Desktop, Cursor, Claude
Code's ``.mcp.json``) and ``servers`` (VS Code's ``mcp.json``).

Each entry becomes the :class:`~codemode.tools.spec.McpToolSpec` that a YAML
``type: mcp`` tool would be, so both behave the same: ``tools.<server>.<tool>(...)``,
connected on first use, with an allow-list environment plus the entry's ``env``
(``${VAR}`` read from the server's environment). Stdio entries have ``command``,
``args``, ``env`` and ``cwd``; HTTP ones ``url``, ``headers`` and a ``type`` of
``http`` / ``streamable-http`` (the default for a URL) or ``sse``. Keys that other
clients add (``disabled``, ``autoApprove``, ``inputs`` ...) are left alone; an entry
with ``"disabled": true`` is skipped.

A file that is not JSON, has neither key, or has an entry that cannot work is an
error that names the file and the server: at start, the server exits with it; a
file edited into that state later is listed among the tools' problems.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from codemode.errors import InvalidArgument
from codemode.tools.spec import McpToolSpec

_TRANSPORTS = {
    "stdio": "stdio",
    "http": "streamable_http",
    "streamable-http": "streamable_http",
    "streamable_http": "streamable_http",
    "streamableHttp": "streamable_http",
    "sse": "sse",
}
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_-]")
_ENV_PREFIXED = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")  # VS Code's ${env:VAR} is our ${VAR}
_SHAPE = (
    'expected a JSON object with "mcpServers" (Claude Desktop, Cursor) or "servers" (VS Code) '
    "mapping server names to their settings"
)


def check_mcp_configs(paths: Sequence[Path]) -> None:
    """Raise ``InvalidArgument`` for the first file (or server in it) that cannot be used; read them all."""
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"--mcp-config {path}: cannot be read: {exc.strerror or exc}") from None
        _, problems = parse_mcp_config(path, raw)
        if problems:
            raise InvalidArgument(problems[0])


def parse_mcp_config(path: Path, raw: bytes) -> tuple[list[McpToolSpec], list[str]]:
    """The servers of one file, and what is wrong with it (each problem names the file and the server)."""
    label = f"--mcp-config {path}"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return [], [f"{label}: not valid JSON: {exc}"]
    servers = _servers(data)
    if servers is None:
        return [], [f"{label}: {_SHAPE}"]
    specs: list[McpToolSpec] = []
    problems: list[str] = []
    for key, entry in servers.items():
        if isinstance(entry, dict) and entry.get("disabled") is True:
            continue
        try:
            specs.append(server_spec(str(key), entry, path))
        except ValueError as exc:
            problems.append(f"{label}: server {key!r}: {exc}")
    return specs, problems


def _servers(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    for key in ("mcpServers", "servers"):
        if isinstance(data.get(key), dict):
            return data[key]
    return None


def server_spec(key: str, entry: Any, path: Path) -> McpToolSpec:
    """One entry as an MCP tool spec; ``ValueError`` says what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError("expected an object with 'command' (a stdio server) or 'url' (an HTTP server)")
    transport = _transport(entry)
    fields: dict[str, Any] = {
        "name": tool_name(key),
        "type": "mcp",
        "transport": transport,
        "description": str(entry.get("description") or f"MCP server '{key}' from {path.name}"),
    }
    if transport == "stdio":
        fields |= _stdio_fields(entry, path)
    else:
        fields |= _http_fields(entry)
    try:
        return McpToolSpec.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"{where + ': ' if where else ''}{error['msg'].removeprefix('Value error, ')}") from None


def _transport(entry: dict[str, Any]) -> str:
    kind = entry.get("type", entry.get("transport"))
    if kind is None:
        if entry.get("command") is not None:
            return "stdio"
        if entry.get("url") is not None:
            return "streamable_http"
        raise ValueError("needs a 'command' (a stdio server) or a 'url' (an HTTP server)")
    if not isinstance(kind, str) or kind not in _TRANSPORTS:
        raise ValueError(f"unknown type {kind!r}; use 'stdio', 'http' (or 'streamable-http') or 'sse'")
    transport = _TRANSPORTS[kind]
    if transport == "stdio" and not entry.get("command"):
        raise ValueError("a stdio server needs a 'command'")
    if transport != "stdio" and not entry.get("url"):
        raise ValueError(f"an {kind!r} server needs a 'url'")
    return transport


def _stdio_fields(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    command = entry["command"]
    if not isinstance(command, str):
        raise ValueError(f"'command' must be a string (the program), not {type(command).__name__}")
    if "envFile" in entry:
        raise ValueError("'envFile' is not supported: list the variables in 'env' (values may be ${VAR})")
    fields: dict[str, Any] = {
        "command": _expanded(command, path),
        "args": _strings(entry.get("args", []), "args", path),
    }
    env = entry.get("env", {})
    if not isinstance(env, dict):
        raise ValueError("'env' must be an object of variable names and values")
    fields["env"] = {str(name): _text(value, f"env.{name}", path) for name, value in env.items()}
    if entry.get("cwd") is not None:
        cwd = Path(_text(entry["cwd"], "cwd", path)).expanduser()
        fields["cwd"] = str(cwd if cwd.is_absolute() else path.parent / cwd)  # relative to the file, as VS Code's
    return fields


def _http_fields(entry: dict[str, Any]) -> dict[str, Any]:
    headers = entry.get("headers", {})
    if not isinstance(headers, dict):
        raise ValueError("'headers' must be an object of header names and values")
    url = _text(entry["url"], "url")
    if not url.startswith(("http://", "https://", "${")):
        raise ValueError(f"'url' must be an http:// or https:// URL, not {url[:80]!r}")
    return {
        "url": url,
        "headers": {str(name): _text(value, f"headers.{name}") for name, value in headers.items()},
    }


def _strings(values: Any, field: str, path: Path) -> list[str]:
    if not isinstance(values, list):
        raise ValueError(f"'{field}' must be a list of strings")
    return [_text(value, f"{field}[{index}]", path) for index, value in enumerate(values)]


def _text(value: Any, field: str, path: Path | None = None) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"'{field}' must be a string, not {type(value).__name__}")
    text = _ENV_PREFIXED.sub(r"${\1}", str(value))
    if "${input:" in text:
        raise ValueError(
            f"'{field}': VS Code input variables (${{input:...}}) are not supported; "
            "put the value in an environment variable of the server and write ${env:NAME}"
        )
    return _expanded(text, path) if path is not None else text


def _expanded(text: str, path: Path | None) -> str:
    """``${workspaceFolder}`` (VS Code's): the folder the file's ``.vscode`` is in, else the file's folder."""
    if path is None or "${workspaceFolder}" not in text:
        return text
    folder = path.parent.parent if path.parent.name == ".vscode" else path.parent
    return text.replace("${workspaceFolder}", str(folder))


def tool_name(key: str) -> str:
    """The tool name of a server key: characters a tool name cannot have become '_' (``my.server`` -> ``my_server``)."""
    name = _NOT_A_NAME.sub("_", key)[:64]
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = f"_{name}"[:64]
    return name
