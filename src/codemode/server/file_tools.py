"""MCP tools over the session's working directory: run_command, read/write/list/delete_file, file resources."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Literal

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp_types import CallToolResult, ToolAnnotations
from mcp_types import ResourceTemplate as MCPResourceTemplate
from pydantic import BaseModel, Field

from codemode.encoding import from_base64, to_base64
from codemode.errors import CodemodeError
from codemode.server.context import SessionId, principal, result, session, tool_errors
from codemode.server.registry import SessionRegistry
from codemode.server.toolset import DESTROY, READ, ToolDef
from codemode.session.commands import CommandResult
from codemode.session.files import FileEntry

FILE_SCHEME = "session-file://"

Encoding = Literal["utf-8", "base64"]
FilePath = Annotated[str, Field(description="A path relative to your session directory (no '..', no links).")]


class FileContent(BaseModel):
    session_id: str = Field(description="The session whose file this is.")
    path: str = Field(description="The path, relative to the session directory.")
    encoding: Encoding = Field(description="'utf-8': content is the text; 'base64': content is the bytes, encoded.")
    content: str = Field(description="The file's content (see encoding).")
    size: int = Field(description="Bytes in the file.")


class FileWritten(BaseModel):
    session_id: str = Field(description="The session whose file was written.")
    path: str = Field(description="The path, relative to the session directory.")
    size: int = Field(description="Bytes written.")


class FileList(BaseModel):
    session_id: str = Field(description="The session whose directory this is.")
    path: str = Field(description="The directory listed, relative to the session directory.")
    entries: list[FileEntry] = Field(description="What the directory holds, by name.")


class FileDeleted(BaseModel):
    session_id: str = Field(description="The session whose file was deleted.")
    path: str = Field(description="The path, relative to the session directory.")
    deleted: bool = Field(description="False if there was nothing at that path.")


def file_resource_template() -> MCPResourceTemplate:
    return MCPResourceTemplate(
        uri_template=f"{FILE_SCHEME}{{session_id}}/{{path}}",
        name="session-file",
        description="A file of one of your sessions' directories (session_id from open_session or session_info).",
    )


async def read_file_resource(registry: SessionRegistry, uri: str) -> list[ReadResourceContents]:
    """The contents of ``session-file://{session_id}/{path}``: only the caller's own sessions."""
    session_id, _, path = uri.removeprefix(FILE_SCHEME).partition("/")
    try:
        current = await registry.resolve(principal(), session_id or None)
        data = await current.read_file(path)
    except CodemodeError as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    mime_type = mimetypes.guess_type(path)[0]
    if isinstance(data, str):
        return [ReadResourceContents(content=data, mime_type=mime_type or "text/plain")]
    return [ReadResourceContents(content=data, mime_type=mime_type or "application/octet-stream")]


def _decoded(data: str, encoding: str) -> str | bytes:
    if encoding == "utf-8":
        return data
    return from_base64(data, "data is not valid base64 (encoding='base64')")


@tool_errors
async def run_command(
    command: Annotated[
        list[str] | str,
        Field(description="A list of arguments (run without a shell), or a string (run by /bin/sh -c)."),
    ],
    ctx: Context,
    timeout: Annotated[
        float | None,
        Field(gt=0, description="Seconds before the command and everything it started are killed."),
    ] = None,
    cwd: Annotated[str | None, Field(description="Directory relative to your session directory.")] = None,
    session_id: SessionId = None,
) -> Annotated[CallToolResult, CommandResult]:
    """Run a command in your session's sandbox, in its working directory (where run_code's files are).

    Returns exit_code, stdout, stderr, duration_ms; timed_out when the timeout killed it.
    """
    current = await session(ctx, session_id)
    ran = await (
        current.run_command(command, cwd=cwd) if timeout is None else current.run_command(command, timeout, cwd)
    )
    return result(ran)


@tool_errors
async def read_file(
    path: FilePath,
    ctx: Context,
    binary: Annotated[bool, Field(description="True: always return base64 bytes.")] = False,
    session_id: SessionId = None,
) -> Annotated[CallToolResult, FileContent]:
    """Read a file of your session directory: text if it is UTF-8, else base64."""
    current = await session(ctx, session_id)
    data = await current.read_file(path, binary)
    if isinstance(data, str):
        content = FileContent(
            session_id=current.session_id, path=path, encoding="utf-8", content=data, size=len(data.encode())
        )
    else:
        content = FileContent(
            session_id=current.session_id, path=path, encoding="base64", content=to_base64(data), size=len(data)
        )
    return result(content)


@tool_errors
async def write_file(
    path: FilePath,
    data: Annotated[str, Field(description="The content: text, or base64 with encoding='base64'.")],
    ctx: Context,
    encoding: Annotated[Encoding, Field(description="How data is given.")] = "utf-8",
    session_id: SessionId = None,
) -> Annotated[CallToolResult, FileWritten]:
    """Write a file of your session directory (parent directories are created); code sees it at once."""
    current = await session(ctx, session_id)
    size = await current.write_file(path, _decoded(data, encoding))
    return result(FileWritten(session_id=current.session_id, path=path, size=size))


@tool_errors
async def list_files(
    ctx: Context,
    path: Annotated[str, Field(description="A directory relative to your session directory.")] = ".",
    session_id: SessionId = None,
) -> Annotated[CallToolResult, FileList]:
    """List a directory of your session directory: name, path, type, size, modified_at."""
    current = await session(ctx, session_id)
    entries = await current.list_files(path)
    return result(FileList(session_id=current.session_id, path=path, entries=entries))


@tool_errors
async def delete_file(
    path: FilePath,
    ctx: Context,
    recursive: Annotated[bool, Field(description="True: delete a directory and all it holds.")] = False,
    session_id: SessionId = None,
) -> Annotated[CallToolResult, FileDeleted]:
    """Delete a file or an empty directory of your session directory (any directory with recursive)."""
    current = await session(ctx, session_id)
    deleted = await current.delete_file(path, recursive)
    return result(FileDeleted(session_id=current.session_id, path=path, deleted=deleted))


FILE_TOOLS = (
    ToolDef(
        run_command,
        title="Run a command",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
    ),
    ToolDef(read_file, title="Read a file", annotations=READ),
    ToolDef(write_file, title="Write a file", annotations=DESTROY),
    ToolDef(list_files, title="List files", annotations=READ),
    ToolDef(delete_file, title="Delete a file", annotations=DESTROY),
)
