"""The library stays a library: nothing in ``cti_ir`` imports the layers built on top of it.

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
