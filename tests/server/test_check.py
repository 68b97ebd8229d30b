"""``codemode-mcp check``: the workspace check a user's CI runs; its exit status and its JSON report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]  # the repo root doubles as the example workspace


def check(base: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "codemode", "check", "--base", str(base), *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example workspace, to break one thing in."""
    base = tmp_path / "example"
    for folder in ("tools", "workflows", "artifacts"):
        shutil.copytree(REPO / folder, base / folder)
    shutil.copy(REPO / "requirements.txt", base / "requirements.txt")
    return base


def _failed(base: Path) -> list[dict[str, object]]:
    done = check(base, "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    return [entry for entry in json.loads(done.stdout)["checks"] if not entry["ok"]]


def test_the_example_workspace_passes():
    done = check(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("no problems")


def test_bad_yaml_fails_naming_the_file(example: Path):
    (example / "tools" / "broken.yaml").write_text("name: broken\ndescription: [unclosed\n")
    (failed,) = _failed(example)
    assert (failed["kind"], failed["name"]) == ("tool", "broken.yaml")
    assert "not valid YAML" in str(failed["detail"])


def test_unknown_fields_fail(example: Path):
    (example / "tools" / "odd.yaml").write_text('name: odd\ndescription: d\ncommand: "true"\ncolour: blue\n')
    (failed,) = _failed(example)
    assert (failed["kind"], failed["name"]) == ("tool", "odd.yaml")
    assert "'colour'" in str(failed["detail"])


def test_a_missing_program_fails(example: Path):
    (example / "tools" / "ghost.yaml").write_text("name: ghost\ndescription: d\ncommand: no-such-program-xyz\n")
    (failed,) = _failed(example)
    assert (failed["kind"], failed["name"]) == ("tool", "ghost")
    assert "no-such-program-xyz" in str(failed["detail"])


def test_a_workflow_without_run_fails(example: Path):
    (example / "workflows" / "norun.py").write_text("def main():\n    return 1\n")
    (failed,) = _failed(example)
    assert (failed["kind"], failed["name"]) == ("workflow", "norun")
    assert "run" in str(failed["detail"])


def test_a_skill_that_does_not_compile_fails(example: Path):
    (example / "skills").mkdir()
    (example / "skills" / "bad.py").write_text("def run(:\n")
    (failed,) = _failed(example)
    assert (failed["kind"], failed["name"]) == ("skill", "bad")
    assert "does not compile" in str(failed["detail"])


def test_the_json_report_lists_every_check_and_the_verdict():
    done = check(REPO, "--json")
    report = json.loads(done.stdout)
    assert set(report) == {"workspace", "storage", "ok", "checks", "problems"}
    assert (report["ok"], report["problems"], report["workspace"]) == (True, 0, str(REPO))
    kinds = {(entry["kind"], entry["name"]) for entry in report["checks"]}
    assert {("tool", "curl"), ("workflow", "text_stats"), ("requirements", "requirements.txt")} <= kinds
    (session,) = [entry for entry in report["checks"] if entry["kind"] == "session"]
    assert session["ok"] and "-> (3, 2, " in session["detail"]  # tools, workflows, artifacts
    assert all(set(entry) == {"kind", "name", "ok", "detail"} for entry in report["checks"])


def test_a_missing_base_is_a_usage_error(tmp_path: Path):
    done = check(tmp_path / "nowhere")
    assert done.returncode == 2
    assert f"{tmp_path / 'nowhere'} is not a directory" in done.stderr


def test_an_mcp_server_from_a_config_that_cannot_start_fails(example: Path, tmp_path: Path):
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(json.dumps({"mcpServers": {"dead": {"command": "no-such-mcp-server-xyz"}}}))
    done = check(example, "--json", "--mcp-config", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    (failed,) = [entry for entry in json.loads(done.stdout)["checks"] if not entry["ok"]]
    assert (failed["kind"], failed["name"]) == ("tool", "dead")
    assert "cannot connect to MCP server 'dead'" in str(failed["detail"])
