"""No Docker engine here, so test what the image runs: the same CLI, with the same arguments."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import HttpServer, free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "docker-test-token-0123456789"
pytestmark = pytest.mark.anyio


def _instruction(name: str) -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        if line.startswith(f"{name} "):
            return json.loads(line[line.index("[") :])
    raise AssertionError(f"no {name} in the Dockerfile")


def test_the_image_copies_the_example_workspace_that_exists():
    text = (ROOT / "Dockerfile").read_text()
    for folder in ("tools", "workflows", "artifacts"):
        assert f"{folder} /workspace/{folder}" in text
        assert (ROOT / folder).is_dir()


def test_the_image_installs_bubblewrap_and_runs_as_a_user():
    text = (ROOT / "Dockerfile").read_text()
    assert "install -y --no-install-recommends bubblewrap" in text
    assert "\nUSER 10001\n" in text


class _ImageServer(HttpServer):
    """The image's ENTRYPOINT + CMD, with /workspace and the port made local."""

    def __init__(self, workspace: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [arg.replace("/workspace", str(workspace)) for arg in _instruction("CMD")]
        script = Path(sys.executable).with_name("codemode-mcp")  # the console script, as in the image's venv
        env = {**os.environ, "CODEMODE_AUTH_TOKEN": TOKEN}
        self.process = subprocess.Popen(
            [str(script), *command, "--port", str(self.port)], env=env, stderr=subprocess.PIPE
        )


async def test_the_image_command_serves_mcp_and_passes_its_healthcheck(tmp_path: Path):
    assert _instruction("ENTRYPOINT") == ["/opt/venv/bin/codemode-mcp"]
    workspace = tmp_path / "workspace"
    for folder in ("tools", "workflows", "artifacts"):
        shutil.copytree(ROOT / folder, workspace / folder)
    server = _ImageServer(workspace)
    try:
        await server.wait_ready()
        check = [sys.executable if arg == "/opt/venv/bin/python" else arg for arg in _instruction("HEALTHCHECK")]
        check = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}") for arg in check]
        assert subprocess.run(check, timeout=10).returncode == 0
        async with server.client(TOKEN) as client:
            result = await client.call_tool("run_code", {"code": "6 * 7"})
            assert result.structured_content["value"] == 42  # type: ignore[index]
    finally:
        await server.stop()
