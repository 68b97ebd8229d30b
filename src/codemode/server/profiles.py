"""Which MCP tools a server offers: a profile, then ``--enable-tool`` / ``--disable-tool`` on top.

- ``code`` (the default): run_code and search, plus the session-handle tools over HTTP. Every
  tool definition is paid for in the agent's context on every turn, so everything else is
  reached from code (``session``, ``tools``, ``workflows``, ``artifacts``, ``deps``).
- ``py-code-mode``: py-code-mode 0.16.1's tools, names and text results, for its clients.
- ``full``: every tool, each operation of the library as an MCP tool.
"""

from __future__ import annotations

from typing import Literal

from codemode.errors import InvalidArgument
from codemode.server.discovery import DISCOVERY_TOOLS
from codemode.server.file_tools import FILE_TOOLS
from codemode.server.lifecycle_tools import LIFECYCLE_TOOLS
from codemode.server.py_code_mode_tools import PY_CODE_MODE_TOOLS, RUNTIME_DEPS_TOOL_NAMES
from codemode.server.session_tools import CODE_HANDLE_TOOLS, CODE_RUN_TOOLS, SESSION_HANDLE_TOOLS, SESSION_TOOLS
from codemode.server.settings import ServerSettings
from codemode.server.skill_tools import SKILL_TOOLS
from codemode.server.snapshot_tools import SNAPSHOT_TOOLS
from codemode.server.toolset import ToolDef
from codemode.server.workspace_tools import (
    ARTIFACT_TOOLS,
    DEPS_TOOLS,
    RUNTIME_DEPS_TOOLS,
    TOOL_TOOLS,
    WORKFLOW_TOOLS,
)

Profile = Literal["code", "py-code-mode", "full"]
PROFILES: tuple[Profile, ...] = ("code", "py-code-mode", "full")

_FULL = (
    *SESSION_TOOLS,
    *SESSION_HANDLE_TOOLS,
    *LIFECYCLE_TOOLS,
    *SNAPSHOT_TOOLS,
    *DISCOVERY_TOOLS,
    *TOOL_TOOLS,
    *WORKFLOW_TOOLS,
    *ARTIFACT_TOOLS,
    *DEPS_TOOLS,
    *RUNTIME_DEPS_TOOLS,
    *SKILL_TOOLS,
    *FILE_TOOLS,
)
_RUNTIME_DEPS = {tool.tool_name for tool in RUNTIME_DEPS_TOOLS} | RUNTIME_DEPS_TOOL_NAMES


def tool_names() -> list[str]:
    """Every tool name ``--enable-tool`` and ``--disable-tool`` accept."""
    return sorted({tool.tool_name for tool in _FULL})


def offered_tools(settings: ServerSettings) -> list[ToolDef]:
    """The tools this server offers, in the order clients list them."""
    check_tool_names(settings.enable_tools + settings.disable_tools)
    http = settings.transport == "http"
    if settings.mcp_tools == "py-code-mode":
        tools = list(PY_CODE_MODE_TOOLS)
    elif settings.mcp_tools == "code":
        tools = [*CODE_RUN_TOOLS[http], *DISCOVERY_TOOLS, *(CODE_HANDLE_TOOLS if http else ())]
    else:
        tools = list(_FULL)
    names = {tool.tool_name for tool in tools}
    tools += [tool for tool in _FULL if tool.tool_name in settings.enable_tools and tool.tool_name not in names]
    return [
        tool
        for tool in tools
        if tool.tool_name not in settings.disable_tools
        and (settings.allow_runtime_deps or tool.tool_name not in _RUNTIME_DEPS)
    ]


def check_tool_names(names: list[str]) -> None:
    known = set(tool_names())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidArgument(
            f"unknown MCP tool {', '.join(map(repr, unknown))}: the tools are {', '.join(sorted(known))}"
        )
