"""npm packages the tests run with npx: skipped, saying why, where Node is missing; a failure under
CODEMODE_REQUIRE_NODE=1 (CI), where nothing the product promises may be skipped."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

INSTALL_TIMEOUT = 600


def node_unavailable(reason: str) -> None:
    if os.environ.get("CODEMODE_REQUIRE_NODE") == "1":
        pytest.fail(f"CODEMODE_REQUIRE_NODE=1 but {reason}")
    pytest.skip(f"{reason} (CODEMODE_REQUIRE_NODE=1 makes this a failure)")


def npx_with(package: str, *args: str) -> str:
    """npx, once ``npx -y package *args`` ran (so the package is in npx's cache, later runs are offline)."""
    for program in ("node", "npx"):
        if shutil.which(program) is None:
            node_unavailable(f"{program} is not installed (Debian/Ubuntu: apt-get install nodejs npm)")
    found = shutil.which("npx")
    assert found is not None
    command = [found, "-y", package, *args]
    try:  # stdin closed: a stdio server exits when its input ends
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        node_unavailable(f"fetching {package} took over {INSTALL_TIMEOUT}s")
        raise
    if done.returncode != 0:
        node_unavailable(f"npx could not run {package}: {done.stderr.strip()[-500:]}")
    return found
