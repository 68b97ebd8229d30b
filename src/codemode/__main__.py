"""``python -m codemode`` is ``codemode-mcp``."""

from codemode.server.cli import main

main()
