"""The environment of every process the server starts: an allow-list, never the server's own.

The server's environment holds what only it should see: its tokens, ``REDIS_URL``,
``CODEMODE_*``, cloud credentials. What it starts gets the variables named here and
nothing else: workers :data:`WORKER_NAMES` (code runs there); programs that run on the
host, CLI tools and MCP servers over stdio, also what finds the user's directories, a
proxy and the CA certificates (:func:`host_environment`); uv also its own settings and
the package index (:func:`installer_environment`). Each adds the names it is given:
``--pass-env`` and what a tool's YAML declares.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

WORKER_NAMES = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM")
"""With every ``LC_*``: the base of every allow-list."""

_PROXIES = tuple(f"{scheme}_proxy" for scheme in ("http", "https", "ftp", "all", "no"))
HOST_NAMES = (
    *WORKER_NAMES,
    "HOME",
    "TMPDIR",
    *_PROXIES,
    *(name.upper() for name in _PROXIES),
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
"""With every ``LC_*`` and ``XDG_*``: what a program run on the host for a session gets."""

_INSTALLER_NAMES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")


def allowed_environment(names: Iterable[str], prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """The server's variables named in ``names`` or starting with ``LC_`` or one of ``prefixes``."""
    wanted = set(names)
    starts = ("LC_", *prefixes)
    return {name: value for name, value in os.environ.items() if name in wanted or name.startswith(starts)}


def host_environment(names: Iterable[str] = ()) -> dict[str, str]:
    """For a CLI tool or an MCP server: :data:`HOST_NAMES`, ``LC_*``, ``XDG_*``, and ``names``."""
    return allowed_environment((*HOST_NAMES, *names), ("XDG_",))


def installer_environment() -> dict[str, str]:
    """For uv: what a host program gets, plus ``UV_*`` and the pip index variables (the operator's settings)."""
    return allowed_environment((*HOST_NAMES, *_INSTALLER_NAMES), ("XDG_", "UV_"))
