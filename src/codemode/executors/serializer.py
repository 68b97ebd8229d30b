"""The snapshot serializer (cloudpickle) as workers see it: a private read-only copy.

A worker runs in the session's venv, which need not have cloudpickle, and under
bubblewrap it sees only what is bound. So the server copies its own cloudpickle
(pure Python) once into ``{state dir}/lib/cloudpickle-{version}/`` and binds that
directory read-only into every worker; a snapshot operation appends it to the
worker's ``sys.path`` for its own duration, so a cloudpickle the session's code
installed itself is found first. Without a copy the worker still starts, and
snapshot operations say why they cannot run.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from codemode.sandbox.workdir import state_root

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serializer:
    """Where workers find the serializer (a ``sys.path`` entry), or why they cannot."""

    path: Path | None
    problem: str | None = None


def install(state_dir: Path | None) -> Serializer:
    """The private copy of cloudpickle under ``state_dir``, made on first use (blocking: call in a thread)."""
    try:
        import cloudpickle
    except ImportError as exc:
        return Serializer(None, f"the server has no cloudpickle to lend its workers ({exc}); pip install cloudpickle")
    source = Path(cloudpickle.__file__).parent
    target = (state_dir or state_root()) / "lib" / f"cloudpickle-{cloudpickle.__version__}"
    if (target / "cloudpickle" / "__init__.py").is_file():
        return Serializer(target)
    try:
        _copy(source, target)
    except OSError as exc:
        logger.warning("snapshots are unavailable: cannot copy cloudpickle to %s: %s", target, exc)
        return Serializer(None, f"the serializer could not be copied to {target}: {exc}")
    return Serializer(target)


def _copy(source: Path, target: Path) -> None:
    """Copy the package's ``.py`` files into ``target/cloudpickle`` atomically (several servers may race)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    staging = target.parent / f".{target.name}-{secrets.token_hex(6)}"
    try:
        package = staging / "cloudpickle"
        package.mkdir(parents=True)
        for file in source.glob("*.py"):
            shutil.copyfile(file, package / file.name)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "cloudpickle" / "__init__.py").is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
