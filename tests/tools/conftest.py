"""Local servers for tool tests: nothing here reaches the internet."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest


class _Api(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.startswith("/repos/"):
            self._reply(
                200, {"path": url.path, "query": parse_qs(url.query), "auth": self.headers.get("Authorization")}
            )
        elif url.path == "/text":
            self._reply(200, "plain text", "text/plain")
        else:
            self._reply(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._reply(201, {"received": json.loads(self.rfile.read(length) or b"null")})


@pytest.fixture
def api_url() -> Iterator[str]:
    """A small JSON API on a free local port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


MCP_SERVER = '''
import os
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("tiny")

@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b

@server.tool()
def whoami() -> str:
    """The server's process id (to see that the connection is kept)."""
    return str(os.getpid())

@server.tool()
def fail(message: str) -> str:
    """Always fails."""
    raise ToolError(message)

server.run()
'''
