"""FastMCP's CodeMode over a proxy of an upstream stdio MCP server, for the code-mode benchmark.

Run in an environment of its own (FastMCP pins another MCP SDK):
``uv run --no-project --with 'fastmcp[code-mode]==3.4.11' python bench/fastmcp_codemode_server.py CMD ARG...``
"""

from __future__ import annotations

import os
import sys

from fastmcp.experimental.transforms.code_mode import CodeMode
from fastmcp.server import create_proxy

if __name__ == "__main__":
    command, *args = sys.argv[1:]
    # The upstream server gets this process's environment (PATH for npx, MEMORY_FILE_PATH for server-memory).
    upstream = {"command": command, "args": args, "env": dict(os.environ)}
    proxy = create_proxy({"mcpServers": {"upstream": upstream}})
    proxy.add_transform(CodeMode())
    proxy.run(show_banner=False)
