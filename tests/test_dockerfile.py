"""No Docker engine here, so test what the image runs: the same CLI, with the same arguments."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.anyio


def _instruction(name: str) -> list[str]:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith(f"{name} "):
            return json.loads(line[len(name) + 1 :])
    raise AssertionError(f"no {name} in the Dockerfile")


def test_the_image_copies_the_example_workspace_that_exists():
    text = (ROOT / "Dockerfile").read_text()
    for folder in ("tools", "workflows", "artifacts"):
        assert f"{folder} /workspace/{folder}" in text
        assert (ROOT / folder).is_dir()


async def test_the_image_command_serves_mcp(tmp_path: Path):
    entrypoint, command = _instruction("ENTRYPOINT"), _instruction("CMD")
    assert entrypoint == ["/opt/venv/bin/codemode-mcp"]
    workspace = tmp_path / "workspace"
    for folder in ("tools", "workflows", "artifacts"):
        shutil.copytree(ROOT / folder, workspace / folder)
    script = Path(sys.executable).with_name("codemode-mcp")  # the console script, as in the image's venv
    args = [str(workspace) if arg == "/workspace" else arg for arg in command]
    async with Client(StdioServerParameters(command=str(script), args=args), mode="legacy") as client:
        result = await client.call_tool("run_code", {"code": "import os\nos.getcwd()"})
        assert result.structured_content["value"] == repr(str(workspace))  # type: ignore[index]
