"""The MCP server: tools over a per-client :class:`~codemode.Session` registry.

``create_server`` is imported lazily: the ``mcp`` package takes most of the
server's start-up time, and the CLI starts the first worker before paying it.
"""

from typing import TYPE_CHECKING, Any

from codemode.server.settings import ServerSettings

if TYPE_CHECKING:
    from codemode.server.app import create_server

__all__ = ["ServerSettings", "create_server"]


def __getattr__(name: str) -> Any:
    if name == "create_server":
        from codemode.server.app import create_server

        return create_server
    raise AttributeError(name)
