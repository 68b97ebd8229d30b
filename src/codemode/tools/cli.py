"""CLI tools: build an argv list from a schema and arguments, run it, return stdout.

Never a shell: values are separate argv entries, and a positional value that
starts with ``-`` is placed after ``--`` so it cannot turn into an option. The
command runs on the host with an allow-list environment: the server's
``--pass-env`` names and the tool's own ``env`` list are all it gets beyond it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, Process

from codemode.errors import InvalidArgument, ToolFailed
from codemode.sandbox.environment import host_environment
from codemode.tools.spec import CliToolSpec, OptionSpec, PositionalSpec, RecipeSpec, ValueType

OUTPUT_CAP = 8 * 1024 * 1024
_STDERR_SHOWN = 2000
# Documented exit codes of common programs (man curl, "EXIT CODES").
_EXIT_CODES: dict[str, dict[int, str]] = {
    "curl": {
        3: "malformed URL",
        6: "could not resolve the host: no network (is the session's network off?) or a wrong host name",
        7: "could not connect to the host: no network, or nothing listening on that port",
        22: "the server answered with an HTTP error status (400 or above)",
        28: "timed out",
        35: "the TLS/SSL handshake failed",
        47: "too many redirects",
        52: "the server sent an empty reply",
        56: "the connection broke while receiving data",
        60: "the server's TLS certificate could not be verified",
    },
}


def raw_schema(spec: CliToolSpec) -> dict[str, Any]:
    """JSON schema of the tool's own arguments (its options, positionals and stdin)."""
    properties = {
        name: _schema(option.type, option.description, option.pattern) for name, option in spec.schema_.options.items()
    }
    properties |= {item.name: _schema(item.type, item.description, item.pattern) for item in spec.schema_.positional}
    if spec.schema_.stdin is not None:
        properties[spec.schema_.stdin.name] = _schema("string", spec.schema_.stdin.description)
    required = [item.name for item in spec.schema_.positional if item.required]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def recipe_schema(spec: CliToolSpec, recipe: RecipeSpec) -> dict[str, Any]:
    """JSON schema of what a recipe exposes; presets are fixed and not shown."""
    full = raw_schema(spec)["properties"]
    properties = {}
    for name, param in recipe.params.items():
        entry = dict(full.get(name, {}))
        if param.description:
            entry["description"] = param.description
        if param.has_default:
            entry["default"] = param.default
        properties[name] = entry
    required = [name for name, param in recipe.params.items() if not param.has_default and _is_required(spec, name)]
    return {"type": "object", "properties": properties, "required": required}


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    stdin: bytes | None = None


def build(
    spec: CliToolSpec, recipe: str | None, args: dict[str, Any], positional: list[Any] | None = None
) -> Invocation:
    """The argv (and stdin) for a call: recipe presets, then recipe defaults, then the caller's arguments."""
    merged = _merge(spec, recipe, args, positional or [])
    _check(spec, merged)
    stdin = None
    if spec.schema_.stdin is not None and spec.schema_.stdin.name in merged:
        stdin = str(merged.pop(spec.schema_.stdin.name)).encode("utf-8")
    argv = spec.argv0()
    for name, option in spec.schema_.options.items():
        if name in merged:
            flag = option.flag or (f"-{option.short}" if option.short else f"--{name}")
            argv += _option_argv(flag, option.type, merged[name])
    values = [str(merged[item.name]) for item in spec.schema_.positional if item.name in merged]
    if any(value.startswith("-") for value in values):
        argv.append("--")
    return Invocation(argv + values, stdin)


async def run(spec: CliToolSpec, call: Invocation, cwd: Path | None, pass_env: Sequence[str] = ()) -> str:
    """Run the call with the tool's timeout; stdout on success, ``ToolFailed`` otherwise.

    ``pass_env``: names of server variables every tool gets (the server's ``--pass-env``).
    """
    argv = call.argv
    try:
        process = await anyio.open_process(
            argv,
            stdin=subprocess.DEVNULL if call.stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=host_environment((*pass_env, *spec.env)),
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolFailed(f"tool {spec.name!r} cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    stdout: list[bytes] = []
    stderr: list[bytes] = []
    code = -1
    try:
        with anyio.fail_after(spec.timeout):
            async with anyio.create_task_group() as tasks:
                assert process.stdout is not None and process.stderr is not None
                tasks.start_soon(_read_capped, process.stdout, stdout)
                tasks.start_soon(_read_capped, process.stderr, stderr)
                if call.stdin is not None:
                    tasks.start_soon(_feed, process, call.stdin)
                code = await process.wait()
    except TimeoutError:
        raise ToolFailed(f"tool {spec.name!r} timed out after {spec.timeout:g}s and was killed") from None
    finally:
        with anyio.CancelScope(shield=True):
            _kill_group(process.pid)
            await process.aclose()
    out = b"".join(stdout).decode("utf-8", "replace")
    if code != 0:
        err = b"".join(stderr).decode("utf-8", "replace").strip()[-_STDERR_SHOWN:]
        raise ToolFailed(f"tool {spec.name!r} exited with code {code}{_meaning(spec, code)}: {err or '(no stderr)'}")
    return out


def _meaning(spec: CliToolSpec, code: int) -> str:
    """What an exit code means, where known: quiet tools (curl -s) often say nothing else."""
    if code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f" (killed by signal {-code})"
    known = _EXIT_CODES.get(Path(spec.argv0()[0]).name, {}).get(code)
    return f" ({known})" if known else ""


async def _read_capped(stream: ByteReceiveStream, into: list[bytes]) -> None:
    size = 0
    async for chunk in stream:
        if size < OUTPUT_CAP:
            into.append(chunk[: OUTPUT_CAP - size])
        size += len(chunk)  # keep reading past the cap, so the tool never blocks on a full pipe


async def _feed(process: Process, data: bytes) -> None:
    assert process.stdin is not None
    try:
        await process.stdin.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the command did not read it all: its exit status tells
    finally:
        await process.stdin.aclose()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _merge(spec: CliToolSpec, recipe: str | None, args: dict[str, Any], positional: list[Any]) -> dict[str, Any]:
    if recipe is None:
        allowed = set(spec.schema_.options) | {item.name for item in spec.schema_.positional}
        if spec.schema_.stdin is not None:
            allowed.add(spec.schema_.stdin.name)
        merged: dict[str, Any] = {}
    else:
        if recipe not in spec.recipes:
            known = ", ".join(sorted(spec.recipes)) or "none"
            raise InvalidArgument(f"tool {spec.name!r} has no recipe {recipe!r}; its recipes: {known}")
        chosen = spec.recipes[recipe]
        allowed = set(chosen.params)
        merged = dict(chosen.preset)
        merged |= {name: param.default for name, param in chosen.params.items() if param.has_default}
    names = [item.name for item in spec.schema_.positional if recipe is None or item.name in allowed]
    if len(positional) > len(names):
        raise InvalidArgument(f"{_label(spec, recipe)} takes at most {len(names)} positional argument(s)")
    # `max_time=5` reaches an option named `max-time`: Python keywords cannot hold a dash.
    spelled = {name if name in allowed else name.replace("_", "-"): value for name, value in args.items()}
    given = dict(zip(names, positional, strict=False)) | spelled
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise InvalidArgument(
            f"{_label(spec, recipe)} got unknown argument(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(allowed)) or 'nothing'}"
        )
    return merged | {name: value for name, value in given.items() if value is not None}


def _check(spec: CliToolSpec, merged: dict[str, Any]) -> None:
    for item in spec.schema_.positional:
        if item.required and item.name not in merged:
            raise InvalidArgument(f"tool {spec.name!r} needs argument {item.name!r}")
    declared: dict[str, OptionSpec | PositionalSpec] = dict(spec.schema_.options)
    declared |= {item.name: item for item in spec.schema_.positional}
    for name, value in merged.items():
        if name in declared:
            _check_value(spec.name, name, declared[name], value)


def _check_value(tool: str, name: str, declared: OptionSpec | PositionalSpec, value: Any) -> None:
    if not _fits(declared.type, value):
        raise InvalidArgument(f"tool {tool!r}: argument {name!r} must be {declared.type}, not {type(value).__name__}")
    items = value if declared.type == "array" else [value]
    if declared.pattern is not None and any(re.search(declared.pattern, str(item)) is None for item in items):
        rule = f" ({declared.description})" if declared.description else ""
        raise InvalidArgument(f"tool {tool!r}: argument {name!r} must match the pattern {declared.pattern!r}{rule}")


def _fits(kind: ValueType, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list | tuple) and all(isinstance(item, str | int | float) for item in value)
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _option_argv(flag: str, kind: ValueType, value: Any) -> list[str]:
    if kind == "boolean":
        return [flag] if value else []
    if kind == "array":
        return [part for item in value for part in (flag, str(item))]
    return [flag, str(value)]


def _is_required(spec: CliToolSpec, name: str) -> bool:
    return any(item.name == name and item.required for item in spec.schema_.positional)


def _label(spec: CliToolSpec, recipe: str | None) -> str:
    return f"tool {spec.name!r}" if recipe is None else f"recipe {spec.name}.{recipe}"


def _schema(kind: ValueType, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if kind == "array":
        schema["items"] = {"type": "string"} | ({"pattern": pattern} if pattern else {})
    elif pattern:
        schema["pattern"] = pattern
    if description:
        schema["description"] = description
    return schema
