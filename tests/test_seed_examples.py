"""The Session examples of seeds 000 and 001 (py-code-mode's Session API docs), run as written.

Only the import lines differ (``codemode`` instead of ``py_code_mode``). The workspace
they run in is local: ``curl`` is a stand-in that answers like the GitHub API without
a network, and ``pandas`` is a tiny local wheel, so ``add_dep("pandas>=2.0")`` works offline.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import codemode
from tests.workspace.test_deps import offline_wheels

pytestmark = pytest.mark.anyio

FAKE_CURL = 'import json\nprint(json.dumps({"login": "octocat", "public_repos": 8}))\n'
CURL_TOOL = """\
name: curl
description: Make HTTP requests
command: ["{python}", "{script}"]
tags: [http]
schema:
  options:
    silent: {{type: boolean, short: s}}
  positional:
    - {{name: url, type: string, required: true}}
recipes:
  get:
    description: Simple GET request
    preset: {{silent: true}}
    params:
      url: {{}}
"""

# Seed 000's setup (its overview), with the import line changed: the later examples use `storage` and `executor`.
SETUP_000 = """\
from pathlib import Path
from codemode import Session, FileStorage
from codemode import SubprocessExecutor, SubprocessConfig

storage = FileStorage(base_path=Path("./data"))
config = SubprocessConfig(tools_path=Path("./tools"))
executor = SubprocessExecutor(config=config)
"""

SESSION = "session"
"""Examples that use a started ``session`` get one, made as the docs do: Session(storage=storage, executor=executor)."""

EXAMPLES_000: dict[str, tuple[str, str, str]] = {
    "overview": (
        "",
        "",
        """\
async with Session(storage=storage, executor=executor) as session:
    result = await session.run("tools.curl.get(url='https://api.github.com')")
""",
    ),
    "reset": (
        "Error: NameError",
        "",
        """\
async with Session(storage=storage, executor=executor) as session:
    await session.run("x = 42")
    await session.reset()
    result = await session.run("x")  # Error: x is not defined
print(f"Error: {result.error}")
""",
    ),
    "run": (
        "Repos: 8",
        SESSION,
        """\
result = await session.run('''
import json
data = tools.curl.get(url="https://api.github.com/users/octocat")
json.loads(data)["public_repos"]
''')

if result.is_ok:
    print(f"Repos: {result.value}")
else:
    print(f"Error: {result.error}")
""",
    ),
    "supports": (
        "2",
        SESSION,
        """\
code = "1 + 1"
if session.supports("timeout"):
    result = await session.run(code, timeout=30.0)
print(result.value)
""",
    ),
    "supported_capabilities": ("timeout", SESSION, "caps = session.supported_capabilities()\nprint(caps)\n"),
    "list_tools": (
        "curl: Make HTTP requests",
        SESSION,
        """\
tools = await session.list_tools()
for tool in tools:
    print(f"{tool['name']}: {tool['description']}")
""",
    ),
    "search_tools": (
        "curl",
        SESSION,
        'http_tools = await session.search_tools("make HTTP requests")\nprint(http_tools[0]["name"])\n',
    ),
    "add_skill": (
        "{'login': 'octocat', 'public_repos': 8}",
        SESSION,
        """\
await session.add_skill(
    name="fetch_json",
    source='''def run(url: str) -> dict:
    import json
    response = tools.curl.get(url=url)
    return json.loads(response)
''',
    description="Fetch and parse JSON from a URL"
)
print((await session.run("skills.invoke('fetch_json', url='https://api.github.com')")).value)
""",
    ),
    "search_skills": (
        "fetch_json",
        SESSION,
        'skills = await session.search_skills("fetch GitHub repository data")\nprint(skills[0]["name"])\n',
    ),
    "get_skill": (
        "def run(url: str) -> dict:",
        SESSION,
        """\
skill = await session.get_skill("fetch_json")
if skill:
    print(skill["source"])
""",
    ),
    "save_artifact": (
        "",
        SESSION,
        """\
await session.save_artifact(
    name="analysis_results",
    data={"repos": 42, "stars": 1000},
    description="GitHub analysis results"
)
""",
    ),
    "load_artifact": (
        "{'repos': 42, 'stars': 1000}",
        SESSION,
        'data = await session.load_artifact("analysis_results")\nprint(data)\n',
    ),
    "list_artifacts": (
        "analysis_results GitHub analysis results",
        SESSION,
        "for a in await session.list_artifacts():\n    print(a['name'], a['description'])\n",
    ),
    "add_dep": (
        "pandas installed",
        SESSION,
        """\
result = await session.add_dep("pandas>=2.0")
if result.get("installed"):
    print("pandas installed")
""",
    ),
    "sync_deps": (
        "Installed: []",
        SESSION,
        """\
# Manually sync deps (alternative to sync_deps_on_start=True)
result = await session.sync_deps()
print(f"Installed: {result['installed']}")
""",
    ),
    "remove_dep": (
        "['pandas'] True",
        SESSION,
        'result = await session.remove_dep("pandas>=2.0")\nprint(result["removed"], result["removed_from_config"])\n',
    ),
    "storage": (
        "WorkflowStore",
        SESSION,
        """\
# Access storage for advanced operations
skill_library = session.storage.get_skill_library()
print(type(skill_library).__name__)
""",
    ),
    "manual_lifecycle": (
        "2",
        "",
        """\
code = "1 + 1"
session = Session(storage=storage, executor=executor)
await session.start()
try:
    result = await session.run(code)
finally:
    await session.close()
print(result.value)
""",
    ),
}

EXAMPLES_001: dict[str, tuple[str, str]] = {
    "overview": (
        "curl",
        """\
from codemode import Session

# Simplest: auto-discovers tools/, workflows/, artifacts/, requirements.txt
async with Session.from_base("./.code-mode") as session:
    result = await session.run("tools.curl.get(url='https://api.github.com')")
    print(result.value, [t["name"] for t in await session.list_tools()])
""",
    ),
    "from_base": (
        "[{'name': 'curl'",
        """\
from codemode import Session

async with Session.from_base("./.code-mode") as session:
    result = await session.run("tools.list()")
print(result.value)
""",
    ),
    "subprocess": (
        "2.0.0",
        """\
from codemode import Session

async with Session.subprocess("~/.code-mode") as session:
    result = await session.run("import pandas; pandas.__version__")
print(result.value)
""",
    ),
    "inprocess": (
        "2",
        """\
from codemode import Session

async with Session.inprocess("~/.code-mode") as session:
    result = await session.run("1 + 1")
print(result.value)
""",
    ),
    "direct_constructor": (
        "True",
        """\
from pathlib import Path
from codemode import Session, FileStorage, SubprocessExecutor, SubprocessConfig

storage = FileStorage(base_path=Path("./data"))
config = SubprocessConfig(tools_path=Path("./tools"))
executor = SubprocessExecutor(config=config)

async with Session(storage=storage, executor=executor) as session:
    print((await session.run("1")).is_ok)
""",
    ),
    "add_workflow": (
        "fetch_json octocat",
        """\
from codemode import Session

async with Session.from_base("./.code-mode") as session:
    await session.add_workflow(
        name="fetch_json",
        source='''async def run(url: str) -> dict:
    import json
    response = tools.curl.get(url=url)
    return json.loads(response)
''',
        description="Fetch and parse JSON from a URL"
    )
    workflows = await session.search_workflows("fetch GitHub repository data")
    workflow = await session.get_workflow("fetch_json")
    if workflow:
        value = (await session.run("workflows.invoke('fetch_json', url='https://x')")).value
        print(workflows[0]["name"], value["login"])
    workflow_library = session.storage.get_workflow_library()
    assert await session.remove_workflow("fetch_json") is True
""",
    ),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The current directory of the examples, with ./tools, ./data, ./.code-mode and ~/.code-mode."""
    project, home, wheels = tmp_path / "project", tmp_path / "home", tmp_path / "wheels"
    script = tmp_path / "fake_curl.py"
    script.write_text(FAKE_CURL)
    tool = CURL_TOOL.format(python=sys.executable, script=script)
    for tools in (project / "tools", project / ".code-mode" / "tools", home / ".code-mode" / "tools"):
        tools.mkdir(parents=True)
        (tools / "curl.yaml").write_text(tool)
    (project / "data").mkdir()
    offline_wheels(wheels, monkeypatch, ("pandas", "2.0.0", "__version__ = '2.0.0'\n"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    yield project


async def _run(code: str, scope: dict[str, Any]) -> None:
    """Run ``code`` as a notebook would: top-level ``await`` allowed, nothing re-indented."""
    compiled = compile(code, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, scope)  # noqa: S307 - the seeds' examples
    if inspect.iscoroutine(result):
        await result


async def test_the_examples_of_seed_000_run_as_written(project: Path, capsys: pytest.CaptureFixture[str]):
    # In order, in one workspace, as a reader would run them: get_skill finds what add_skill saved.
    wrong = {}
    for name, (expected, needs, example) in EXAMPLES_000.items():
        scope: dict[str, Any] = {"__name__": "example"}
        await _run(SETUP_000, scope)
        if needs == SESSION:
            async with scope["Session"](storage=scope["storage"], executor=scope["executor"]) as session:
                await _run(example, {**scope, "session": session})
        else:
            await _run(example, scope)
        printed = capsys.readouterr().out
        if expected not in printed:
            wrong[name] = printed
    assert wrong == {}


@pytest.mark.parametrize("name", list(EXAMPLES_001))
async def test_the_examples_of_seed_001_run_as_written(name: str, project: Path, capsys: pytest.CaptureFixture[str]):
    expected, example = EXAMPLES_001[name]
    if name == "subprocess":  # the example imports pandas: install it first, in the venv the example will use
        async with codemode.Session.subprocess("~/.code-mode") as setup:
            await setup.add_dep("pandas")
    await _run(example, {"__name__": "example"})
    printed = capsys.readouterr().out
    assert expected in printed, printed


def test_the_examples_use_only_the_public_api():
    examples = [example for *_, example in EXAMPLES_000.values()] + [e for _, e in EXAMPLES_001.values()]
    for example in [SETUP_000, *examples]:
        for line in example.splitlines():
            if line.startswith("from codemode"):
                names = line.split(" import ")[1].split(", ")
                assert all(hasattr(codemode, name) for name in names), line
