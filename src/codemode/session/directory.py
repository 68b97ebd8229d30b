"""The session's working directory, as ``Session`` methods: commands run there, and its files.

AGB's command and file-system modules, eryx's virtual file system: ``run_command``
runs in the session's sandbox and directory; the file methods are confined to the
directory (see :mod:`codemode.session.files`).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import anyio.to_thread

from codemode.executors.base import ExecutionLimits
from codemode.session import commands
from codemode.session import files as session_files
from codemode.session.commands import CommandResult
from codemode.session.files import FileEntry
from codemode.session.setup import DEFAULT, resolve_timeout


class DirectoryMethods:
    """Commands and files of a session's directory (a mixin of ``Session``)."""

    default_timeout: float | None
    _limits: ExecutionLimits

    if TYPE_CHECKING:

        def _turn(self) -> AbstractAsyncContextManager[None]: ...  # Session's: one operation at a time

    async def run_command(
        self, command: list[str] | str, timeout: float | None = DEFAULT, cwd: str | None = None
    ) -> CommandResult:
        """Run ``command`` in the session's sandbox and directory: a list without a shell, a string by /bin/sh.

        ``timeout`` (omitted: the session's default; None: no limit) ends it and every process it started;
        ``cwd`` is a directory relative to the session directory.
        """
        limit = resolve_timeout(timeout, self.default_timeout, self._limits.max_timeout)
        async with self._turn():
            return await commands.run_command(self, command, limit, cwd)  # type: ignore[arg-type]

    async def read_file(self, path: str, binary: bool = False) -> str | bytes:
        """A file of the session directory: text if it is UTF-8 (unless ``binary``), else bytes."""
        files = await session_files.files_of(self)  # type: ignore[arg-type]
        return await anyio.to_thread.run_sync(files.read, path, binary)

    async def write_file(self, path: str, data: str | bytes) -> int:
        """Write a file of the session directory (parents created); returns its size in bytes."""
        files = await session_files.files_of(self)  # type: ignore[arg-type]
        return await anyio.to_thread.run_sync(files.write, path, data)

    async def list_files(self, path: str = ".") -> list[FileEntry]:
        """The entries of a directory of the session directory (links listed, never followed)."""
        files = await session_files.files_of(self)  # type: ignore[arg-type]
        return await anyio.to_thread.run_sync(files.list, path)

    async def delete_file(self, path: str, recursive: bool = False) -> bool:
        """Delete a file or an empty directory (any directory with ``recursive``); False if there was none."""
        files = await session_files.files_of(self)  # type: ignore[arg-type]
        return await anyio.to_thread.run_sync(files.delete, path, recursive)
