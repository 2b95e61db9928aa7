"""Index versions: every change is written beside the served one and switched to in one atomic step.

An index folder keeps what it serves in ``versions/vNNNNNN/`` (``index.faiss``, ``items.jsonl``,
``index_info.json``, ``products.jsonl``, ``rejected.jsonl``), and ``current`` is a symbolic link to the served
version. A change (``build``, ``add``, ``remove``, ``update``, ``products``) writes the next version into a
temporary folder, renames it into place, and then replaces ``current`` (a new link renamed over the old one,
which POSIX makes atomic). A reader that resolves ``current`` once therefore sees one whole version, never the
index of one and the items of another, and a running server switches by opening the new version while it still
answers from the old (``cti_ir.serve.live_index``).

The top-level names (``index.faiss``, ``items.jsonl``, ``index_info.json``, ...) are links through ``current``,
so tools that read an index folder's files directly keep working. A folder written before versions existed (plain
files at the top) is read as it is and turns into this layout at its first change.

A change killed before its switch leaves at most an unfinished version folder, which the next change removes; the
folder keeps serving the version before. The last ``KEEP_VERSIONS`` versions are kept, so a reader that resolved
``current`` just before a switch can still open what it resolved.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

VERSIONS_DIR = "versions"
CURRENT_LINK = "current"
#: The files a version may hold; each gets a top-level link when the current version has it.
VERSION_FILES = ("index.faiss", "items.jsonl", "index_info.json", "products.jsonl", "rejected.jsonl")
KEEP_VERSIONS = 3
_VERSION = re.compile(r"^v(\d{6,})$")


def current_dir(folder: str | Path) -> Path:
    """The folder holding the served version's files: ``folder/versions/vN`` through ``current``, or ``folder``
    itself for an index written before versions existed."""
    folder = Path(folder)
    link = folder / CURRENT_LINK
    if link.is_symlink():
        return folder / VERSIONS_DIR / os.readlink(link).split("/")[-1]
    return folder


def current_number(folder: str | Path) -> int:
    """The served version's number (0: none yet, or a folder written before versions existed)."""
    link = Path(folder) / CURRENT_LINK
    if not link.is_symlink():
        return 0
    match = _VERSION.match(os.readlink(link).split("/")[-1])
    return int(match.group(1)) if match else 0


def version_name(number: int) -> str:
    return f"v{number:06d}"


def publish_version(folder: str | Path, write: Callable[[Path, int], None]) -> Path:
    """Write the next version with ``write(staging_folder, number)`` and switch ``current`` to it.

    Returns the new version's folder. Unfinished versions left by a killed change are removed first, so the new
    one gets the number an uninterrupted change would have given it.
    """
    folder = Path(folder)
    versions = folder / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    number = current_number(folder) + 1
    clear_unfinished(folder)
    staging = versions / f".{version_name(number)}.tmp"
    staging.mkdir()
    try:
        write(staging, number)
        final = versions / version_name(number)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    link = folder / CURRENT_LINK
    if link.is_dir() and not link.is_symlink():  # a copied folder (copytree follows links): its copy goes
        shutil.rmtree(link)
    _point(link, f"{VERSIONS_DIR}/{final.name}")
    _link_top_level(folder, final)
    _prune(versions, number)
    return final


def clear_unfinished(folder: str | Path) -> None:
    """Remove version folders newer than the served one and temporary ones (left by a killed change)."""
    versions = Path(folder) / VERSIONS_DIR
    if not versions.is_dir():
        return
    served = current_number(folder)
    for entry in versions.iterdir():
        match = _VERSION.match(entry.name)
        if entry.name.endswith(".tmp") or (match and int(match.group(1)) > served):
            shutil.rmtree(entry, ignore_errors=True)


def remove_versions(folder: str | Path) -> None:
    """Remove every version, the ``current`` link and the top-level links (``build --overwrite``)."""
    folder = Path(folder)
    for name in (CURRENT_LINK,) + VERSION_FILES:
        path = folder / name
        if path.is_symlink():
            path.unlink()
    shutil.rmtree(folder / VERSIONS_DIR, ignore_errors=True)


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (an unchanged file costs no space in the next version), or a copy
    where the file system has no hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _point(link: Path, target: str) -> None:
    """Make ``link`` a symbolic link to ``target``, atomically, whatever it was before (a link or a file)."""
    tmp = link.with_name(f".{link.name}.link.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _link_top_level(folder: Path, version: Path) -> None:
    for name in VERSION_FILES:
        top = folder / name
        if (version / name).is_file():
            if not (top.is_symlink() and os.readlink(top) == f"{CURRENT_LINK}/{name}"):
                _point(top, f"{CURRENT_LINK}/{name}")
        elif top.is_symlink() or top.is_file():
            top.unlink()


def _prune(versions: Path, served: int) -> None:
    for entry in versions.iterdir():
        match = _VERSION.match(entry.name)
        if match and int(match.group(1)) <= served - KEEP_VERSIONS:
            shutil.rmtree(entry, ignore_errors=True)
