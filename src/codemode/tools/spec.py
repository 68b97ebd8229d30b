"""Tool definitions: the YAML format of ``tools/*.yaml``, as pydantic models.

The format is py-code-mode's, so existing workspaces work unchanged: CLI tools
(the default ``type``) with ``schema.options``/``schema.positional`` and
``recipes``; MCP servers (``type: mcp``); and, beyond it, HTTP APIs
(``type: http``). A file that does not parse is reported with its name and the
offending field, and left out; the others load.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

_TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_ENV_NAME_TEXT = r"[A-Za-z_][A-Za-z0-9_]*"
_ENV_REFERENCE = re.compile(rf"\$\{{({_ENV_NAME_TEXT})\}}")
_ENV_NAME = re.compile(_ENV_NAME_TEXT)
ValueType = Literal["string", "integer", "number", "boolean", "array", "object"]
Approval = Annotated[
    Literal["required"] | None,
    Field(
        description="`required`: each call asks the MCP client first, and runs only if approved (beyond the seed"
        " format). On a tool, every call of it; on a recipe or endpoint, that one (and the tool's direct call)."
    ),
]


class _Spec(BaseModel):
    # Unknown fields are kept, so that loading can name them in a warning (see unknown_fields).
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _ValueSpec(_Spec):
    type: ValueType = "string"
    description: str = ""
    pattern: str | None = Field(
        default=None,
        description="A regular expression every value (each item of an array) must contain, as JSON Schema's"
        " `pattern` (beyond the seed format): `^[^@]` refuses values that start with '@'.",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class OptionSpec(_ValueSpec):
    short: str | None = Field(default=None, description="One-letter flag: `-s` instead of `--silent`.")
    flag: str | None = Field(default=None, description="The exact flag, when it is not `--<name>` (e.g. `-X`).")

    @field_validator("short")
    @classmethod
    def _one_letter(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]", value):
            raise ValueError("must be a single letter or digit")
        return value


class PositionalSpec(_ValueSpec):
    name: str
    required: bool = False


class StdinSpec(_Spec):
    name: str = "input"
    description: str = "Text written to the command's standard input."


class CliSchema(_Spec):
    options: dict[str, OptionSpec] = Field(default_factory=dict)
    positional: list[PositionalSpec] = Field(default_factory=list)
    stdin: StdinSpec | None = Field(
        default=None, description="An argument whose text is fed to stdin (beyond the seed format)."
    )


class RecipeParam(_Spec):
    description: str = ""
    default: Any = None
    has_default: bool = Field(default=False, exclude=True)


class RecipeSpec(_Spec):
    description: str = ""
    preset: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, RecipeParam] = Field(default_factory=dict)
    approval: Approval = None

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any) -> Any:
        # `url: {}` and a bare `url:` both mean "exposed, no default".
        if isinstance(value, dict):
            return {key: _recipe_param(item) for key, item in value.items()}
        return value


def _recipe_param(item: Any) -> dict[str, Any]:
    if item is None:
        return {}
    if isinstance(item, dict):
        return {**item, "has_default": "default" in item}
    return {"default": item, "has_default": True}


class _ToolSpec(_Spec):
    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    approval: Approval = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TOOL_NAME.fullmatch(value):
            raise ValueError(
                "must be letters, digits, '_' and '-', starting with a letter or '_', at most 64 characters"
                " (code reaches 'my-tool' as tools['my-tool'] or tools.my_tool)"
            )
        return value


class CliToolSpec(_ToolSpec):
    type: Literal["cli"] = "cli"
    command: str | list[str] | None = Field(default=None, description="The executable (and fixed arguments).")
    timeout: float = Field(default=60.0, gt=0)
    schema_: CliSchema = Field(default_factory=CliSchema, alias="schema")
    recipes: dict[str, RecipeSpec] = Field(default_factory=dict)
    env: list[str] = Field(
        default_factory=list,
        description="Names of server environment variables the command gets, beyond the allow-list"
        " (beyond the seed format); the rest of the server's environment it never sees.",
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: list[str]) -> list[str]:
        return _check_env_names(value)

    def argv0(self) -> list[str]:
        if self.command is None:
            return [self.name]
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)


class McpToolSpec(_ToolSpec):
    type: Literal["mcp"]
    transport: Literal["stdio", "streamable_http", "sse"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | list[str] = Field(
        default_factory=dict,
        description="Stdio servers: variables to set (`${VAR}` reads the server's), or a list of names of"
        " server variables passed through; beyond these and the allow-list, the server's environment is not seen.",
    )
    cwd: str | None = Field(default=None, description="Stdio servers: the working directory (default: the workspace).")
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=60.0, gt=0, description="Seconds to connect, and per call to the server's tools.")

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str] | list[str]) -> dict[str, str] | list[str]:
        _check_env_names(list(value))
        return value

    def passed_env(self) -> tuple[list[str], dict[str, str]]:
        """The names of server variables passed through, and the variables set (``${VAR}`` expanded)."""
        if isinstance(self.env, list):
            return self.env, {}
        return [], {key: expand_env(value) for key, value in self.env.items()}

    @model_validator(mode="after")
    def _endpoint(self) -> McpToolSpec:
        if self.transport == "stdio" and not self.command:
            raise ValueError("an MCP tool with transport 'stdio' needs a 'command'")
        if self.transport != "stdio" and not self.url:
            raise ValueError(f"an MCP tool with transport {self.transport!r} needs a 'url'")
        return self


class HttpParam(_Spec):
    type: ValueType = "string"
    in_: Literal["path", "query", "body", "header"] = Field(default="query", alias="in")
    required: bool = False
    default: Any = None
    description: str = ""


class HttpEndpoint(_Spec):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    path: str = "/"
    description: str = ""
    params: dict[str, HttpParam] = Field(default_factory=dict)
    approval: Approval = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def input_schema(self) -> dict[str, Any]:
        """JSON schema of the endpoint's arguments."""
        properties = {}
        for name, param in self.params.items():
            entry: dict[str, Any] = {"type": param.type}
            if param.description:
                entry["description"] = param.description
            if param.default is not None:
                entry["default"] = param.default
            properties[name] = entry
        required = [name for name, param in self.params.items() if param.required]
        return {"type": "object", "properties": properties, "required": required}

    @model_validator(mode="after")
    def _path_params(self) -> HttpEndpoint:
        # `{owner}` in the path is a required path parameter, declared or not.
        for name in re.findall(r"{([A-Za-z_][A-Za-z0-9_]*)}", self.path):
            declared = self.params.get(name)
            if declared is None:
                self.params[name] = HttpParam.model_validate({"in": "path", "required": True})
            elif declared.in_ != "path":
                raise ValueError(f"parameter {name!r} appears in the path, so its 'in' must be 'path'")
        return self


class HttpToolSpec(_ToolSpec):
    type: Literal["http"]
    base_url: str
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request; ${VAR} reads env.")
    timeout: float = Field(default=30.0, gt=0)
    endpoints: dict[str, HttpEndpoint] = Field(min_length=1)


ToolSpec = Annotated[CliToolSpec | McpToolSpec | HttpToolSpec, Field(discriminator="type")]
_SPEC = TypeAdapter(ToolSpec)


class LoadedSpec(BaseModel):
    """A parsed file, or why it could not be parsed."""

    file: str
    spec: CliToolSpec | McpToolSpec | HttpToolSpec | None = None
    problem: str | None = None
    warning: str | None = Field(default=None, description="Loaded, but with fields that mean nothing here.")
    digest: str


def parse_tool_file(file: str, raw: bytes) -> LoadedSpec:
    """Parse one YAML file; the problem, if any, names the file and the field."""
    import yaml  # only when there are tools to read: it costs start-up time

    digest = hashlib.sha256(raw).hexdigest()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        return LoadedSpec(file=file, digest=digest, problem=f"{file}: not valid YAML: {_one_line(exc)}")
    if not isinstance(data, dict):
        return LoadedSpec(file=file, digest=digest, problem=f"{file}: expected a mapping with 'name' and 'description'")
    data.setdefault("type", "cli")
    if data["type"] not in {"cli", "mcp", "http"}:
        problem = f"{file}: field 'type': unknown tool type {data['type']!r}; use 'cli', 'mcp' or 'http'"
        return LoadedSpec(file=file, digest=digest, problem=problem)
    try:
        spec = _SPEC.validate_python(data)
    except ValidationError as exc:
        return LoadedSpec(file=file, digest=digest, problem=f"{file}: {_first_error(exc)}")
    except ValueError as exc:
        return LoadedSpec(file=file, digest=digest, problem=f"{file}: {exc}")
    unknown = unknown_fields(spec)
    warning = f"{file}: unknown field(s) {', '.join(map(repr, unknown))} ignored" if unknown else None
    return LoadedSpec(file=file, digest=digest, spec=spec, warning=warning)


def unknown_fields(model: BaseModel, path: str = "") -> list[str]:
    """Dotted paths of the fields in ``model`` (and the specs inside it) that the format does not define."""
    found = [f"{path}{key}" for key in model.model_extra or {}]
    for name, field in type(model).model_fields.items():
        label = f"{path}{field.alias or name}."
        value = getattr(model, name)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
        if isinstance(value, BaseModel):
            found += unknown_fields(value, label)
        elif items is not None:
            found += [
                f for key, item in items if isinstance(item, BaseModel) for f in unknown_fields(item, f"{label}{key}.")
            ]
    return found


def _first_error(exc: ValidationError) -> str:
    details = []
    for error in exc.errors()[:3]:
        location = ".".join(str(part) for part in error["loc"][1:] if part not in {"cli", "mcp", "http"})
        details.append(f"field '{location or '?'}': {error['msg']}")
    return "; ".join(details)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_env_names(names: list[str]) -> list[str]:
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not an environment variable name: letters, digits and '_', not starting with a digit"
            )
    return names


def expand_env(text: str) -> str:
    """``${NAME}`` becomes the environment variable NAME (empty if unset)."""
    return _ENV_REFERENCE.sub(lambda match: os.environ.get(match.group(1), ""), text)


__all__ = [
    "CliToolSpec",
    "HttpToolSpec",
    "LoadedSpec",
    "McpToolSpec",
    "ToolSpec",
    "expand_env",
    "parse_tool_file",
]
