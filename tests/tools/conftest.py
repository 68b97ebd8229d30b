"""Local servers for tool tests: nothing here reaches the internet."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

UPSTREAM = Path(__file__).parent / "upstream_mcp.py"
"""The tests' upstream MCP server (the official SDK): stdio, or streamable HTTP with --http PORT."""


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


@pytest.fixture
def upstream_url() -> Iterator[str]:
    """The upstream MCP server over streamable HTTP on a free local port: its endpoint's URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(UPSTREAM), "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the upstream MCP server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the upstream MCP server did not listen within 30s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def mcp_config(path: Path, servers: dict[str, object], key: str = "mcpServers") -> Path:
    """Write an MCP client's config file (``mcpServers``, or VS Code's ``servers``) and return its path."""
    path.write_text(json.dumps({key: servers}, indent=2))
    return path


def upstream_stdio() -> dict[str, object]:
    """An mcpServers entry that starts the upstream MCP server over stdio."""
    return {"command": sys.executable, "args": [str(UPSTREAM)]}
