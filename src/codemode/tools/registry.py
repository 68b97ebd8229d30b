"""The tools of a workspace: loaded from ``tools/*.yaml`` in storage (and ``--mcp-config`` files), listed,
searched, described as Python, and called.

Definitions are re-read on every use (a cheap read of a few small files), so a
tool added or edited while the server runs is there on the next call; parsing
is cached by content. Connections (MCP servers, HTTP pools) live as long as the
registry and are rebuilt when their definition changes. Listing an MCP server's
tools connects to it (the list is kept per connection); one that cannot be
reached is listed as unavailable, with the reason, and never fails the listing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from codemode.errors import InvalidArgument, ToolFailed, ToolNotFound
from codemode.search.index import rank
from codemode.storage.base import Storage
from codemode.tools import catalog, cli, finder
from codemode.tools.approval import spec_approval
from codemode.tools.catalog import CallableInfo, ToolInfo, ToolList
from codemode.tools.mcp_config import parse_mcp_config
from codemode.tools.middleware import ToolCallContext, ToolChain
from codemode.tools.spec import CliToolSpec, HttpToolSpec, LoadedSpec, McpToolSpec, parse_tool_file

if TYPE_CHECKING:  # the adapters import httpx2 and the MCP client: only when a tool needs them
    from codemode.tools.http import HttpTool
    from codemode.tools.mcp import McpServerTool

logger = logging.getLogger(__name__)

COLLECTION = "tools"
Spec = CliToolSpec | McpToolSpec | HttpToolSpec

__all__ = ["COLLECTION", "CallableInfo", "ToolInfo", "ToolList", "ToolRegistry"]


class ToolRegistry:
    def __init__(
        self,
        storage: Storage,
        cwd: Path | None = None,
        collection: str = COLLECTION,
        pass_env: Sequence[str] = (),
        mcp_config: Sequence[Path] = (),
    ) -> None:
        self._storage = storage
        self._collection = collection
        self._cwd = cwd
        self._pass_env = tuple(pass_env)  # the server's --pass-env: every tool gets these too
        self._mcp_config = tuple(mcp_config)  # mcpServers / servers files: more MCP servers
        self._parsed: dict[str, LoadedSpec] = {}
        self._configs: dict[Path, tuple[str, list[McpToolSpec], list[str]]] = {}
        self._tasks: TaskGroup | None = None
        self._connections: dict[str, tuple[str, HttpTool | McpServerTool]] = {}

    def bind(self, tasks: TaskGroup) -> None:
        """Give MCP connections a task group to live in (the workspace's)."""
        self._tasks = tasks

    async def aclose(self) -> None:
        for _, connection in self._connections.values():
            await connection.aclose()
        self._connections.clear()

    async def list(self, connect: bool = True) -> ToolList:
        """Every tool; ``connect=False`` leaves MCP servers alone (their tools are then not listed)."""
        specs, problems = await self._load()
        infos: dict[str, ToolInfo] = {}
        async with anyio.create_task_group() as listing:  # MCP servers connect side by side
            for name, spec in specs.items():
                if isinstance(spec, McpToolSpec) and connect and self._tasks is not None:
                    listing.start_soon(self._list_mcp, spec, infos)
                else:
                    infos[name] = _static_info(spec)
        return ToolList(tools=[infos[name] for name in specs], problems=problems)

    async def search(self, query: str, limit: int = 10) -> list[ToolInfo]:
        """Tools for ``query``, best first; an MCP server's tools are matched one by one (``limit`` counts them)."""
        infos = {info.name: info for info in (await self.list()).tools}
        ranked = await rank(query, finder.documents(infos.values()), limit)
        return finder.results(ranked, infos)

    async def callables(self, tool: str) -> list[CallableInfo]:
        """What ``tools.<tool>.<x>`` can be: recipes, endpoints, or (connecting) an MCP server's tools."""
        return (await self._info(tool)).callables

    async def signatures(self, tool: str) -> dict[str, Any]:
        """What code needs to make ``tools.<tool>``'s functions: their specs (see ``worker/signatures.py``)."""
        return catalog.api(await self._info(tool))

    async def describe(self, name: str | None = None) -> str:
        """A tool's functions as Python ``def`` lines with one-line docs; without a name, every tool in brief."""
        if name is None:
            return catalog.describe_all((await self.list()).tools)
        return catalog.describe(await self._info(name, strict=False))

    async def call(
        self,
        tool: str,
        recipe: str | None,
        args: dict[str, Any],
        positional: list[Any] | None = None,
        chain: ToolChain | None = None,
    ) -> Any:
        """Call a tool; through ``chain`` (a session's middleware) when given, with the spec read once for both."""
        spec = await self._spec(tool)
        if chain is None:
            return await self._invoke(spec, recipe, args, positional)
        context = ToolCallContext(
            tool_name=spec.name,
            callable_name=recipe,
            args=dict(args),
            positional=tuple(positional or ()),
            approval=spec_approval(spec, recipe),
        )
        return await chain.call(
            context, lambda final: self._invoke(spec, final.callable_name, final.args, list(final.positional))
        )

    async def _invoke(self, spec: Spec, recipe: str | None, args: dict[str, Any], positional: list[Any] | None) -> Any:
        tool = spec.name
        if isinstance(spec, CliToolSpec):
            return await cli.run(spec, cli.build(spec, recipe, args, positional), self._cwd, self._pass_env)
        if positional:
            raise InvalidArgument(f"tool {tool!r} takes keyword arguments only")
        return await self._connection(spec).call(recipe, args)

    async def _info(self, tool: str, strict: bool = True) -> ToolInfo:
        """One tool's info; an MCP server is connected (``strict``: one that cannot be is an error)."""
        spec = await self._spec(tool)
        if not isinstance(spec, McpToolSpec):
            return _static_info(spec)
        connection = self._mcp(spec)
        if strict:
            return catalog.mcp_info(spec, await connection.list_tools())
        return catalog.mcp_info(spec, *await connection.listing())

    async def _list_mcp(self, spec: McpToolSpec, into: dict[str, ToolInfo]) -> None:
        into[spec.name] = catalog.mcp_info(spec, *await self._mcp(spec).listing())

    async def _spec(self, name: str) -> Spec:
        specs, problems = await self._load()
        name = _resolve(name, specs)
        if name not in specs:
            broken = [problem for problem in problems if f"'{name}'" in problem or f"{name}.y" in problem]
            hint = f" ({broken[0]})" if broken else ""
            known = ", ".join(sorted(specs)) or "none"
            raise ToolNotFound(f"no tool named {name!r}{hint}; the tools are: {known}")
        return specs[name]

    def _mcp(self, spec: McpToolSpec) -> McpServerTool:
        from codemode.tools.mcp import McpServerTool

        connection = self._connection(spec)
        assert isinstance(connection, McpServerTool)
        return connection

    def _connection(self, spec: McpToolSpec | HttpToolSpec) -> HttpTool | McpServerTool:
        digest = spec.model_dump_json()
        current = self._connections.get(spec.name)
        if current is not None and current[0] == digest:
            return current[1]
        if isinstance(spec, HttpToolSpec):
            from codemode.tools.http import HttpTool

            connection: HttpTool | McpServerTool = HttpTool(spec)
        else:
            from codemode.tools.mcp import McpServerTool

            if self._tasks is None:
                raise ToolFailed("MCP tools need a started session (the workspace is not open)")
            cwd = str(self._cwd) if self._cwd else None
            connection = McpServerTool(spec, self._tasks, cwd, self._pass_env)
        if current is not None:
            self._retire(current[1])
        self._connections[spec.name] = (digest, connection)
        return connection

    def _retire(self, connection: HttpTool | McpServerTool) -> None:
        if self._tasks is not None:
            self._tasks.start_soon(connection.aclose)

    async def _load(self) -> tuple[dict[str, Spec], list[str]]:
        files = await self._storage.read_all(self._collection)
        specs: dict[str, Spec] = {}
        problems: list[str] = []
        for file, raw in sorted(files.items()):
            if not file.endswith((".yaml", ".yml")):
                continue
            loaded = self._parse(file, raw)
            if loaded.spec is None:
                problems.append(loaded.problem or f"{file}: cannot be loaded")
            elif loaded.spec.name in specs:
                problems.append(f"{file}: a tool named {loaded.spec.name!r} is already defined; this file is ignored")
            else:
                specs[loaded.spec.name] = loaded.spec
                problems += [loaded.warning] if loaded.warning else []
        for path in self._mcp_config:
            servers, config_problems = await self._read_config(path)
            problems += config_problems
            for spec in servers:
                if spec.name in specs:
                    problems.append(
                        f"--mcp-config {path}: server {spec.name!r}: a tool named {spec.name!r} is already defined; "
                        "this server is ignored"
                    )
                else:
                    specs[spec.name] = spec
        return specs, problems

    def _parse(self, file: str, raw: bytes) -> LoadedSpec:
        cached = self._parsed.get(file)
        if cached is not None and cached.digest == hashlib.sha256(raw).hexdigest():
            return cached
        loaded = parse_tool_file(file, raw)
        if loaded.problem:
            logger.warning("tool skipped: %s", loaded.problem)
        elif loaded.warning:
            logger.warning("tool loaded: %s", loaded.warning)
        self._parsed[file] = loaded
        return loaded

    async def _read_config(self, path: Path) -> tuple[list[McpToolSpec], list[str]]:
        """The servers of an mcpServers file as it is now (parsed again only when it changed)."""
        try:
            raw = await anyio.Path(path).read_bytes()
        except OSError as exc:
            return [], [f"--mcp-config {path}: cannot be read: {exc.strerror or exc}"]
        digest = hashlib.sha256(raw).hexdigest()
        cached = self._configs.get(path)
        if cached is None or cached[0] != digest:
            specs, problems = parse_mcp_config(path, raw)
            for problem in problems:
                logger.warning("MCP server skipped: %s", problem)
            cached = self._configs[path] = (digest, specs, problems)
        return cached[1], cached[2]


def _resolve(name: str, specs: dict[str, Spec]) -> str:
    """``my_tool`` names the tool ``my-tool`` when no tool is called ``my_tool``: attributes cannot hold '-'."""
    if name in specs:
        return name
    matches = [spec_name for spec_name in specs if spec_name.replace("-", "_") == name]
    return matches[0] if len(matches) == 1 else name


def _static_info(spec: Spec) -> ToolInfo:
    """A tool's info without connecting: CLI and HTTP tools entirely; an MCP server without its tools."""
    if isinstance(spec, CliToolSpec):
        return catalog.cli_info(spec)
    if isinstance(spec, HttpToolSpec):
        return catalog.http_info(spec)
    return catalog.mcp_info(spec, None)
