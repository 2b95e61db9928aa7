"""The benchmarks' layout: one package per capability, imports that run one way, every script's ``--help``.

``benchmarks/<group>/`` holds a group's scripts and, where they share helpers, the group's own module (such as
``speed/common.py``); ``benchmarks/common.py`` holds what every group shares. A group imports only itself and
``benchmarks.common``, and no import (at module level or inside a function) closes a cycle: a hidden cycle is how
the speed benchmark's parts and its entry point came to reach into each other. Every script runs as
``python -m benchmarks.<group>.<script>`` and says so in its usage line, the command the docs print.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.test_layering import find_cycle

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = path.relative_to(BENCHMARKS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(BENCHMARKS.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module -> the benchmark modules it imports, at module level or inside functions (``from a import b`` counts
    as importing ``a.b`` when ``b`` is a module)."""
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert not node.level, f"{path}: the benchmarks import absolutely (python -m from the repository)"
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                            for a in node.names}
        graph[name] = {t for t in targets if t in MODULES and t != name}
    return graph


def is_script(path: Path) -> bool:
    """A module with a ``main`` and an ``if __name__ == "__main__":`` block: a command."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    has_main = any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
    guarded = any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body)
    return has_main and guarded


SCRIPTS = [name for name, path in MODULES.items() if is_script(path)]


def test_the_benchmarks_have_no_import_cycle():
    graph = import_graph()
    assert "benchmarks.speed.speed_search" in graph["benchmarks.speed.bench_speed"]  # the walk found the imports
    assert "benchmarks.speed.common" in graph["benchmarks.speed.speed_search"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_group_imports_only_itself_and_the_shared_module():
    crossing = []
    for module, targets in import_graph().items():
        group = module.split(".")[1] if module.count(".") >= 2 else None
        for target in targets:
            allowed = target == "benchmarks.common" or (group is not None and target.split(".")[1] == group)
            if not allowed and target != "benchmarks":
                crossing.append(f"{module} -> {target}")
    assert crossing == [], "imports across benchmark groups (shared code belongs in benchmarks/common.py):\n" + \
        "\n".join(sorted(crossing))


def test_every_script_lives_in_a_group():
    assert len(SCRIPTS) >= 9, SCRIPTS  # the walk found them
    assert [s for s in SCRIPTS if s.count(".") != 2] == []


@pytest.mark.parametrize("module", SCRIPTS)
def test_every_script_answers_help_under_its_module_name(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out
    # argparse moves the flags to the next line after a long program name, so the name ends in any whitespace.
    assert re.match(rf"usage: python -m {re.escape(module)}\s", usage), usage[:120]


def test_files_and_functions_stay_small():
    too_long = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_FILE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == [], f"over {MAX_FILE_LINES} lines a file or {MAX_FUNCTION_LINES} a function:\n" + \
        "\n".join(too_long)
