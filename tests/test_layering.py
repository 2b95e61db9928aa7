"""The library stays a library: nothing in ``cti_ir`` imports the layers built on top of it, its capabilities
import only downwards, and no two of its modules import each other (not even inside a function).

``training``, ``data_prep``, ``app.py`` and ``benchmarks`` use ``cti_ir``; an import the other way round would make
the served library depend on code it does not ship with (and, for ``app``, on Gradio). Checked on every import
statement of every module in the package, a lazy import inside a function included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cti_ir

PACKAGE = Path(cti_ir.__file__).resolve().parent
REPO = PACKAGE.parent
UPPER_LAYERS = ("training", "data_prep", "app", "benchmarks", "tests")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a module of the package, relative ones resolved."""
    package_parts = ("cti_ir",) + path.relative_to(PACKAGE).parent.parts
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # `from ..x import y`: resolved against the module's own package
                base = package_parts[: len(package_parts) - node.level + 1]
                name = ".".join(base + ((node.module,) if node.module else ()))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def test_no_module_of_cti_ir_imports_an_upper_layer():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 10  # the walk found the package
    offending = [f"{path.relative_to(REPO)}:{line} imports {name}"
                 for path in modules for line, name in imported_modules(path)
                 if name.split(".")[0] in UPPER_LAYERS]
    assert offending == [], "cti_ir must not import the layers above it:\n" + "\n".join(offending)


def test_relative_imports_are_resolved_against_the_package():
    # The check above relies on this resolution; a wrong one would let `from ..training import x` through.
    path = PACKAGE / "data" / "fashioniq.py"
    names = {name for _, name in imported_modules(path)}
    assert "cti_ir.data.base" in names, names  # `from .base import Benchmark`


def module_name(path: Path) -> str:
    parts = ("cti_ir",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at module level or inside functions (``from a import b`` counts
    as importing ``a.b`` when ``b`` is a module)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_library_has_no_import_cycle():
    # An import hidden inside a function still makes two modules depend on each other; such cycles are how twin
    # helpers appeared (two recall functions, four file-hash helpers). Layers: model -> data -> adapt, asymmetric
    # -> index -> serve, evaluate.
    graph = import_graph()
    assert "cti_ir.serve.engine" in graph and graph["cti_ir.serve.engine"], "the walk found the package's imports"
    assert find_cycle(graph) is None, "import cycle: " + " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# From the bottom: what each capability may build on. A module imports only its own folder and lower layers, so a
# reader can learn the library bottom-up and each folder can be tested without the ones above it.
LAYERS = {"cti_ir.files": 0, "cti_ir.flags": 0, "cti_ir.model": 1, "cti_ir.data": 2, "cti_ir.adapt": 3, "cti_ir.asymmetric": 3,
          "cti_ir.index": 4, "cti_ir.serve": 5, "cti_ir.evaluate": 5}


def layer_of(module: str) -> tuple[str, int]:
    folder = ".".join(module.split(".")[:2])
    assert folder in LAYERS, f"{module}: a new top-level part of cti_ir must be given its place in LAYERS"
    return folder, LAYERS[folder]


def test_each_capability_imports_only_its_own_folder_and_the_layers_below():
    upward = []
    for module, targets in import_graph().items():
        if module == "cti_ir":  # the package's own `load()` shortcut
            continue
        folder, level = layer_of(module)
        for target in targets:
            other, other_level = layer_of(target)
            if other != folder and other_level >= level:
                upward.append(f"{module} -> {target}")
    assert upward == [], "imports that run against the layers:\n" + "\n".join(sorted(upward))
