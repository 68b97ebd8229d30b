"""The package's shape: layers point down, no import cycles, the worker stands alone, modules stay small.

Imports are read with ``ast``, every kind counted: top-level, inside functions, and under
``TYPE_CHECKING`` (a type-only import still ties two modules together).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "codemode"

LAYERS = ("server", "session", "workspace", "tools", "search", "executors", "sandbox", "storage", "worker", "core")
"""Highest first: a module may import its own layer and the layers after it, never one before it."""

FACE = {"codemode", "codemode.__main__"}
"""The public face stands above every layer: it hands on names from all of them."""

WORKER_OPTIONAL = {"cloudpickle"}
"""Imported by the worker when present (the host puts it on the worker's path for snapshots), never required."""

MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
MAX_TOP_LEVEL_MODULES = 12


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """The modules of this package that ``name`` imports, each as a module name of MODULES."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # ``from package import module`` names that module; ``from module import name``, the module
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                for alias in node.names
                if (module, alias.name) != ("codemode", "__version__")  # a string; the face is where it is kept
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return parts[1]
    return "core"


def test_every_package_has_a_layer():
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert packages <= set(LAYERS), f"packages without a layer in LAYERS: {sorted(packages - set(LAYERS))}"


def test_layers_point_down():
    upward = []
    for module, imported in GRAPH.items():
        if module in FACE:
            continue
        rank = LAYERS.index(layer_of(module))
        upward += [f"{module} -> {target}" for target in imported if LAYERS.index(layer_of(target)) < rank]
    assert not upward, "imports that point up a layer:\n" + "\n".join(sorted(upward))


def test_no_module_imports_the_public_face():
    inward = [f"{module} -> codemode" for module, imported in GRAPH.items() if "codemode" in imported]
    assert not inward, "import the module that defines a name, not the package's face:\n" + "\n".join(inward)


def test_there_is_no_import_cycle():
    cycles = [sorted(component) for component in _strongly_connected(GRAPH) if len(component) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_worker_uses_the_standard_library_only():
    foreign = []
    for module, path in MODULES.items():
        if layer_of(module) != "worker":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            top = {name.split(".")[0] for name in names} - WORKER_OPTIONAL
            foreign += [f"{module} imports {name}" for name in top if name not in sys.stdlib_module_names]
    assert not foreign, "\n".join(foreign)


def test_modules_stay_small():
    large = [
        f"{module}: {lines} lines"
        for module, path in MODULES.items()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not large, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(large)


def test_functions_stay_short():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_the_top_level_holds_the_public_api_and_shared_types_only():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules at the top level: {top}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components
