"""How a worker process is launched: confined by bubblewrap, or plainly.

This is the provisioner of the subprocess executor (in jupyter_client's sense):
given the interpreter and the worker's private directory, it says which command
to run, with which environment, and what that confines. Everything else about a
worker (the protocol, timeouts, restarts) lives in ``process.py`` and
``subprocess.py``.

Under bubblewrap a worker gets its own user, PID, IPC, UTS, cgroup and (with the
network off) network namespaces; it sees a read-only system (``/usr`` and an
allow-list of ``/etc``), the interpreter and venv read-only, a private ``/tmp``
and one read-write directory of its own, which is its cwd and ``HOME``. The
workspace, the server's files and other sessions' directories do not exist there.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from codemode.errors import SandboxError
from codemode.sandbox.egress import SOCKET_NAME, EgressLimits
from codemode.sandbox.egress_rules import parse_rule
from codemode.sandbox.environment import WORKER_NAMES, allowed_environment
from codemode.sandbox.workdir import WorkerDir

logger = logging.getLogger(__name__)

SandboxMode = Literal["auto", "bwrap", "none"]

SANDBOX_UID = 1000
"""The unprivileged uid (and gid) code runs as inside the sandbox."""

_ETC_ALLOWED = (
    "passwd",
    "group",
    "hosts",
    "hostname",
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "services",
    "protocols",
    "localtime",
    "timezone",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "alternatives",
    "mime.types",
    "os-release",
    "fonts",
)
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_PROBE_TIMEOUT = 10.0
_EGRESS_DIR = "/run/codemode"
"""Where the egress proxy's socket directory appears inside the sandbox (read-only)."""
EGRESS_PORT = 3128
"""The loopback port of the worker's relay to the egress proxy (its network namespace is its own: always free)."""


class SandboxConfig(BaseModel):
    """How workers are confined."""

    mode: SandboxMode = Field(
        default="auto", description="'bwrap' requires bubblewrap; 'auto' uses it when it works; 'none' never does."
    )
    network: bool = Field(default=True, description="False: the worker gets an empty network namespace (bwrap only).")
    pass_env: tuple[str, ...] = Field(default=(), description="Names of server environment variables workers get.")
    state_dir: Path | None = Field(default=None, description="Where workers' directories live (default: state_root()).")
    allow_hosts: tuple[str, ...] = Field(
        default=(),
        description="With the network off, NAME[:PORT] entries code may still reach through a proxy on the host "
        "(--allow-host): a name, *.suffix or IP address; without a port, 443 and 80.",
    )
    egress: EgressLimits = Field(default_factory=EgressLimits, description="Bounds of that proxy, per session.")

    @field_validator("allow_hosts")
    @classmethod
    def _parse_allow_hosts(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(parse_rule(entry)) for entry in entries))

    @model_validator(mode="after")
    def _allow_hosts_need_network_off(self) -> SandboxConfig:
        if self.allow_hosts and self.network:
            raise ValueError(
                "--allow-host (allow_hosts) needs --network off (network=False): with the network on, code reaches "
                "every host already"
            )
        if self.allow_hosts and self.mode == "none":
            raise ValueError(
                "--allow-host (allow_hosts) needs the bubblewrap sandbox: with --sandbox none the worker uses the "
                "host's network, so nothing limits where it connects"
            )
        return self


@dataclass(frozen=True)
class BwrapStatus:
    usable: bool
    reason: str
    path: str | None = None


_PROBED: list[BwrapStatus] = []


def bwrap_status() -> BwrapStatus:
    """Whether bubblewrap is installed and can create the namespaces we need (probed once; blocking)."""
    if not _PROBED:
        _PROBED.append(_probe_bwrap())
    return _PROBED[0]


def _probe_bwrap() -> BwrapStatus:
    path = shutil.which("bwrap")
    if path is None:
        return BwrapStatus(False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    true = shutil.which("true") or "/bin/true"
    argv = [path, *_namespace_args(network=False), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", true]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=_PROBE_TIMEOUT, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return BwrapStatus(False, f"bubblewrap could not be run: {exc}", path)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        return BwrapStatus(
            False,
            f"bubblewrap cannot create namespaces here ({message}); in Docker, run with "
            "--security-opt seccomp=unconfined --security-opt apparmor=unconfined (or --privileged)",
            path,
        )
    return BwrapStatus(True, "bubblewrap works", path)


def resolve_mode(config: SandboxConfig) -> Literal["bwrap", "none"]:
    """The mode that will really be used; ``SandboxError`` if bubblewrap is required and unusable."""
    if config.mode == "none":
        return "none"
    status = bwrap_status()
    if status.usable:
        return "bwrap"
    if config.mode == "bwrap":
        raise SandboxError(f"--sandbox bwrap was asked for, but {status.reason}")
    if config.allow_hosts:
        raise SandboxError(f"--allow-host needs the bubblewrap sandbox's empty network namespace, but {status.reason}")
    return "none"


_WARNED: list[bool] = []


def warn_unconfined(config: SandboxConfig) -> None:
    """Say once per process that workers run unconfined, what that means and how to change it."""
    if _WARNED:
        return
    _WARNED.append(True)
    reason = "--sandbox none" if config.mode == "none" else bwrap_status().reason
    logger.warning(
        "workers are NOT sandboxed (%s): code can read this server's files, see other sessions' processes and "
        "use the network; memory, file and CPU limits still apply. Install bubblewrap to confine them",
        reason,
    )


@dataclass
class LaunchPlan:
    """What to run to start a worker, and what that confines."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    sandboxed: bool
    network: bool


@dataclass
class Launcher:
    """Starts the workers of one executor: in ``mode``, with ``workdir`` as their directory."""

    config: SandboxConfig
    mode: Literal["bwrap", "none"]
    workdir: WorkerDir
    libraries: tuple[Path, ...] = ()
    """Host paths every worker may read (bound read-only at the same path): the snapshot serializer, node."""

    @property
    def sandboxed(self) -> bool:
        return self.mode == "bwrap"

    @property
    def network(self) -> bool:
        return self.config.network or not self.sandboxed

    def plan(self, command: list[str]) -> LaunchPlan:
        return plan_launch(command, self.workdir, self.config, self.mode, self.libraries)

    def egress_relay(self) -> dict[str, str | int] | None:
        """What the worker's relay to the egress proxy needs (``--allow-host``), or None without one."""
        if not (self.sandboxed and self.config.allow_hosts):
            return None
        return {"socket": f"{_EGRESS_DIR}/{SOCKET_NAME}", "port": EGRESS_PORT}


def plan_launch(
    command: list[str],
    workdir: WorkerDir,
    config: SandboxConfig,
    mode: Literal["bwrap", "none"],
    libraries: tuple[Path, ...] = (),
) -> LaunchPlan:
    """The command line that runs ``command`` (``python worker.py ...``) as ``config`` asks."""
    python = _canonical(Path(command[0]))
    command = [str(python), *command[1:]]
    env = worker_environment(config.pass_env, workdir, python)
    if mode == "none":
        return LaunchPlan(list(command), env, workdir.home, sandboxed=False, network=True)
    assert bwrap_status().path is not None
    readable = [*_interpreter_dirs(python), Path(command[1]).parent, *libraries]
    argv = [
        bwrap_status().path or "bwrap",
        *_namespace_args(config.network),
        *_system_binds(),
        "--bind",  # /tmp first: what is bound below may live under the host's /tmp
        str(workdir.tmp),
        "/tmp",
        *_ro_binds(readable),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",  # shared memory lives in the session's directory: on disk, within its size limit
        str(workdir.shm),
        "/dev/shm",
        "--bind",
        str(workdir.home),
        str(workdir.home),
        *(["--ro-bind", str(workdir.egress), _EGRESS_DIR] if config.allow_hosts else []),
        "--remount-ro",  # the root tmpfs that holds the mount points: nothing may be written there
        "/",
        "--remount-ro",  # nor in /dev (a tmpfs too; its device nodes still work)
        "/dev",
        "--chdir",
        str(workdir.home),
        "--hostname",
        "codemode",
        "--",
        *command,
    ]
    env |= {"TMPDIR": "/tmp", **(_proxy_environment(config.allow_hosts) if config.allow_hosts else {})}
    return LaunchPlan(argv, env, workdir.home, sandboxed=True, network=config.network)


def _proxy_environment(allow_hosts: tuple[str, ...]) -> dict[str, str]:
    """Every spelling of the proxy variables (curl reads only lower-case http_proxy), at the worker's relay.

    The sandbox's own loopback is reached directly, but for a loopback address that is listed: that one
    names a service on the host, through the proxy.
    """
    proxy = f"http://127.0.0.1:{EGRESS_PORT}"
    names = ("http_proxy", "https_proxy", "all_proxy")
    listed = {parse_rule(entry).host for entry in allow_hosts}
    local = ",".join(name for name in ("localhost", "127.0.0.1", "::1") if name not in listed)
    return {**dict.fromkeys((*names, *(name.upper() for name in names)), proxy), "no_proxy": local, "NO_PROXY": local}


def worker_environment(pass_env: tuple[str, ...], workdir: WorkerDir, python: Path) -> dict[str, str]:
    """The allow-list environment: never the server's secrets, only what code needs and what was passed."""
    env = allowed_environment((*WORKER_NAMES, *pass_env))
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"
    env["HOME"] = str(workdir.home)
    env["TMPDIR"] = str(workdir.tmp)
    env["PYTHONNOUSERSITE"] = "1"  # HOME is the session's: no user site-packages from it
    env["MPLBACKEND"] = "Agg"  # no display here: figures come back as pictures of the run (display.py)
    env.setdefault("LANG", "C.UTF-8")
    return env


def _namespace_args(network: bool) -> list[str]:
    return [
        "--unshare-all",
        "--unshare-user",
        *(["--share-net"] if network else []),
        "--disable-userns",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for directory in _SYSTEM_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += ["--ro-bind", directory, directory]
    for name in _ETC_ALLOWED:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", os.path.realpath(path), path]
    return args


def _ro_binds(paths: list[Path]) -> list[str]:
    args: list[str] = []
    for path in _outermost(paths):
        args += ["--ro-bind", str(path), str(path)]
    return args


def _outermost(paths: list[Path]) -> list[Path]:
    """Drop paths inside ``/usr`` (bound already) or inside another path of the list."""
    unique = sorted({path for path in paths if path.exists() and not path.is_relative_to("/usr")})
    kept: list[Path] = []
    for path in unique:
        if not any(path.is_relative_to(other) for other in kept):
            kept.append(path)
    return kept


def _interpreter_dirs(python: Path) -> list[Path]:
    """The venv (if ``python`` is in one) and the installation it is made from."""
    venv = python.parent.parent
    installation = Path(os.path.realpath(python)).parent.parent
    return [venv, installation] if (venv / "pyvenv.cfg").is_file() else [installation]


def _canonical(python: Path) -> Path:
    """``python`` with its venv's path resolved (session venvs are reached through a symlink per key)."""
    venv = python.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        return venv.resolve() / "bin" / python.name
    return python
