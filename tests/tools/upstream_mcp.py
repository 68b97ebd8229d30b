"""An upstream MCP server for the tests, on the official SDK: ``python upstream_mcp.py`` serves stdio,
``python upstream_mcp.py --http PORT`` streamable HTTP on 127.0.0.1:PORT/mcp.

A notebook: a tool with a hyphenated name and a hyphenated parameter, structured and
text results, JSON in a text, a picture, an error; ``whoami`` shows that a connection is kept,
``getenv`` what environment the server got, and ``$NOTEBOOK_STARTED`` names a file it writes when it starts.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from pydantic import Field

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

server = MCPServer("notebook")


def create_note(
    title: Annotated[str, Field(description="The note's title")],
    tags: Annotated[list[str] | None, Field(description="Words to find it by")] = None,
    max_items: Annotated[int, Field(alias="max-items", description="Most items the note keeps")] = 3,
) -> dict[str, Any]:
    """Create a note in the notebook with a title and tags."""
    return {"title": title, "tags": tags or [], "max_items": max_items}


server.add_tool(create_note, name="create-note")
# The SDK calls a tool with its arguments under their aliases ("max-items"), which Python
# cannot take as keywords: give the function its own names.
_tool = server._tool_manager.get_tool("create-note")  # noqa: SLF001 - the one way to a hyphenated parameter
assert _tool is not None
_tool.fn = lambda **arguments: create_note(**{key.replace("-", "_"): value for key, value in arguments.items()})


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool(structured_output=False)
def find_notes(query: str) -> str:
    """Search the notebook for notes whose title contains the query; answers JSON text."""
    return json.dumps({"query": query, "notes": [{"title": "groceries"}]})


@server.tool(structured_output=False)
def greet(name: str) -> str:
    """Say hello, as plain text."""
    return f"Hello, {name}!"


@server.tool()
def fail(message: str) -> str:
    """Always fails with the given message."""
    raise ToolError(f"the notebook refused: {message}")


@server.tool()
def chart() -> Image:
    """Draw a small chart of the notes as a PNG picture."""
    return Image(data=PNG, format="png")


@server.tool()
def whoami() -> str:
    """The server's process id (to see that the connection is kept)."""
    return str(os.getpid())


@server.tool()
def getenv(name: str) -> str:
    """A variable of the server's environment, or "unset"."""
    return os.environ.get(name, "unset")


if __name__ == "__main__":
    if os.environ.get("NOTEBOOK_STARTED"):  # a file that says the server was started, and when
        Path(os.environ["NOTEBOOK_STARTED"]).write_text(str(os.getpid()))
    if sys.argv[1:2] == ["--http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
