"""Workflows: saved Python that defines ``async def run(...)`` (or ``def run``).

A workflow is ``workflows/{name}.py`` in storage (or py-code-mode's ``skills/{name}.py``):
the source exactly as written, so a workspace stays readable and editable by hand. A
description given on add lives beside it in ``.meta/{name}.json`` of its folder; without
one, the module docstring is the description. Parameters are read from ``run``'s signature with
``ast``, without running anything. Workflows run in the session (see
``worker/namespaces.py``), never in the server.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import stat
from typing import Any

import anyio
from pydantic import ConfigDict, Field, computed_field

from codemode.errors import InvalidArgument, WorkflowNotFound
from codemode.names import validate_name
from codemode.record import Record
from codemode.search.index import Document, rank
from codemode.storage.base import Storage, WorkflowLibrary, skip_entry
from codemode.storage.file import FileStorage
from codemode.workspace.quota import StorageQuota, check_description, check_room

logger = logging.getLogger(__name__)

SOURCE = "workflows"
SKILLS = "skills"
"""py-code-mode's name for the folder: read as workflows too, so its workspaces work unchanged."""
META = "workflows/.meta"
_META_OF = {SOURCE: META, SKILLS: "skills/.meta"}
"""A description lives beside its source, so adding to ``skills/`` creates no ``workflows/`` folder."""
MAX_SOURCE_CHARS = 1024 * 1024


class WorkflowParameter(Record):
    name: str = Field(description="The parameter's name.")
    annotation: str | None = Field(default=None, description="The annotation as written, e.g. 'str' or 'list[int]'.")
    required: bool = Field(description="True if it has no default.")
    default: str | None = Field(default=None, description="repr of the default, if there is one.")
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema", description="JSON schema of the value.")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class WorkflowInfo(Record):
    """A workflow without its source (what listings and searches return)."""

    model_config = ConfigDict(json_schema_mode_override="serialization")  # the output schema shows params too

    name: str = Field(description="The workflow's name: workflows.invoke(name, ...).")
    description: str = Field(description="What it does: as given when added, else its docstring.")
    is_async: bool = Field(description="True if its run() is a coroutine function.")
    parameters: list[WorkflowParameter] = Field(description="run()'s keyword parameters.")
    input_schema: dict[str, Any] = Field(description="JSON schema of run()'s keyword arguments.")
    score: float | None = Field(
        default=None,
        description=(
            "Search relevance, for search results: with the [semantic] extra, the cosine similarity to the query"
            " plus a keyword bonus (at most 0.1); without it, the BM25 score."
        ),
    )

    @computed_field(description="py-code-mode's short form of parameters: name -> annotation, or 'Any'.")  # type: ignore[prop-decorator]
    @property
    def params(self) -> dict[str, str]:
        return {parameter.name: parameter.annotation or "Any" for parameter in self.parameters}


class Workflow(WorkflowInfo):
    """A workflow with its source."""

    source: str = Field(description="Its Python source.")


class WorkflowStore:
    """Workflows of a workspace, in its storage."""

    def __init__(self, storage: Storage, quota: StorageQuota | None = None) -> None:
        self._storage = storage
        self.quota = quota or StorageQuota()
        self._writing = anyio.Lock()
        self._shadowed: set[str] = set()  # names in both folders, warned about once

    async def list(self) -> list[WorkflowInfo]:
        sources = await self._sources()
        metas = {folder: await self._storage.read_all(meta) for folder, meta in _META_OF.items()}
        infos = []
        for key in sorted(sources):
            name = key.removesuffix(".py")
            folder, source = sources[key]
            if not key.endswith(".py") or not _is_name(name):
                skip_entry(f"{self._storage.location} {folder}", key, "a workflow is a file named NAME.py")
                continue
            workflow = _describe(name, source.decode("utf-8", "replace"), metas[folder].get(f"{name}.json"))
            if workflow is None:
                skip_entry(f"{self._storage.location} {folder}", key, "does not compile or define run()")
                continue
            infos.append(WorkflowInfo(**workflow.model_dump(exclude={"source"}, by_alias=True)))
        return infos

    async def get(self, name: str) -> Workflow:
        folder, source = await self._find(name)
        workflow = _describe(name, source, await self._storage.read(_META_OF[folder], f"{name}.json"))
        if workflow is None:
            raise InvalidArgument(f"workflow {name!r} is stored but does not compile or define run(); fix or remove it")
        return workflow

    async def source(self, name: str) -> str:
        """Just the source, for running it: no parsing here, the session compiles it (and caches that)."""
        return (await self._find(name))[1]

    async def _find(self, name: str) -> tuple[str, str]:
        """The folder that holds workflow ``name`` (``workflows/`` first), and its source."""
        validate_name(name, "workflow name")
        for folder in (SOURCE,) if name.startswith("_") else (SOURCE, SKILLS):  # skills/_x.py: py-code-mode's helpers
            source = await self._storage.read(folder, f"{name}.py")
            if source is not None:
                return folder, source.decode("utf-8", "replace")
        raise WorkflowNotFound(f"no workflow named {name!r}")

    async def _sources(self) -> dict[str, tuple[str, bytes]]:
        """File name -> (folder, source), from ``workflows/`` and py-code-mode's ``skills/``; ``workflows/`` wins."""
        sources = {key: (SOURCE, source) for key, source in (await self._storage.read_all(SOURCE)).items()}
        for key, source in (await self._storage.read_all(SKILLS)).items():
            if key.startswith("_"):  # py-code-mode skips these too (__init__.py, helpers)
                continue
            if key not in sources:
                sources[key] = (SKILLS, source)
            elif key not in self._shadowed:
                self._shadowed.add(key)
                logger.warning(
                    "%s: %s/%s and %s/%s both define workflow %r; using %s/%s (remove one to silence this)",
                    self._storage.location,
                    SOURCE,
                    key,
                    SKILLS,
                    key,
                    key.removesuffix(".py"),
                    SOURCE,
                    key,
                )
        return sources

    async def search(self, query: str, limit: int = 5) -> list[WorkflowInfo]:
        infos = {info.name: info for info in await self.list()}
        documents = [
            Document(
                info.name,
                [(info.name, 3.0), (info.description, 1.0), (" ".join(p.name for p in info.parameters), 1.0)],
            )
            for info in infos.values()
        ]
        ranked = await rank(query, documents, limit)
        return [infos[key].model_copy(update={"score": score}) for key, score in ranked]

    async def add(self, name: str, source: str, description: str = "") -> WorkflowInfo:
        """Save a workflow after checking it; an invalid one never replaces a working one."""
        validate_name(name, "workflow name")
        if not isinstance(source, str) or not source.strip():
            raise InvalidArgument("workflow source must be non-empty Python text")
        if len(source) > MAX_SOURCE_CHARS:
            raise InvalidArgument(f"workflow source is {len(source):,} characters; the limit is {MAX_SOURCE_CHARS:,}")
        check_source(source)
        description = check_description(description, f"workflow {name!r}")
        meta = json.dumps({"description": description}).encode()
        async with self._writing:  # the count is checked and the workflow written as one step
            keys = [*await self._storage.keys(SOURCE), *await self._storage.keys(SKILLS)]
            check_room(
                "the workspace's workflows",
                {key.removesuffix(".py"): 0 for key in keys},
                name,
                0,
                max_bytes=None,
                max_count=self.quota.workflows_count,
                remedy="remove workflows that are no longer needed (workflows.remove(name) or remove_workflow)",
            )
            folder = SOURCE if name.startswith("_") else await self._folder_for_new()  # skills/ hides _ files
            await self._storage.write(folder, f"{name}.py", source.encode("utf-8"))
            await self._storage.write(_META_OF[folder], f"{name}.json", meta)
        workflow = _describe(name, source, meta)
        assert workflow is not None  # check_source passed
        return WorkflowInfo(**workflow.model_dump(exclude={"source"}, by_alias=True))

    async def _folder_for_new(self) -> str:
        """``skills/`` in a file workspace that has that folder and no ``workflows/`` (it stays py-code-mode's).

        Anywhere else ``workflows/``; Redis keeps its collection.
        """
        if not isinstance(self._storage, FileStorage):
            return SOURCE
        base = self._storage.base_path
        only_skills = await anyio.to_thread.run_sync(
            lambda: _is_directory(os.path.join(base, SKILLS)) and not os.path.lexists(os.path.join(base, SOURCE))
        )
        return SKILLS if only_skills else SOURCE

    async def remove(self, name: str) -> bool:
        validate_name(name, "workflow name")
        removed = False
        for folder, meta in _META_OF.items():
            removed = await self._storage.delete(folder, f"{name}.py") or removed
            await self._storage.delete(meta, f"{name}.json")
        return removed


def check_source(source: str) -> ast.Module:
    """Parse ``source``; raise ``InvalidArgument`` (with line numbers) unless it defines ``run``."""
    try:
        tree = ast.parse(source, "<workflow>")
        compile(tree, "<workflow>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise InvalidArgument(
            f"workflow source does not compile: {exc.msg} (line {exc.lineno}, column {exc.offset})"
        ) from None
    except ValueError as exc:  # null bytes
        raise InvalidArgument(f"workflow source does not compile: {exc}") from None
    if _find_run(tree) is None:
        raise InvalidArgument("workflow source must define a top-level `async def run(...)` (or `def run`)")
    return tree


def _is_directory(path: str) -> bool:
    """A real directory, not a link to one (the storage never follows links)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_name(name: str) -> bool:
    try:
        validate_name(name)
    except InvalidArgument:
        return False
    return True


def _find_run(tree: ast.Module) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    runs = [
        node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "run"
    ]
    return runs[-1] if runs else None


def _describe(name: str, source: str, meta: bytes | None) -> Workflow | None:
    try:
        tree = check_source(source)
    except InvalidArgument:
        return None
    run = _find_run(tree)
    assert run is not None
    given = _meta_description(meta)
    description = given or (ast.get_docstring(tree) or ast.get_docstring(run) or "").strip()
    parameters = _parameters(run)
    return Workflow(
        name=name,
        description=description,
        is_async=isinstance(run, ast.AsyncFunctionDef),
        parameters=parameters,
        input_schema=_input_schema(parameters),
        source=source,
    )


def _meta_description(meta: bytes | None) -> str:
    if not meta:
        return ""
    try:
        value = json.loads(meta).get("description", "")
    except (ValueError, AttributeError):
        return ""
    return str(value).strip()


def _parameters(run: ast.FunctionDef | ast.AsyncFunctionDef) -> list[WorkflowParameter]:
    args = run.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults, strict=True)) + list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    return [_parameter(arg, default) for arg, default in pairs]


def _parameter(arg: ast.arg, default: ast.expr | None) -> WorkflowParameter:
    annotation = ast.unparse(arg.annotation) if arg.annotation is not None else None
    return WorkflowParameter(
        name=arg.arg,
        annotation=annotation,
        required=default is None,
        default=ast.unparse(default) if default is not None else None,
        schema=_annotation_schema(arg.annotation, default),
    )


_SIMPLE_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "dict": "object"}


def _annotation_schema(annotation: ast.expr | None, default: ast.expr | None) -> dict[str, Any]:
    schema = _type_schema(annotation) if annotation is not None else {}
    if default is not None:
        try:
            schema["default"] = ast.literal_eval(default)
        except ValueError:
            pass  # not a literal (a call, a name): shown in `default` as text only
    return schema


def _type_schema(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.Name) and node.id in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[node.id]}
    if isinstance(node, ast.Name) and node.id == "list":
        return {"type": "array"}
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in {"list", "tuple"}:
        return {"type": "array", "items": _type_schema(node.slice)} if node.value.id == "list" else {"type": "array"}
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "dict":
        return {"type": "object"}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        options = [_type_schema(node.left), _type_schema(node.right)]
        return {"anyOf": [option for option in options if option] or [{}]}
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}
    return {}


def _input_schema(parameters: list[WorkflowParameter]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {parameter.name: parameter.schema_ for parameter in parameters},
        "required": [parameter.name for parameter in parameters if parameter.required],
    }


WorkflowLibrary.store_type = WorkflowStore  # storage.get_workflow_library() without storage importing this
