"""A session's directory as one tar archive: it travels with snapshots and exports.

Packing walks the directory as :mod:`codemode.session.files` does, never following a
link the code planted. Unpacking is all or nothing: the files are written into a
hidden staging directory inside the session's, checked to fit over what is there,
and only then moved into place, a rename each.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import secrets
import shutil
import stat
import tarfile
from pathlib import Path

from codemode.errors import InvalidArgument, LimitExceeded, PathNotAllowed
from codemode.session.files import DIR_FLAGS, open_root, remove_tree_at, required_parts, split_path, walk

NAME_MAX = 255
"""Bytes of one file name that file systems take (Linux's NAME_MAX)."""
MAX_PACK_DEPTH = 100
"""Directories deeper than this do not travel (each level holds a descriptor while it is packed)."""
PACK_LIMIT = 256 * 1024**2
"""Default cap of :func:`pack` archives (and of what :func:`unpack` extracts)."""

# A new file only: code may plant a FIFO (an open would wait forever) or a link under a name we are about to write.
_STAGED_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_STAGING_PREFIX = ".codemode-staging-"

logger = logging.getLogger(__name__)


def pack(root: Path, max_bytes: int = PACK_LIMIT) -> bytes:
    """A tar archive of the regular files and directories under ``root`` (links and devices skipped)."""
    buffer = io.BytesIO()
    budget = [max_bytes, max_bytes]  # what is left, and the limit (for the message)
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        fd = open_root(root)
        try:
            _pack_dir(archive, fd, "", budget)
        finally:
            os.close(fd)
    return buffer.getvalue()


def is_empty_archive(data: bytes) -> bool:
    """True if a :func:`pack` archive holds no file or directory."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        return archive.next() is None


def unpack(root: Path, data: bytes, max_bytes: int = PACK_LIMIT) -> int:
    """Put the files of a :func:`pack` archive under ``root``, all or nothing; returns the files written.

    Members that are not regular files or directories are skipped; a path that would leave ``root``,
    a size over ``max_bytes``, a damaged archive or an entry that cannot replace what is there (a file
    where a directory is) fails the whole unpack before anything is changed.
    """
    staged = stage(root, data, max_bytes)
    try:
        return staged.apply()
    finally:
        staged.discard()


class StagedFiles:
    """An archive's files, written into a staging directory inside the session's and checked to fit over what
    is there: nothing visible has changed yet. :meth:`apply` moves them into place, :meth:`discard` removes
    what is left (everything, if not applied). Blocking, both."""

    def __init__(self, root: int, name: str, files: int) -> None:
        self._root, self._name, self.files = root, name, files
        self._staging = os.open(name, DIR_FLAGS, dir_fd=root)
        fcntl.flock(self._staging, fcntl.LOCK_EX)  # in use: another unpack's sweep leaves it alone

    def apply(self) -> int:
        """Move each staged entry into place, a rename each (a file replaces a file or a link, a directory is
        merged into one); the number of files."""
        _merge(self._staging, self._root, "", apply=True)
        return self.files

    def discard(self) -> None:
        try:
            remove_tree_at(self._root, self._name)
        except OSError as exc:  # the next unpack's sweep tries again once our lock is gone
            logger.warning("could not remove the staging directory %s: %s", self._name, exc)
        finally:
            os.close(self._staging)
            os.close(self._root)

    def _fill(self, archive: tarfile.TarFile, members: list[tarfile.TarInfo]) -> None:
        for member in members:
            parts = split_path(member.name) if member.isdir() else required_parts(member.name)
            with walk(self._staging, parts if member.isdir() else parts[:-1], create=True) as parent:
                if member.isfile():
                    source = archive.extractfile(member)
                    assert source is not None
                    with os.fdopen(_new_file(parent, parts[-1], member.name), "wb") as file:
                        shutil.copyfileobj(source, file)
        _merge(self._staging, self._root, "", apply=False)  # what cannot be put in place fails now


def _new_file(dir_fd: int, name: str, shown: str) -> int:
    try:
        fd = os.open(name, _STAGED_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        raise InvalidArgument(f"{shown!r} appears twice in the session files, or was put there meanwhile") from None
    os.set_blocking(fd, True)
    return fd


def stage(root: Path, data: bytes, max_bytes: int = PACK_LIMIT) -> StagedFiles:
    """Stage the files of a :func:`pack` archive under ``root`` (see :func:`unpack`); the caller discards it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            members = _checked_members(archive.getmembers(), max_bytes)
            staged = _staging(root, sum(1 for member in members if member.isfile()))
            try:
                staged._fill(archive, members)
            except BaseException:
                staged.discard()
                raise
    except tarfile.TarError as exc:
        raise InvalidArgument(f"the session files are damaged or not a tar archive: {exc}") from None
    return staged


def _staging(root: Path, files: int) -> StagedFiles:
    fd = open_root(root)
    try:
        with os.scandir(fd) as listing:
            stale = [entry.name for entry in listing if entry.name.startswith(_STAGING_PREFIX)]
        for name in stale:  # left by a server killed mid-restore, unless another unpack holds it
            _remove_unlocked(fd, name)
        name = f"{_STAGING_PREFIX}{secrets.token_hex(8)}"
        os.mkdir(name, 0o700, dir_fd=fd)
        return StagedFiles(fd, name, files)
    except BaseException:
        os.close(fd)
        raise


def _remove_unlocked(dir_fd: int, name: str) -> None:
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        remove_tree_at(dir_fd, name)
    except BlockingIOError:
        pass  # another unpack's, in use
    except OSError as exc:
        logger.warning("could not remove the stale staging directory %s: %s", name, exc)
    finally:
        os.close(fd)


def _merge(source: int, target: int, prefix: str, apply: bool) -> None:
    """Move (``apply``), or check that they can be moved, the entries of ``source`` into ``target``."""
    with os.scandir(source) as listing:
        entries = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing)
    for name, is_dir in entries:
        shown = prefix + name
        there = _mode(target, name)
        if there is not None and (is_dir or stat.S_ISDIR(there)):
            if not (is_dir and stat.S_ISDIR(there)):
                raise _conflict(shown, is_dir, there)
            with walk(source, [name], prefix=prefix) as inner, walk(target, [name], prefix=prefix) as into:
                _merge(inner, into, f"{shown}/", apply)
        elif apply:  # nothing there, or a file or link that a file replaces (a link itself, never its target)
            os.replace(name, name, src_dir_fd=source, dst_dir_fd=target)


def _conflict(shown: str, is_dir: bool, there: int) -> Exception:
    if stat.S_ISLNK(there):
        return PathNotAllowed(f"{shown!r} is a symbolic link in the session directory, which is never followed")
    ours, theirs = ("a directory", "a file") if is_dir else ("a file", "a directory")
    return InvalidArgument(
        f"{shown!r} is {ours} in the saved files and {theirs} in the session directory: delete or rename it first"
    )


def _mode(dir_fd: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None


def check_archive(data: bytes, max_bytes: int = PACK_LIMIT) -> None:
    """``InvalidArgument`` (or ``LimitExceeded``) unless ``data`` is an archive :func:`unpack` can put back:
    checked before an archive is stored, so nothing is kept that could never be restored."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            _checked_members(archive.getmembers(), max_bytes)
    except tarfile.TarError as exc:
        raise InvalidArgument(f"the session files are damaged or not a tar archive: {exc}") from None


def _checked_members(members: list[tarfile.TarInfo], max_bytes: int) -> list[tarfile.TarInfo]:
    kept = [member for member in members if member.isfile() or member.isdir()]
    for member in kept:
        parts = split_path(member.name)
        too_long = next((part for part in parts if len(part.encode()) > NAME_MAX), None)
        if too_long is not None:
            raise InvalidArgument(
                f"the session files hold a name of {len(too_long.encode())} bytes ({too_long[:40]}...): "
                f"a file system takes at most {NAME_MAX}"
            )
        if len(parts) > MAX_PACK_DEPTH:
            raise InvalidArgument(f"the session files nest directories more than {MAX_PACK_DEPTH} deep")
    total = sum(member.size for member in kept)
    if total > max_bytes:
        raise LimitExceeded(f"the session files hold {total} bytes, over the limit of {max_bytes}")
    return kept


def _pack_dir(archive: tarfile.TarFile, fd: int, prefix: str, budget: list[int]) -> None:
    if prefix.count("/") >= MAX_PACK_DEPTH:
        raise LimitExceeded(
            f"the session directory nests directories more than {MAX_PACK_DEPTH} deep, too deep to travel "
            f"with a snapshot or an export: {prefix[:120]}..."
        )
    with os.scandir(fd) as listing:
        entries = sorted(listing, key=lambda item: item.name)
    for entry in entries:
        name = f"{prefix}{entry.name}"
        if not prefix and entry.name.startswith(_STAGING_PREFIX):
            continue  # a restore in progress, not the session's files
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                child = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
                try:
                    archive.addfile(_member(name, info, tarfile.DIRTYPE))
                    _pack_dir(archive, child, f"{name}/", budget)
                finally:
                    os.close(child)
            elif stat.S_ISREG(info.st_mode):
                _pack_file(archive, fd, entry.name, name, budget)
        except FileNotFoundError:
            continue  # deleted while we walked: not part of the archive


def _pack_file(archive: tarfile.TarFile, dir_fd: int, entry: str, name: str, budget: list[int]) -> None:
    file_fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(file_fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            return  # swapped for something else since the listing
        data = file.read(budget[0] + 1)
        budget[0] -= len(data)
        if budget[0] < 0:
            raise LimitExceeded(
                f"the session directory holds more than the limit of {budget[1]} bytes "
                "that can travel with a snapshot or an export; delete files from it"
            )
        member = _member(name, info, tarfile.REGTYPE)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))


def _member(name: str, info: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.mode = stat.S_IMODE(info.st_mode) & 0o755 | 0o600
    member.mtime = int(info.st_mtime)
    return member
