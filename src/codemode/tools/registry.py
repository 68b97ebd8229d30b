"""The tools of a workspace: loaded from ``tools/*.yaml`` in storage, listed, searched and called.

Definitions are re-read on every use (a cheap read of a few small files), so a
tool added or edited while the server runs is there on the next call; parsing
is cached by content. Connections (MCP servers, HTTP pools) live as long as the
registry and are rebuilt when their definition changes.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from anyio.abc import TaskGroup
from pydantic import Field

from codemode.errors import InvalidArgument, ToolFailed, ToolNotFound
from codemode.record import Record
from codemode.search.index import Document, rank
from codemode.storage.base import Storage
from codemode.tools import cli
from codemode.tools.approval import spec_approval
from codemode.tools.middleware import ToolCallContext, ToolChain
from codemode.tools.spec import CliToolSpec, HttpToolSpec, LoadedSpec, McpToolSpec, parse_tool_file

if TYPE_CHECKING:  # the adapters import httpx2 and the MCP client: only when a tool needs them
    from codemode.tools.http import HttpTool
    from codemode.tools.mcp import McpServerTool

logger = logging.getLogger(__name__)

COLLECTION = "tools"
Spec = CliToolSpec | McpToolSpec | HttpToolSpec


class CallableInfo(Record):
    """Something a tool offers to call: a recipe, an HTTP endpoint, or an MCP server's tool."""

    name: str = Field(description="Its name: tools.<tool>.<name>(...).")
    description: str = Field(default="", description="What it does.")
    input_schema: dict[str, Any] = Field(default_factory=dict, description="JSON schema of its keyword arguments.")


class ToolInfo(Record):
    name: str = Field(description="The tool's name: tools.<name> in run_code.")
    type: Literal["cli", "mcp", "http"] = Field(
        description="'cli' (a command), 'mcp' (an MCP server) or 'http' (an HTTP API)."
    )
    description: str = Field(description="What the tool does.")
    tags: list[str] = Field(description="Words to find it by (search_tools).")
    available: bool = Field(description="False if the tool cannot run here (see problem).")
    problem: str | None = Field(default=None, description="Why it cannot run here, if it cannot.")
    input_schema: dict[str, Any] | None = Field(
        default=None, description="Arguments of a direct call, tools.<name>(...) (CLI tools)."
    )
    callables: list[CallableInfo] = Field(
        default_factory=list, description="tools.<name>.<callable>(...): recipes, endpoints (MCP: see recipes)."
    )
    score: float | None = Field(
        default=None,
        description=(
            "Search relevance, for search results: with the [semantic] extra, the cosine similarity to the query"
            " plus a keyword bonus (at most 0.1); without it, the BM25 score."
        ),
    )


class ToolList(Record):
    tools: list[ToolInfo] = Field(description="The tools, by name.")
    problems: list[str] = Field(
        default_factory=list,
        description="Tool files that could not be loaded, and why; and files loaded with warnings (unknown fields).",
    )


class ToolRegistry:
    def __init__(
        self, storage: Storage, cwd: Path | None = None, collection: str = COLLECTION, pass_env: Sequence[str] = ()
    ) -> None:
        self._storage = storage
        self._collection = collection
        self._cwd = cwd
        self._pass_env = tuple(pass_env)  # the server's --pass-env: every tool gets these too
        self._parsed: dict[str, LoadedSpec] = {}
        self._tasks: TaskGroup | None = None
        self._connections: dict[str, tuple[str, HttpTool | McpServerTool]] = {}

    def bind(self, tasks: TaskGroup) -> None:
        """Give MCP connections a task group to live in (the workspace's)."""
        self._tasks = tasks

    async def aclose(self) -> None:
        for _, connection in self._connections.values():
            await connection.aclose()
        self._connections.clear()

    async def list(self) -> ToolList:
        specs, problems = await self._load()
        return ToolList(tools=[_info(spec) for spec in specs.values()], problems=problems)

    async def search(self, query: str, limit: int = 10) -> list[ToolInfo]:
        infos = {info.name: info for info in (await self.list()).tools}
        documents = [Document(name, _search_fields(info)) for name, info in infos.items()]
        ranked = await rank(query, documents, limit)
        return [infos[name].model_copy(update={"score": score}) for name, score in ranked]

    async def callables(self, tool: str) -> list[CallableInfo]:
        """What ``tools.<tool>.<x>`` can be: recipes, endpoints, or (connecting) an MCP server's tools."""
        spec = await self._spec(tool)
        if isinstance(spec, McpToolSpec):
            from codemode.tools.mcp import McpServerTool

            connection = self._connection(spec)
            assert isinstance(connection, McpServerTool)
            remote = await connection.list_tools()
            return [
                CallableInfo(name=item.name, description=item.description or "", input_schema=item.input_schema)
                for item in remote
            ]
        return _info(spec).callables

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

    async def _spec(self, name: str) -> Spec:
        specs, problems = await self._load()
        name = _resolve(name, specs)
        if name not in specs:
            broken = [problem for problem in problems if f"'{name}'" in problem or f"{name}.y" in problem]
            hint = f" ({broken[0]})" if broken else ""
            known = ", ".join(sorted(specs)) or "none"
            raise ToolNotFound(f"no tool named {name!r}{hint}; the tools are: {known}")
        return specs[name]

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


def _resolve(name: str, specs: dict[str, Spec]) -> str:
    """``my_tool`` names the tool ``my-tool`` when no tool is called ``my_tool``: attributes cannot hold '-'."""
    if name in specs:
        return name
    matches = [spec_name for spec_name in specs if spec_name.replace("-", "_") == name]
    return matches[0] if len(matches) == 1 else name


def _info(spec: Spec) -> ToolInfo:
    base = {"name": spec.name, "type": spec.type, "description": spec.description, "tags": spec.tags}
    if isinstance(spec, CliToolSpec):
        program = spec.argv0()[0]
        found = shutil.which(program) is not None
        return ToolInfo(
            **base,
            available=found,
            problem=None if found else f"command {program!r} is not installed (not found on PATH)",
            input_schema=cli.raw_schema(spec),
            callables=[
                CallableInfo(name=name, description=recipe.description, input_schema=cli.recipe_schema(spec, recipe))
                for name, recipe in spec.recipes.items()
            ],
        )
    if isinstance(spec, HttpToolSpec):
        endpoints = [
            CallableInfo(name=name, description=endpoint.description, input_schema=endpoint.input_schema())
            for name, endpoint in spec.endpoints.items()
        ]
        return ToolInfo(**base, available=True, callables=endpoints)
    return ToolInfo(**base, available=True)


def _search_fields(info: ToolInfo) -> list[tuple[str, float]]:
    parameters = " ".join(
        name
        for schema in [info.input_schema or {}] + [c.input_schema for c in info.callables]
        for name in schema.get("properties", {})
    )
    callables = " ".join(f"{c.name} {c.description}" for c in info.callables)
    return [(info.name, 3.0), (info.description, 1.0), (" ".join(info.tags), 2.0), (callables, 1.0), (parameters, 0.5)]
