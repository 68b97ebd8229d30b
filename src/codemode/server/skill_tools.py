"""py-code-mode-mcp's skill tools: the workflow tools under the names its clients call.

py-code-mode calls workflows "skills" (``skills.invoke`` is ``workflows.invoke`` in code, and a
``skills/`` folder is read as workflows), so ``list_skills`` & co. are the very same handlers as
``list_workflows`` & co., registered a second time: same arguments, results and errors.
"""

from __future__ import annotations

import inspect

from codemode.server.toolset import ToolDef
from codemode.server.workspace_tools import WORKFLOW_TOOLS

SKILL_NAMES = {
    "list_workflows": ("list_skills", "List skills"),
    "search_workflows": ("search_skills", "Search skills"),
    "get_workflow": ("get_skill", "Get a skill"),
    "add_workflow": ("create_skill", "Create a skill"),
    "remove_workflow": ("delete_skill", "Delete a skill"),
}
"""Workflow tool → (py-code-mode's tool name, title). get_skill has no py-code-mode tool; it mirrors get_workflow."""


def _skill(tool: ToolDef) -> ToolDef:
    name, title = SKILL_NAMES[tool.tool_name]
    return ToolDef(tool.handler, title, tool.annotations, name=name, description=_description(tool))


def _description(tool: ToolDef) -> str:
    """The workflow tool's own description, after a line saying which tool this is another name for."""
    workflow_name = tool.handler.__name__
    alias = (
        f"The py-code-mode name of {workflow_name}: same arguments, same result. "
        "Skills are workflows here (in code, skills.invoke is workflows.invoke)."
    )
    return f"{alias}\n\n{inspect.cleandoc(tool.handler.__doc__ or '')}"


SKILL_TOOLS = tuple(_skill(tool) for tool in WORKFLOW_TOOLS)
