"""FastMCP's CodeMode over a proxy of an upstream stdio MCP server, for the code-mode benchmark.

Run in an environment of its own (FastMCP pins another MCP SDK):
``uv run --isolated --with 'fastmcp[code-mode]==4.2.3' python bench/fastmcp_codemode_server.py CMD ARG...``
"""

from __future__ import annotations

import sys

from fastmcp.experimental.transforms.code_mode import CodeMode
from fastmcp.server import create_proxy

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    proxy = create_proxy({"mcpServers": {"upstream": {"command": command, "args": args}}})
    proxy.add_transform(CodeMode())
    proxy.run(show_banner=False)
