"""The floor: what MCP alone costs. The SDK's MCPServer with a run_code tool that execs in-process.

No worker, no isolation, no limits. bench/mcp_stdio.py measures it beside codemode-mcp.
"""

import ast
import contextlib
import io

from mcp.server.mcpserver import MCPServer

server = MCPServer("floor")
namespace: dict = {}


@server.tool()
def run_code(code: str) -> str:
    """Run Python code in a persistent namespace; return stdout and the last value."""
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<cell>", "exec"), namespace)
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace) if last else None
    return out.getvalue() + ("" if value is None else repr(value))


if __name__ == "__main__":
    server.run()
