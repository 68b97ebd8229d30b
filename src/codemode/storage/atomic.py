"""Atomic, durable file writes: a file holds its old content or its new one, after a crash or a power loss.

The data goes to a temporary file in the same directory, is flushed to the disk
(``fsync``) and renamed over the target; then the directory is flushed, so that the
rename itself survives a power loss. One ``fsync`` of each, no more.

Everything is relative to a directory descriptor (``openat``-style): the temporary
file is created with ``O_EXCL | O_NOFOLLOW``, and a rename replaces a link itself,
never its target. The temporary file is ``flock``-ed while it is written, so a sweep
can tell a live writer's from one that a killed process left behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets

logger = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
"""Temporary files are named ``{TEMP_PREFIX}{16 hex digits}``: hidden, and never a valid key."""

_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_atomically(directory: int, name: str, data: bytes) -> None:
    """Replace ``name`` in the directory open as ``directory`` with a file holding ``data`` (mode 0600).

    ``OSError`` if it cannot (``IsADirectoryError`` if ``name`` is a directory); then ``name`` is unchanged
    and no temporary file is left.
    """
    temporary = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(temporary, _NEW_FILE_FLAGS, 0o600, dir_fd=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            fcntl.flock(fd, fcntl.LOCK_EX)  # in use: a sweep of leftovers leaves it alone
            handle.write(data)
            handle.flush()
            os.fsync(fd)  # the data is on the disk before the name points at it
            os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=directory)
        except OSError:
            pass
        raise
    try:
        os.fsync(directory)  # the rename itself
    except OSError as exc:  # written, and visible; only a power loss could still undo it
        logger.warning("the directory of %s could not be flushed to the disk: %s", name, exc.strerror)
