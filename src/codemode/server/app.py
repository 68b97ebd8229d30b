"""``create_server(settings)``: the MCPServer, its tools and resources, and the lifespan that owns the sessions.

Tools translate between MCP and :class:`~codemode.Session` / the workspace; they
hold no logic of their own. Every tool returns a pydantic model as structured
content (its schema is the tool's output schema) plus a short text for the model.
A ``CodemodeError`` becomes a tool error with its message; anything else is
logged as a bug.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.auth.settings import AuthSettings
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp_types import Icon, InputRequiredResult, ToolAnnotations
from mcp_types import Resource as MCPResource
from mcp_types import ResourceTemplate as MCPResourceTemplate
from mcp_types import Tool as MCPTool
from pydantic import AnyUrl

from codemode import __version__
from codemode.errors import CodemodeError
from codemode.images import IMAGE_SCHEME
from codemode.server.auth import StaticTokenVerifier
from codemode.server.context import AppState
from codemode.server.factory import ServerParts
from codemode.server.file_tools import FILE_SCHEME, file_resource_template, read_file_resource
from codemode.server.image_resources import image_resource_template, read_image_resource
from codemode.server.profiles import offered_tools
from codemode.server.registry import SessionRegistry
from codemode.server.settings import LOCAL_PRINCIPAL, ServerSettings
from codemode.server.toolset import add_tools, compact_schema
from codemode.workspace.workspace import Workspace

ARTIFACT_SCHEME = "artifact://"

INSTRUCTIONS = """\
A persistent Python session. run_code executes Python: variables, imports and functions persist \
between calls, the last expression's value is returned, top-level await works. Predefined in the \
code: tools (tools.<name>.<recipe>(...), tools.describe(name)), workflows (saved Python: \
workflows.<name>(...), workflows.create(name, source)), artifacts (persistent data: save, load), \
deps (deps.add("pkg")), session (its snapshots, labels, history, info). search finds tools, \
workflows and artifacts and answers with the Python to call. Do several steps in one run_code \
call, and print only what you need to see."""


class CodemodeServer(MCPServer[AppState]):
    """MCPServer plus artifacts as resources: their list changes, so it is built on every request."""

    workspace: Workspace
    _listed_tools: list[MCPTool] | None = None

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        """Docstrings become descriptions without their source indentation (the SDK keeps it verbatim)."""
        text = description if description is not None else fn.__doc__
        cleaned = inspect.cleandoc(text) if text else None
        super().add_tool(fn, name, title, cleaned, annotations, icons, meta, structured_output)

    async def list_tools(self) -> list[MCPTool]:
        """The tools with compact schemas (see ``compact_schema``), made once: they do not change."""
        if self._listed_tools is None:
            self._listed_tools = [
                tool.model_copy(
                    update={
                        "input_schema": compact_schema(tool.input_schema),
                        "output_schema": compact_schema(tool.output_schema, optional_nulls=False),
                    }
                )
                for tool in await super().list_tools()
            ]
        return self._listed_tools

    async def list_resources(self) -> list[MCPResource]:
        artifacts = [
            MCPResource(
                uri=f"{ARTIFACT_SCHEME}{info.name}",
                name=info.name,
                description=info.description or None,
                mime_type=info.mime_type,
                size=info.size,
            )
            for info in await self.workspace.artifacts.list()
        ]
        return [*await super().list_resources(), *artifacts]

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        template = MCPResourceTemplate(
            uri_template=f"{ARTIFACT_SCHEME}{{name}}", name="artifact", description="A stored artifact, by name."
        )
        return [*await super().list_resource_templates(), template, file_resource_template(), image_resource_template()]

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[AppState, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        text = str(uri)
        if text.startswith(FILE_SCHEME) and context is not None:
            return await read_file_resource(context.request_context.lifespan_context.registry, text)
        if text.startswith(IMAGE_SCHEME) and context is not None:
            return await read_image_resource(context.request_context.lifespan_context.registry, text)
        if not text.startswith(ARTIFACT_SCHEME):
            return await super().read_resource(uri, context)
        try:
            payload, info = await self.workspace.artifacts.load_raw(text.removeprefix(ARTIFACT_SCHEME))
        except CodemodeError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        content: str | bytes = payload if info.kind == "bytes" else payload.decode("utf-8", "replace")
        return [ReadResourceContents(content=content, mime_type=info.mime_type)]


def create_server(settings: ServerSettings | None = None, registry: SessionRegistry | None = None) -> MCPServer:
    """Build the MCP server for ``settings``.

    Its sessions live in ``registry`` if one is given (the caller owns and closes
    it), else in a registry that the server's lifespan opens and closes.
    """
    settings = settings or ServerSettings()
    owned = registry or ServerParts(settings).registry()

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        if registry is not None:
            yield AppState(settings=settings, registry=registry, workspace=owned.workspace)
            return
        async with owned:
            if settings.eager_start:
                owned.prestart_default(LOCAL_PRINCIPAL)
            yield AppState(settings=settings, registry=owned, workspace=owned.workspace)

    auth: dict[str, Any] = {}
    if settings.auth_tokens:
        auth = {
            "token_verifier": StaticTokenVerifier(settings.auth_tokens),
            # Static bearer tokens, not OAuth: no resource metadata is published, so the issuer is nominal.
            "auth": AuthSettings(issuer_url=f"http://{settings.host}:{settings.port}", resource_server_url=None),  # pyright: ignore[reportArgumentType]
        }
    server = CodemodeServer(
        "codemode-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
        **auth,
    )
    server.workspace = owned.workspace
    add_tools(server, offered_tools(settings))
    return server
