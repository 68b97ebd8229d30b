"""``codemode-mcp check``: load a workspace as the server would and report every problem (for users' CI).

It lists the tools (bad YAML, unknown fields, programs not installed), compiles every
workflow and py-code-mode skill, builds the sessions' venv from the requirements with uv,
then starts a session and runs one call that reaches tools, workflows and artifacts from
the code. The exit status is 0 when nothing is wrong, 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from codemode.errors import CodemodeError
from codemode.names import validate_name
from codemode.server.arguments import parse_settings
from codemode.server.factory import ServerParts
from codemode.server.flags import build_parser
from codemode.server.settings import ServerSettings
from codemode.workspace.deps import parse_requirement
from codemode.workspace.workflows import SKILLS, SOURCE, check_source
from codemode.workspace.workspace import Workspace

Kind = Literal["tool", "workflow", "skill", "requirements", "session"]

# One call that goes through the worker and back to the host for each namespace.
SMOKE_CODE = "(len(tools.list()), len(workflows.list()), len(artifacts.list()))"


class Check(BaseModel):
    kind: Kind
    name: str = Field(description="The tool, the workflow or skill, the file, or what was checked.")
    ok: bool
    detail: str = Field(default="", description="What is wrong, or, for requirements and session, what was done.")


class CheckReport(BaseModel):
    workspace: str
    storage: str = Field(description="Where workflows, artifacts and requirements are read from.")
    ok: bool = Field(description="True when no check failed: the exit status is 0.")
    checks: list[Check]
    problems: int


async def check_workspace(settings: ServerSettings) -> CheckReport:
    """Every check of the workspace that ``settings`` describe; never raises for a problem it can report."""
    workspace = ServerParts(settings).workspace()
    async with workspace:
        checks = [*await _tools(workspace), *await _workflows(workspace), *await _requirements(workspace, settings)]
    checks.append(await _session(settings))
    problems = sum(not check.ok for check in checks)
    return CheckReport(
        workspace=str(settings.base.expanduser().resolve()),
        storage=workspace.storage.location,
        ok=problems == 0,
        checks=checks,
        problems=problems,
    )


async def _tools(workspace: Workspace) -> list[Check]:
    listing = await workspace.tools.list()
    checks = [
        Check(kind="tool", name=tool.name, ok=tool.available, detail=tool.problem or "") for tool in listing.tools
    ]
    for problem in listing.problems:  # "file: what is wrong"
        file, _, detail = problem.partition(": ")
        checks.append(Check(kind="tool", name=file, ok=False, detail=detail or problem))
    return checks


async def _workflows(workspace: Workspace) -> list[Check]:
    checks = []
    folders: tuple[tuple[str, Kind], ...] = ((SOURCE, "workflow"), (SKILLS, "skill"))
    for collection, kind in folders:
        for file, raw in sorted((await workspace.storage.read_all(collection)).items()):
            if not file.endswith(".py") or (kind == "skill" and file.startswith("_")):
                continue  # what the server does not read as a workflow either (notes, helpers, __init__.py)
            checks.append(_workflow(kind, file, raw))
    return checks


def _workflow(kind: Kind, file: str, raw: bytes) -> Check:
    name = file.removesuffix(".py")
    try:
        validate_name(name, f"{kind} name")
        check_source(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Check(kind=kind, name=name, ok=False, detail=f"{file} is not UTF-8 text")
    except CodemodeError as exc:
        return Check(kind=kind, name=name, ok=False, detail=str(exc))
    return Check(kind=kind, name=name, ok=True)


async def _requirements(workspace: Workspace, settings: ServerSettings) -> list[Check]:
    try:
        packages = await workspace.deps.list()
        for package in packages:
            parse_requirement(package)
    except CodemodeError as exc:
        return [Check(kind="requirements", name="requirements.txt", ok=False, detail=str(exc))]
    if settings.executor == "inprocess":
        return [
            Check(kind="requirements", name="requirements.txt", ok=True, detail="not installed: --executor inprocess")
        ]
    try:
        venv = await workspace.deps.environment()  # uv resolves and installs them, as for a session
    except CodemodeError as exc:
        return [Check(kind="requirements", name="requirements.txt", ok=False, detail=str(exc))]
    problem = workspace.deps.problem
    detail = problem or f"{len(packages)} package(s) installed with uv in {venv}"
    return [Check(kind="requirements", name="requirements.txt", ok=problem is None, detail=detail)]


async def _session(settings: ServerSettings) -> Check:
    factory = ServerParts(settings)
    try:
        async with factory.session(factory.workspace(), name="check") as session:
            outcome = await session.run(SMOKE_CODE)
            confinement = session.info().confinement
    except CodemodeError as exc:
        return Check(kind="session", name="run_code", ok=False, detail=f"the session did not start: {exc}")
    if not outcome.is_ok:
        return Check(kind="session", name="run_code", ok=False, detail=f"{SMOKE_CODE} failed: {outcome.error}")
    where = f", sandbox {confinement.sandbox}, network {confinement.network}" if confinement else ""
    return Check(kind="session", name="run_code", ok=True, detail=f"ran {SMOKE_CODE} -> {outcome.value_repr}{where}")


def render(report: CheckReport) -> str:
    lines = [f"workspace {report.workspace} (data in {report.storage})"]
    for check in report.checks:
        status = "ok  " if check.ok else "FAIL"
        lines.append(f"  {status} {check.kind} {check.name}" + (f": {check.detail}" if check.detail else ""))
    lines.append("no problems" if report.ok else f"{report.problems} problem(s)")
    return "\n".join(lines)


def build_check_parser() -> argparse.ArgumentParser:
    """The server's own flags (storage, tools, sandbox, deps), so CI checks the workspace its config serves."""
    parser = build_parser()
    parser.prog = "codemode-mcp check"
    parser.description = "Check a workspace as the server would load it; exit 1 on any problem (for CI)."
    parser.epilog = None
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; the exit status: 0 no problem, 1 problems, 2 bad flags (argparse)."""
    args, settings = parse_settings(build_check_parser(), argv)
    # The report says what the server would log as warnings (skipped tools, an unconfined sandbox).
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    report = anyio.run(check_workspace, settings)
    print(report.model_dump_json(indent=2) if args.json else render(report))
    return 0 if report.ok else 1
