"""Every command, import, path and link the documentation shows still works.

The Markdown pages (README.md, CONTRIBUTING.md, docs/, benchmarks/README.md, the model configs' README) are read
for:

- commands of this project: ``python -m MODULE ...``, ``torchrun ... -m MODULE ...`` and ``python SCRIPT.py ...``
  in shell code blocks and inline code, where MODULE is one of ours (``cti_ir``, ``training``, ``data_prep``,
  ``benchmarks``) or SCRIPT a file of the repository. Other people's tools (``git clone``, ``pip``, ``curl``,
  ``python -m pytest``, ``python3 -m venv``) are left alone. For each distinct command (a module, plus its
  sub-command such as ``cti_ir.index build``) ``--help`` is run in this process with :mod:`runpy`, as
  ``python -m`` would run it, and must exit with status 0; every ``--flag`` any page passes to it must appear in
  that help, so a renamed or removed flag is caught too. A documented module that does not exist fails here.
- Python snippets (```` ```python ```` blocks): every import resolves.
- inline references to the code: a backticked dotted name (``cti_ir.serve.engine.SearchEngine``) resolves, and a
  backticked path of the repository (``cti_ir/model/composers.py``) exists.
- relative links between the pages: the file exists, and a ``#fragment`` names one of its headings.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
import runpy
import shlex
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("cti_ir", "training", "data_prep", "benchmarks")
PATH_ROOTS = OUR_PACKAGES + ("tests", "docs", ".ci", "demo_model")
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def doc_pages() -> list[Path]:
    pages = [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "benchmarks" / "README.md",
             REPO / "cti_ir" / "model" / "configs" / "README.md"]
    pages += sorted((REPO / "docs").rglob("*.md"))
    return [p for p in pages if p.exists()]


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@dataclass
class Page:
    path: Path
    shell: list[str] = field(default_factory=list)    # shell code blocks, one string each
    python: list[str] = field(default_factory=list)   # python code blocks
    inline: list[str] = field(default_factory=list)   # inline code spans outside the blocks
    prose: str = ""                                   # the text outside the blocks


def read_page(path: Path) -> Page:
    text = path.read_text(encoding="utf-8")
    page = Page(path)
    for m in FENCE.finditer(text):
        language = m.group(1).strip().split(" ")[0].lower()
        if language in SHELL_LANGUAGES:
            page.shell.append(m.group(2))
        elif language == "python":
            page.python.append(m.group(2))
    page.prose = FENCE.sub("", text)
    # an inline span may wrap onto the next line; it never crosses a blank line
    for paragraph in re.split(r"\n\s*\n", page.prose):
        page.inline += [" ".join(span.split()) for span in INLINE_CODE.findall(paragraph)]
    return page


PAGES = [read_page(p) for p in doc_pages()]


# ---------------------------------------------------------------------------------------------------- commands

@dataclass(frozen=True)
class Command:
    target: str             # "module" or "script.py"
    is_script: bool
    args: tuple[str, ...]   # what follows the module / script


def shell_commands(block: str) -> list[str]:
    """The simple commands of a shell block: continuations joined, comments dropped, split at && ; and pipes."""
    joined = re.sub(r"\\\n", " ", block)
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)  # a comment (a '#' inside a word such as a URL fragment stays)
        commands += [c.strip() for c in re.split(r"&&|;|\s\|\s", line) if c.strip()]
    return commands


def split_words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote in prose-like text
        return command.split()


def parse_command(command: str) -> Command | None:
    """The project command in one simple shell command, or None for other people's tools."""
    words = split_words(command)
    for i, word in enumerate(words):
        name = word.rsplit("/", 1)[-1]
        if name in ("python", "python3", "torchrun"):
            rest = words[i + 1:]
            if "-m" in rest:
                j = rest.index("-m")  # torchrun's own flags come before it
                module = rest[j + 1] if j + 1 < len(rest) else ""
                if re.fullmatch(r"[A-Za-z_][\w.]*", module) and module.split(".")[0] in OUR_PACKAGES:
                    return Command(module, False, tuple(rest[j + 2:]))
                return None  # python -m pytest, python3 -m venv: other people's tools; <placeholders>
            if name in ("python", "python3") and rest and rest[0].endswith(".py"):
                script = rest[0]
                if (REPO / script).resolve().is_relative_to(REPO) and not script.startswith("/"):
                    return Command(script, True, tuple(rest[1:]))
            return None
    return None


def documented_commands() -> dict[Command, list[str]]:
    """Every project command of the pages -> where it is written."""
    found: dict[Command, list[str]] = {}
    for page in PAGES:
        texts = page.shell + [span for span in page.inline if re.match(r"(torchrun|\S*python3?)\s", span)]
        for text in texts:
            for command in shell_commands(text):
                parsed = parse_command(command)
                if parsed is not None:
                    found.setdefault(parsed, []).append(rel(page.path))
    return found


COMMANDS = documented_commands()


# Flags whose values are another program's command line (argparse.REMAINDER): what follows is not checked here.
PASS_THROUGH = {"--app-args"}


def flags_of(args: tuple[str, ...]) -> set[str]:
    flags = set()
    for arg in args:
        arg = arg.strip("[]()")
        if arg in PASS_THROUGH:
            flags.add(arg)
            break
        if re.fullmatch(r"--[a-z0-9][a-z0-9-]*(=.*)?", arg):
            flags.add(arg.split("=", 1)[0])
    return flags


def run_help(target: str, is_script: bool, argv: list[str]) -> tuple[object, str]:
    """Run ``python -m target argv`` (or ``python target argv``) in this process: (exit code, stdout + stderr)."""
    out = io.StringIO()
    saved_argv = sys.argv[:]
    code: object = None
    sys.argv = [target] + argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # runpy warns when the module was imported before
            if is_script:
                runpy.run_path(str(REPO / target), run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = saved_argv
    return code, out.getvalue()


SUBCOMMANDS = re.compile(r"\{([a-z0-9_-]+(?:,[a-z0-9_-]+)+)\}")


def help_cases() -> dict[tuple[str, bool, str], dict]:
    """(target, is_script, sub-command or '') -> the flags the pages pass and where they are written."""
    cases: dict[tuple[str, bool, str], dict] = {}
    for command, where in COMMANDS.items():
        sub = command.args[0] if command.args and re.fullmatch(r"[a-z][a-z0-9_-]*", command.args[0]) else ""
        case = cases.setdefault((command.target, command.is_script, sub), {"flags": set(), "where": set()})
        case["flags"] |= flags_of(command.args)
        case["where"] |= set(where)
    return cases


CASES = help_cases()


def test_the_pages_document_commands():
    # a broken extractor would make every check below vacuous
    assert len(PAGES) >= 5, [rel(p.path) for p in PAGES]
    modules = {target for target, _, _ in CASES}
    for expected in ("cti_ir.index", "cti_ir.evaluate", "training.stage3", "data_prep.synth", "app.py"):
        assert expected in modules, sorted(modules)


@pytest.mark.parametrize("target,is_script,sub", sorted(CASES), ids=[f"{t} {s}".strip() for t, _, s in sorted(CASES)])
def test_documented_command_runs_help(target, is_script, sub):
    case = CASES[(target, is_script, sub)]
    where = ", ".join(sorted(case["where"]))
    if not is_script:
        try:
            spec = importlib.util.find_spec(target)
        except ModuleNotFoundError:
            spec = None
        assert spec is not None, f"`python -m {target}` is documented in {where}, but there is no such module"
    else:
        assert (REPO / target).is_file(), f"`python {target}` is documented in {where}, but the file is missing"
    code, text = run_help(target, is_script, ["--help"])
    assert code in (0, None), f"`{target} --help` exited with {code!r} (documented in {where}):\n{text[-2000:]}"
    if sub:
        choices = {c for m in SUBCOMMANDS.finditer(text.split("\n\n")[0]) for c in m.group(1).split(",")}
        if sub in choices:
            code, text = run_help(target, is_script, [sub, "--help"])
            assert code in (0, None), f"`{target} {sub} --help` exited with {code!r}:\n{text[-2000:]}"
        # otherwise the word is a positional value, and the top-level help lists the flags
    missing = sorted(flag for flag in case["flags"] if not re.search(re.escape(flag) + r"(?![a-z0-9-])", text))
    label = f"{target} {sub}".strip()
    assert missing == [], f"{where} pass {missing} to `{label}`, which its --help does not list"


# ------------------------------------------------------------------------------------------- python snippets

def snippet_imports() -> list[tuple[str, str | None, str]]:
    """(module, name or None, page) for every import of every python block."""
    found = []
    for page in PAGES:
        for block in page.python:
            tree = ast.parse(block, filename=rel(page.path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found += [(alias.name, None, rel(page.path)) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    found += [(node.module, alias.name, rel(page.path)) for alias in node.names]
    return found


def test_python_snippets_import_what_exists():
    imports = snippet_imports()
    assert any(module.startswith("cti_ir") for module, _, _ in imports), imports
    broken = []
    for module, name, page in imports:
        try:
            imported = importlib.import_module(module)
        except ImportError as error:
            broken.append(f"{page}: import {module}: {error}")
            continue
        if name is not None and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                broken.append(f"{page}: from {module} import {name}: no such name")
    assert broken == [], "\n".join(broken)


# ------------------------------------------------------------------------------------ references to the code

DOTTED = re.compile(r"^((?:%s)(?:\.[A-Za-z_]\w*)+)" % "|".join(OUR_PACKAGES))
REPO_PATH = re.compile(r"^(?:%s)/[\w./-]*$" % "|".join(re.escape(p) for p in PATH_ROOTS))


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        for attr in parts[n:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_inline_names_and_paths_exist():
    broken = []
    for page in PAGES:
        for span in set(page.inline):
            word = span.split()[0] if span.split() else ""
            m = DOTTED.match(word)
            if m and not word.endswith(".py") and not resolves(m.group(1)):
                broken.append(f"{rel(page.path)}: `{span}`: {m.group(1)} does not resolve")
            if REPO_PATH.match(word) and not (REPO / word).exists():
                broken.append(f"{rel(page.path)}: `{span}`: no file {word}")
    assert broken == [], "\n".join(sorted(broken))


# ------------------------------------------------------------------------------------------------- links

def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    result = set()
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def test_relative_links_resolve():
    broken = []
    checked = 0
    for page in PAGES:
        for target in LINK.findall(page.prose):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, fragment = target.partition("#")
            path = (page.path.parent / file_part).resolve() if file_part else page.path
            checked += 1
            if not path.exists():
                broken.append(f"{rel(page.path)}: ({target}): no such file")
            elif fragment and path.suffix == ".md" and fragment not in anchors(path):
                broken.append(f"{rel(page.path)}: ({target}): no heading #{fragment} in {rel(path)}")
    assert checked > 0
    assert broken == [], "\n".join(broken)
