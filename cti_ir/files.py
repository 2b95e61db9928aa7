"""Files on disk: atomic writes (a reader, or a run killed half-way, never sees a half-written file) and checksums.

Every writer goes to a temporary file in the same folder and renames it over the destination, which POSIX
guarantees to be atomic on one file system.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temp_path)`` and rename the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically (UTF-8)."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def replace_dir_atomic(staging: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Move a fully written folder ``staging`` to ``final``, replacing any old one.

    A folder cannot be renamed over a non-empty one, so the old folder is first renamed aside and removed only
    after the new one is in place: at every instant either the old or the new folder exists under a known name
    (``final`` or ``final.old``), and loaders fall back to ``final.old``.
    """
    staging, final = Path(staging), Path(final)
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if old.exists():
        shutil.rmtree(old)
    return final


def staging_dir(final: str | os.PathLike) -> Path:
    """A fresh temporary folder beside ``final`` to build its replacement in."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp creates 0700
    return tmp


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, hex; read in 1 MiB blocks so large weight files need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_format_json(path: str | os.PathLike, fmt: str, version: int, error: type[Exception], what: str) -> dict:
    """A JSON config that names its ``format`` and ``format_version`` (checkpoints, adapters): parsed and checked.

    ``error`` is raised with one sentence naming the file: not valid JSON ("``what`` is corrupt"), another format,
    or another version than ``version``.
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path} is not valid JSON ({e}); {what} is corrupt") from e
    if not isinstance(config, dict) or config.get("format") != fmt:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise error(f"{path} is not a {fmt} config (format={found!r})")
    if config.get("format_version") != version:
        raise error(f"{path} has {fmt} format version {config.get('format_version')}, this code reads {version}")
    return config
