"""``run_command``: a command in the session's sandbox and working directory (AGB's ``command`` module).

A list runs as is, without a shell; a string runs through ``/bin/sh -c``. The
worker starts it (see ``worker/command_ops.py``), so it is confined exactly like
the session's code: same sandbox, network mode, environment and limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, Field, computed_field

from codemode.errors import InvalidArgument
from codemode.executors.base import Executor
from codemode.models import ExecutionLimits
from codemode.session.files import SessionFiles

SHELL = "/bin/sh"
_REQUEST_SLACK = 5.0  # seconds the worker gets beyond the command's timeout to kill it and report


class CommandResult(BaseModel):
    """What a command did."""

    session_id: str = Field(description="The session the command ran in.")
    command: list[str] | str = Field(description="The command as given: a list ran without a shell.")
    exit_code: int | None = Field(
        description="The exit status; negative: killed by that signal (-9 after a timeout); 127: not found."
    )
    stdout: str = Field(description="What it wrote to stdout (up to the output cap).")
    stderr: str = Field(description="What it wrote to stderr (up to the output cap).")
    duration_ms: float = Field(description="How long it ran, in milliseconds.")
    timed_out: bool = Field(description="True if the timeout ended it (and every process it started).")
    truncated: bool = Field(description="True if stdout or stderr was cut at the output cap.")

    @computed_field(description="True if it exited with status 0 in time.")  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def command_argv(command: object) -> list[str]:
    """The argv for ``command``, or ``InvalidArgument`` saying what a command may be."""
    if isinstance(command, str):
        if not command.strip():
            raise InvalidArgument("the command is empty: give a shell command line or a list of arguments")
        argv = [SHELL, "-c", command]
    elif isinstance(command, list | tuple) and command and all(isinstance(part, str) for part in command):
        argv = list(command)
        if not argv[0]:
            raise InvalidArgument("the command's first element (the program) is empty")
    else:
        raise InvalidArgument(
            f"a command is a string (run by {SHELL} -c) or a non-empty list of strings (run without a shell), "
            f"not {command!r}"
        )
    if any("\0" in part for part in argv):
        raise InvalidArgument("a command cannot contain NUL characters")
    return argv


async def run_command(
    executor: Executor,
    limits: ExecutionLimits,
    root: Path,
    command: list[str] | str,
    timeout: float | None,
    cwd: str | None,
) -> dict[str, Any]:
    """Run ``command`` in the worker whose directory is ``root``: what it did, for :class:`CommandResult`.

    The caller holds the session's run lock.
    """
    argv = command_argv(command)
    workdir = await anyio.to_thread.run_sync(SessionFiles(root, 0).directory, cwd or ".")
    params = {"argv": argv, "cwd": str(workdir), "timeout": timeout, "output_cap": limits.output_cap}
    slack = limits.interrupt_grace + _REQUEST_SLACK
    return await executor.request("run_command", params, None if timeout is None else timeout + slack)
