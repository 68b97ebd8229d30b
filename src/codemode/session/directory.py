"""A session's working directory, as one part of the session: its files, the commands run there, its archive.

AGB's command and file-system modules, eryx's virtual file system. The directory
is the worker's (so it exists once the session started); every path is confined to
it (see :mod:`codemode.session.files`), and commands run in the session's sandbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread

from codemode.errors import Unavailable
from codemode.executors._results import from_worker
from codemode.executors.base import Executor
from codemode.models import ExecutionLimits
from codemode.session import archive, commands
from codemode.session.archive import PACK_LIMIT, StagedFiles
from codemode.session.commands import CommandResult
from codemode.session.files import FileEntry, SessionFiles


class SessionDirectory:
    """The directory of one session's worker; ``start`` starts the session (and so its worker) when needed."""

    def __init__(self, executor: Executor, limits: ExecutionLimits, start: Callable[[], Awaitable[None]]) -> None:
        self._executor = executor
        self._limits = limits
        self._start = start

    async def path(self) -> Path:
        """The directory (the session is started first); ``Unavailable`` if the executor has none."""
        await self._start()
        workdir = self._executor.confinement.workdir
        if workdir is None:
            raise Unavailable(
                f"the {self._executor.name} executor runs code inside the server and has no session directory, "
                "so files and commands are not available; use the subprocess executor"
            )
        return Path(workdir)

    async def _files(self) -> SessionFiles:
        return SessionFiles(await self.path(), self._limits.max_transfer_bytes)

    async def read(self, path: str, binary: bool = False) -> str | bytes:
        files = await self._files()
        return await anyio.to_thread.run_sync(files.read, path, binary)

    async def write(self, path: str, data: str | bytes) -> int:
        files = await self._files()
        return await anyio.to_thread.run_sync(files.write, path, data)

    async def list(self, path: str = ".") -> list[FileEntry]:
        files = await self._files()
        return await anyio.to_thread.run_sync(files.list, path)

    async def delete(self, path: str, recursive: bool = False) -> bool:
        files = await self._files()
        return await anyio.to_thread.run_sync(files.delete, path, recursive)

    async def run(
        self, session_id: str, command: list[str] | str, timeout: float | None, cwd: str | None
    ) -> CommandResult:
        """Run ``command`` here, in the session's sandbox; the caller holds the session's run lock."""
        outcome = await commands.run_command(self._executor, self._limits, await self.path(), command, timeout, cwd)
        return from_worker("command result", lambda: CommandResult(session_id=session_id, command=command, **outcome))

    async def pack(self, max_bytes: int = PACK_LIMIT) -> bytes:
        """The directory as a tar archive, for snapshots and exports (``LimitExceeded`` past ``max_bytes``)."""
        return await anyio.to_thread.run_sync(archive.pack, await self.path(), max_bytes)

    async def unpack(self, data: bytes, max_bytes: int = PACK_LIMIT) -> int:
        """Put the files of a :meth:`pack` archive here (existing files are replaced); the number of files."""
        return await anyio.to_thread.run_sync(archive.unpack, await self.path(), data, max_bytes)

    @asynccontextmanager
    async def staged(self, data: bytes | None, max_bytes: int) -> AsyncIterator[StagedFiles | None]:
        """The files of ``data`` staged here (None without ``data``), for the block to apply once the rest of
        its change succeeded; what it did not apply is removed at the end."""
        if data is None:
            yield None
            return
        staged = await anyio.to_thread.run_sync(archive.stage, await self.path(), data, max_bytes)
        try:
            yield staged
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(staged.discard)
