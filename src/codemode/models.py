"""Pydantic models shared by :class:`~codemode.Session` and the MCP server.

They are the wire shapes too: each MCP tool returns one of them as its
structured content, so its JSON schema is the tool's output schema.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    computed_field,
    field_serializer,
    model_validator,
)

from codemode.images import Image
from codemode.record import Record

_JSON_MAX_DEPTH = 64
_TYPED_ERROR = re.compile(r"(?P<type>[A-Za-z_][A-Za-z0-9_.]*): (?P<message>.*)", re.DOTALL)
_TRACEBACK_HEAD = "Traceback (most recent call last):"


class Capability(StrEnum):
    """What an executor can do. One is reported only if it really works."""

    TIMEOUT = "timeout"
    PROCESS_ISOLATION = "process_isolation"
    """Code runs in a process of its own (not in the server)."""
    CONTAINER_ISOLATION = "container_isolation"
    """Own user, PID, IPC and mount namespaces (bubblewrap): other processes and sessions are out of sight."""
    FILESYSTEM_ISOLATION = "filesystem_isolation"
    """Only the system (read-only), the venv (read-only) and the session's own directory are visible."""
    NETWORK_ISOLATION = "network_isolation"
    """An empty network namespace: no network, except the allow_hosts of NETWORK_FILTERING."""
    NETWORK_FILTERING = "network_filtering"
    """With the network off, the listed hosts (allow_hosts, --allow-host) stay reachable through the host's proxy."""
    MEMORY_LIMIT = "memory_limit"
    PROCESS_LIMIT = "process_limit"
    CPU_LIMIT = "cpu_limit"
    RESET = "reset"
    DEPS_INSTALL = "deps_install"
    DEPS_UNINSTALL = "deps_uninstall"
    """Packages can be removed: wherever they can be installed."""
    COMMANDS = "commands"
    """run_command and the session file operations: the session has a working directory of its own."""
    JAVASCRIPT = "javascript"
    """run(code, language="javascript"): Node.js is installed (a persistent context per session)."""

    @classmethod
    def all(cls) -> set[Capability]:
        """Every capability there is (py-code-mode's ``Capability.all()``); ``supports()`` says which hold."""
        return set(cls)


class ExecutionLimits(BaseModel):
    """Caps that keep one run from hurting the host. Every one has a CLI flag."""

    output_cap: int = Field(
        default=1024 * 1024, gt=0, description="Characters kept per stream (stdout, stderr) per run."
    )
    value_cap: int = Field(default=64 * 1024, gt=0, description="Characters kept of the last expression's repr().")
    traceback_cap: int = Field(default=64 * 1024, gt=0, description="Characters kept of a traceback (head and tail).")
    interrupt_grace: float = Field(
        default=2.0,
        gt=0,
        description="Seconds an interrupted run gets to stop before its worker is killed and replaced.",
    )
    start_timeout: float = Field(default=60.0, gt=0, description="Seconds a new worker gets to report ready.")
    max_frame_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="Largest message between host and worker.")
    max_timeout: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Largest timeout a run may ask for, in seconds; None = no cap, and runs may ask for no limit "
        "(the seeds' contract for the library; the server sets 600).",
    )
    memory_bytes: int | None = Field(
        default=2 * 1024**3,
        gt=0,
        description="Memory of the worker: per process, and for all of them where cgroups work.",
    )
    max_processes: int | None = Field(
        default=256, gt=0, description="Processes and threads the worker may have at once."
    )
    max_open_files: int | None = Field(default=1024, gt=0, description="Open files per worker process.")
    max_file_bytes: int | None = Field(default=1024**3, gt=0, description="Largest file a worker process may write.")
    cpu_seconds: int | None = Field(
        default=3600,
        gt=0,
        description="CPU seconds each worker process may use in its life; a hard reset starts a fresh budget.",
    )
    max_workdir_bytes: int | None = Field(
        default=1024**3, gt=0, description="Size of the session's working directory, checked after every run."
    )
    max_snapshot_bytes: int = Field(
        default=256 * 1024**2, gt=0, description="Largest snapshot of a session's variables, in bytes."
    )
    image_max_edge: int = Field(
        default=1568, ge=16, description="Longest side, in pixels, of a picture returned by a run (larger ones shrink)."
    )
    image_max_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Bytes of a picture returned by a run (larger ones shrink)."
    )
    max_transfer_bytes: int = Field(
        default=64 * 1024**2,
        gt=0,
        description="Largest file read_file / write_file move at once between the host and the session directory.",
    )


class ErrorInfo(Record):
    """An exception raised by user code, or a failure of the session around it."""

    type: str = Field(description="Exception class name, e.g. 'NameError', 'TimeoutError', 'WorkerDied'.")
    message: str = Field(description="str() of the exception.")
    traceback: str = Field(
        default="", description="Formatted traceback of the user's code, codemode's own frames removed."
    )
    line: int | None = Field(default=None, description="Line in the submitted code where the error happened, if known.")
    column: int | None = Field(default=None, description="Column, for syntax errors.")

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


def error_from_text(text: str) -> ErrorInfo:
    """py-code-mode's ``error`` string as an :class:`ErrorInfo`.

    ``"Type: message"`` gives that type; a formatted traceback gives its last line's, and is kept
    as the traceback; any other text is the message of type ``"Error"``.
    """
    is_traceback = text.startswith(_TRACEBACK_HEAD)
    last = text.rstrip().rsplit("\n", 1)[-1] if is_traceback else text
    match = _TYPED_ERROR.fullmatch(last)
    kind, message = (match["type"], match["message"]) if match else ("Error", last)
    return ErrorInfo(type=kind, message=message, traceback=text if is_traceback else "")


class ExecutionResult(Record):
    """What running one piece of code produced.

    ``value`` is the last expression's value itself when it is plain data (None, bool,
    int, float, str, bytes, and lists, tuples, dicts, sets of those, within size bounds),
    else its repr; ``value_repr`` is always the repr. ``error`` is the message
    (``"ValueError: bad input"``), ``error_info`` the structured detail.
    """

    # The output schema of run_code shows the computed fields (is_ok, error) too.
    model_config = ConfigDict(json_schema_mode_override="serialization")

    value: Any = Field(
        default=None,
        description="The last expression's value: the value itself if it is JSON data, else its repr(). "
        "None if the code ends in a statement or the value is None.",
    )
    value_repr: str | None = Field(
        default=None, description="repr() of the last expression's value, like a REPL; None if none."
    )
    stdout: str = Field(default="", description="Everything written to stdout: print, C code, child processes.")
    stderr: str = Field(default="", description="Everything written to stderr.")
    error_info: ErrorInfo | None = Field(
        default=None, description="The exception, if the code failed: type, message, traceback, line, column."
    )
    execution_count: int = Field(default=0, description="How many runs this session has done, this one included.")
    duration_ms: float = Field(default=0.0, description="Wall-clock time of the run in milliseconds.")
    truncated: bool = Field(default=False, description="True if output, value or traceback was cut at its size limit.")
    session_id: str | None = Field(default=None, description="The session the code ran in.")
    state_lost: bool = Field(
        default=False,
        description="True if the worker had to be replaced (killed after a timeout, or it died): "
        "every variable and import of the session is gone.",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What the session has to say about this run: e.g. that its worker had died since the last run.",
    )
    images: list[Image] = Field(
        default_factory=list,
        description="Pictures of the run, in order: what display()/show() showed, the last value if it is a "
        "picture (a matplotlib figure, a PIL image, anything with _repr_png_), then the figures left open. "
        "Their bytes are MCP image content; large ones are shrunk, with full_size_uri naming the original.",
    )
    _error_text: tuple[ErrorInfo, str] | None = PrivateAttr(default=None)
    """The ``error=`` text a result was built with, and the ErrorInfo made of it: ``error`` reads it back as given."""

    @model_validator(mode="wrap")
    @classmethod
    def _py_code_mode_names(cls, data: Any, handler: ModelWrapValidatorHandler[ExecutionResult]) -> ExecutionResult:
        """Take py-code-mode's ``ExecutionResult(value=, stdout=, error="...", execution_time_ms=...)``.

        The computed fields may be given (a result's own JSON comes back whole) but must agree with the
        rest; any other name is refused rather than dropped.
        """
        if not isinstance(data, dict):
            return handler(data)
        computed = {name: data[name] for name in cls.model_computed_fields if name in data}
        unknown = sorted(set(data) - set(cls.model_fields) - set(computed))
        if unknown:
            allowed = ", ".join([*cls.model_fields, *cls.model_computed_fields])
            raise ValueError(f"unknown field(s) {', '.join(unknown)} for ExecutionResult; allowed: {allowed}")
        text = computed.get("error")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"error must be a string ('Type: message') or None, not {type(text).__name__}")
        fields = {name: value for name, value in data.items() if name in cls.model_fields}
        if text is not None and fields.get("error_info") is None:
            fields["error_info"] = error_from_text(text)
        if "execution_time_ms" in computed:
            fields.setdefault("duration_ms", computed["execution_time_ms"])
        result = handler(fields)
        if text is not None and result.error_info is not None and _same_error(text, result.error_info):
            result._error_text = (result.error_info, text)
        for name, given in computed.items():
            if getattr(result, name) != given:
                raise ValueError(
                    f"{name}={given!r} contradicts the other fields, which make it {getattr(result, name)!r}"
                )
        return result

    @field_serializer("value", when_used="json")
    def _value_as_json(self, value: Any) -> Any:
        # JSON has no tuples, sets or bytes: those go out as their repr, never silently changed.
        return value if is_json_data(value) else self.value_repr

    @computed_field(description="True if the code raised nothing.")  # type: ignore[prop-decorator]
    @property
    def is_ok(self) -> bool:
        return self.error_info is None

    @computed_field(description="'Type: message' of the exception if the code failed, else null.")  # type: ignore[prop-decorator]
    @property
    def error(self) -> str | None:
        if self.error_info is None:
            return None
        given = self._error_text
        return given[1] if given is not None and given[0] is self.error_info else str(self.error_info)

    @computed_field(description="Same as duration_ms (py-code-mode's name).")  # type: ignore[prop-decorator]
    @property
    def execution_time_ms(self) -> float:
        return self.duration_ms


def _same_error(text: str, info: ErrorInfo) -> bool:
    """True if ``text`` says what ``info`` says (its str, or what error_from_text makes of it)."""
    parsed = error_from_text(text)
    return text == str(info) or (parsed.type, parsed.message) == (info.type, info.message)


def is_json_data(value: Any, depth: int = 0) -> bool:
    """True if ``value`` is JSON as it is: null, bool, int, finite float, str, lists and str-keyed dicts of those."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if depth > _JSON_MAX_DEPTH:
        return False
    if kind is list:
        return all(is_json_data(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(key) is str and is_json_data(item, depth + 1) for key, item in value.items())
    return False


class RuntimeInfo(BaseModel):
    """The interpreter that runs a session's code."""

    pid: int | None = Field(default=None, description="Process id of the worker (None for the in-process executor).")
    python_version: str
    executable: str
    prefix: str = Field(description="sys.prefix of that interpreter: the venv it runs in.")


class Confinement(BaseModel):
    """What confines a session's code: the sandbox, the network and the limits in force."""

    sandbox: str = Field(description="'bwrap' (namespaces, private file system) or 'none' (an ordinary process).")
    network: str = Field(description="'on', or 'off' (an empty network namespace).")
    cgroup: bool = Field(description="True if a cgroup bounds the worker's memory and processes as a whole.")
    syscall_filter: bool = Field(
        default=False, description="True if a seccomp filter denies system calls no session needs (bpf, mount...)."
    )
    workdir: str | None = Field(default=None, description="The session's working directory (cwd and HOME).")
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="With the network off, the hosts code may still reach through the host's proxy (--allow-host).",
    )
    limits: ExecutionLimits = Field(
        description="The resource limits of the session's worker (memory, CPU, processes, files, output)."
    )
    not_confined: list[str] = Field(default_factory=list, description="Why the sandbox is off, if it is.")


class SessionInfo(Record):
    """Facts about one session."""

    session_id: str = Field(description="The session's id: pass it as session_id to the other tools.")
    name: str | None = Field(
        default=None, description="The session's name if it is a named session (saved when it closes), else null."
    )
    created_at: datetime = Field(description="When the session was created (UTC).")
    last_used_at: datetime | None = Field(default=None, description="When a call last used the session.")
    uptime_seconds: float | None = Field(default=None, description="Seconds since the session was created.")
    execution_count: int = Field(description="Runs so far; each run's number.")
    executor: str = Field(
        description="Where code runs: 'subprocess' (a worker process) or 'inprocess' (the server's process)."
    )
    capabilities: list[Capability] = Field(
        description="What this session really supports (timeout, process_isolation, memory_limit...)."
    )
    python_version: str | None = Field(default=None, description="The worker's Python version, once it has started.")
    python_executable: str | None = Field(
        default=None, description="The worker's Python interpreter, once it has started."
    )
    venv: str | None = Field(
        default=None, description="The virtual environment the worker runs in, once it has started."
    )
    worker_pid: int | None = Field(
        default=None, description="The worker's process id as the host sees it; null before it starts."
    )
    default_timeout: float | None = Field(
        description="Seconds a run may take unless it says otherwise; None = no limit."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="The session's labels (key: value), set with open_session or set_labels."
    )
    confinement: Confinement | None = Field(
        default=None, description="The sandbox, network mode and limits in force for this session's code."
    )
    worker_rss_bytes: int | None = Field(default=None, description="Resident memory of the worker process now.")
    worker_cpu_seconds: float | None = Field(default=None, description="CPU time the worker has used so far.")
    history_length: int = Field(default=0, description="Runs kept in the session's history (get_history).")
    history_tokens: int = Field(
        default=0, description="Approximate tokens of that history: its characters / 4 (coda's get_token_count)."
    )
    notes: list[str] = Field(
        default_factory=list, description="What the session has to say: e.g. what resuming it could not restore."
    )
