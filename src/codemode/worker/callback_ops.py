"""Worker operation ``install_callbacks``: make the session's host functions names in the namespace.

Standard library only (see :mod:`ops`). The host sends the callbacks' names and
descriptions before each run (a worker replaced after a crash starts without
them); when they are the ones installed already, nothing changes.
"""

from __future__ import annotations

from typing import Any


def install_callbacks(interp: Any, params: dict[str, Any]) -> bool:
    """Install ``params["callbacks"]`` (name, description, signature); True if anything changed."""
    installed = interp.predefined("callbacks").install(params["callbacks"])
    if installed is None:
        return False
    interp.predefine(installed)
    return True


HANDLERS = {"install_callbacks": install_callbacks}
