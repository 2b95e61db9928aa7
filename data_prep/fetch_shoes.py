"""Unpack the Shoes images from a local Attribute Discovery archive, safely, and check them against the captions.

The Shoes relative captions (github.com/XiaoxiaoGuo/fashion-retrieval, ``dataset/``) name images of the Attribute
Discovery dataset (Berg et al., ECCV 2010; tamaraberg.com/attributesDataset), whose archive holds
``attributedata/womens_<type>/<0|1>/img_womens_<type>_<n>.jpg`` beside bags, earrings and ties. This module copies
the caption files to ``ROOT/dataset/``, extracts only the images the captions and the split lists name to
``ROOT/womens_<type>/<0|1>/`` (the layout `cti_ir.data.Shoes` reads), decodes each one, and reports what is missing.

Safety: the archive is scanned before anything is written. A member with an absolute path or a ``..`` component,
a link pointing out of the archive, or a device or FIFO member makes the whole archive refused. Only regular files
are ever written, each to a path checked to lie inside ROOT (a symlink already in ROOT cannot redirect a write).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from cti_ir.files import write_atomic, write_json_atomic
from cti_ir.data import Shoes
from cti_ir.data.common import read_json, read_lines

REPORT_FILE = "fetch_report.json"
CAPTION_FILES = ("relative_captions_shoes.json", "train_im_names.txt", "eval_im_names.txt")
OPTIONAL_CAPTION_FILES = ("captions_shoes.json",)
#: A product photo is far smaller; a bigger member is not extracted (and reported as unreadable).
MAX_MEMBER_BYTES = 50 * 1024 * 1024


class ArchiveRefused(ValueError):
    """The archive holds members that could write outside the target folder; nothing was extracted."""


class ShoesSetupError(ValueError):
    """The caption folder or the archive is not usable; the message says what to do."""


@dataclass(frozen=True)
class ArchiveEntry:
    """A member of the archive, in the terms that matter here."""

    name: str                 # the path inside the archive, '/'-separated
    kind: str                 # "file", "dir", "symlink", "hardlink", "device", "fifo", "other"
    size: int
    link_target: str = ""


def unsafe_reason(entry: ArchiveEntry) -> Optional[str]:
    """Why extracting ``entry`` could touch anything outside the target folder, or None when it cannot."""
    name = entry.name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in name.split("/"):
        return "path with '..'"
    if entry.kind in ("device", "fifo"):
        return f"{entry.kind} file"
    if entry.kind in ("symlink", "hardlink"):
        target = entry.link_target.replace("\\", "/")
        if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
            return f"{entry.kind} to an absolute path ({entry.link_target})"
        # A symlink's target is relative to the link's folder; a hard link's to the archive's root.
        base = posixpath.dirname(name) if entry.kind == "symlink" else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if resolved == ".." or resolved.startswith("../"):
            return f"{entry.kind} pointing out of the archive ({entry.link_target})"
    return None


class ArchiveReader:
    """Read-only view of a tar (any compression) or zip archive: list its members, read one regular file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if zipfile.is_zipfile(path):
            self._zip: Optional[zipfile.ZipFile] = zipfile.ZipFile(path)
            self._tar: Optional[tarfile.TarFile] = None
        else:
            try:
                self._tar = tarfile.open(path, "r:*")
            except (tarfile.TarError, OSError) as exc:
                raise ShoesSetupError(f"{path} is neither a tar nor a zip archive ({exc}); pass the Attribute "
                                      "Discovery archive (attributedata.tar.gz)") from None
            self._zip = None
        self._members: dict[str, object] = {}

    def close(self) -> None:
        (self._zip or self._tar).close()

    def entries(self) -> list[ArchiveEntry]:
        """Every member (reading a compressed tar's headers decompresses it once)."""
        out = []
        if self._tar is not None:
            for m in self._tar.getmembers():
                kind = ("file" if m.isreg() else "dir" if m.isdir() else "symlink" if m.issym() else
                        "hardlink" if m.islnk() else "device" if (m.ischr() or m.isblk()) else
                        "fifo" if m.isfifo() else "other")
                self._members[m.name] = m
                out.append(ArchiveEntry(m.name, kind, m.size, m.linkname))
        else:
            for info in self._zip.infolist():  # type: ignore[union-attr]
                mode = info.external_attr >> 16
                kind = ("dir" if info.is_dir() else "symlink" if stat.S_ISLNK(mode) else
                        "device" if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) else
                        "fifo" if stat.S_ISFIFO(mode) else "file")
                target = self._zip.read(info).decode("utf-8", "replace") if kind == "symlink" else ""  # type: ignore
                self._members[info.filename] = info
                out.append(ArchiveEntry(info.filename, kind, info.file_size, target))
        return out

    def read(self, name: str) -> bytes:
        """The bytes of the regular file ``name``."""
        member = self._members[name]
        if self._tar is not None:
            f = self._tar.extractfile(member)  # type: ignore[arg-type]
            if f is None:
                raise ShoesSetupError(f"{name} in {self.path} is not a regular file")
            with f:
                return f.read()
        return self._zip.read(member)  # type: ignore[union-attr, arg-type]


def locate_caption_files(captions: Path) -> Path:
    """The folder holding the three Shoes caption files: ``captions`` itself or ``captions/dataset``."""
    for folder in (captions, captions / "dataset"):
        if all((folder / n).is_file() for n in CAPTION_FILES):
            return folder
    raise ShoesSetupError(f"{captions} does not hold {', '.join(CAPTION_FILES)} (nor does {captions / 'dataset'}); "
                          "pass the dataset/ folder of github.com/XiaoxiaoGuo/fashion-retrieval as --captions")


def needed_images(caption_dir: Path) -> dict[str, list[str]]:
    """Image name -> which lists need it ("train", "test", "triplets")."""
    needs: dict[str, list[str]] = {}
    for split, name in (("train", "train_im_names.txt"), ("test", "eval_im_names.txt")):
        for image in read_lines(caption_dir / name):
            needs.setdefault(image, []).append(split)
    rows = read_json(caption_dir / "relative_captions_shoes.json", "a JSON list of {ImageName, ReferenceImageName}")
    for row in rows:
        for key in ("ImageName", "ReferenceImageName"):
            image = str(row.get(key, "")).strip()
            if image:
                uses = needs.setdefault(image, [])
                if "triplets" not in uses:
                    uses.append("triplets")
    return needs


def _destination(root: Path, member: str) -> Path:
    """Where an image member goes: its last three components (``womens_<type>/<0|1>/<name>``) under ROOT."""
    parts = [p for p in member.replace("\\", "/").split("/") if p not in ("", ".")]
    return root.joinpath(*parts[-3:])


def _make_parents_inside(root: Path, dest: Path) -> None:
    """Create ``dest``'s folders under ``root`` one by one, refusing to pass through a symbolic link.

    Checked before anything is created: ``mkdir(parents=True)`` would follow a link planted in ROOT and create
    folders wherever it points.
    """
    current = root
    for part in dest.relative_to(root).parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise ArchiveRefused(f"{current} is a symbolic link, so writing {dest.name} there could land outside "
                                 f"{root}; remove that link or choose another --root")
        if not current.is_dir():
            current.mkdir()
    if dest.is_symlink():
        raise ArchiveRefused(f"{dest} is a symbolic link; remove it or choose another --root")


def copy_caption_files(caption_dir: Path, root: Path) -> list[str]:
    """Copy the caption files to ``ROOT/dataset/`` (atomically; unchanged files are left alone)."""
    dest_dir = root / "dataset"
    copied = []
    for name in CAPTION_FILES + OPTIONAL_CAPTION_FILES:
        src = caption_dir / name
        if not src.is_file():
            continue
        dest = dest_dir / name
        if dest.is_file() and dest.read_bytes() == src.read_bytes():
            continue
        write_atomic(dest, lambda tmp, src=src: shutil.copyfile(src, tmp))
        copied.append(name)
    return copied


def prepare_shoes(
    archive: Path,
    captions: Path,
    root: Path,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Copy the captions, extract the needed images safely, check them; returns the report (also written to ROOT).

    Raises `ArchiveRefused` (nothing written) for a hostile archive, `ShoesSetupError` for unusable inputs.
    """
    archive, captions, root = Path(archive), Path(captions), Path(root)
    if not archive.is_file():
        raise ShoesSetupError(f"archive {archive} not found; download attributedata.tar.gz from "
                              "tamaraberg.com/attributesDataset and pass its path as --archive")
    caption_dir = locate_caption_files(captions)
    needs = needed_images(caption_dir)
    reader = ArchiveReader(archive)
    try:
        entries = reader.entries()
        unsafe = [(e.name, r) for e in entries if (r := unsafe_reason(e)) is not None]
        if unsafe:
            shown = "; ".join(f"{n!r} ({r})" for n, r in unsafe[:5])
            more = f" and {len(unsafe) - 5} more" if len(unsafe) > 5 else ""
            raise ArchiveRefused(f"{archive} was refused, nothing was extracted: {len(unsafe)} member(s) could write "
                                 f"outside {root}: {shown}{more}. Get the archive again from its original source")
        root.mkdir(parents=True, exist_ok=True)
        copied = copy_caption_files(caption_dir, root)
        stats = _extract_needed(reader, entries, needs, root, progress)
    finally:
        reader.close()
    report = _check_and_report(archive, caption_dir, root, needs, stats, copied, progress)
    write_json_atomic(root / REPORT_FILE, report)
    return report


@dataclass
class _ExtractStats:
    extracted: int = 0
    already_present: int = 0
    links_skipped: int = 0
    duplicate_names: int = 0
    too_large: list[str] = None  # type: ignore[assignment]
    other_members: int = 0


def _extract_needed(reader: ArchiveReader, entries: list[ArchiveEntry], needs: dict[str, list[str]], root: Path,
                    progress: bool) -> _ExtractStats:
    from tqdm import tqdm

    stats = _ExtractStats(too_large=[])
    chosen: dict[str, ArchiveEntry] = {}
    for e in entries:
        base = posixpath.basename(e.name.replace("\\", "/"))
        if e.kind in ("symlink", "hardlink"):
            stats.links_skipped += base in needs
            continue
        if e.kind != "file" or base not in needs:
            stats.other_members += e.kind == "file"
            continue
        if base in chosen:
            stats.duplicate_names += 1
            continue
        chosen[base] = e
    for base, e in tqdm(_in_archive_order(chosen, entries), total=len(chosen), desc="extracting", unit="img",
                        disable=not progress):
        dest = _destination(root, e.name)
        if e.size > MAX_MEMBER_BYTES:
            stats.too_large.append(base)
            continue
        if not dest.is_symlink() and dest.is_file() and dest.stat().st_size == e.size:
            stats.already_present += 1  # a rerun: this file was extracted before
            continue
        _make_parents_inside(root, dest)
        data = reader.read(e.name)
        write_atomic(dest, lambda tmp, data=data: Path(tmp).write_bytes(data))
        stats.extracted += 1
    return stats


def _in_archive_order(chosen: dict[str, ArchiveEntry],
                      entries: list[ArchiveEntry]) -> Iterator[tuple[str, ArchiveEntry]]:
    # Reading members in archive order keeps a compressed tar to one forward pass.
    position = {e.name: i for i, e in enumerate(entries)}
    return iter(sorted(chosen.items(), key=lambda kv: position[kv[1].name]))


def _check_and_report(archive: Path, caption_dir: Path, root: Path, needs: dict[str, list[str]],
                      stats: _ExtractStats, copied: list[str], progress: bool) -> dict:
    ds = Shoes(root)
    report = ds.check_images(sorted(needs), skip_missing=True, verify=True, progress=progress,
                             workers=min(8, os.cpu_count() or 1))
    bad = report.bad
    too_large = set(stats.too_large)
    per_list = []
    for use in ("train", "test", "triplets"):
        names = [n for n, uses in needs.items() if use in uses]
        per_list.append({"list": use, "needed": len(names), "present": sum(n not in bad for n in names),
                         "missing": sum(n in report.missing for n in names),
                         "unreadable": sum(n in report.unreadable for n in names)})
    problems = []
    for name in sorted(bad):
        if name in too_large:
            reason = f"larger than {MAX_MEMBER_BYTES:,} bytes in the archive; not extracted"
        elif name in report.missing:
            reason = "not in the archive"
        else:
            reason = f"unreadable: {report.reasons.get(name, '')}"
        problems.append({"image": name, "reason": reason, "needed_by": needs[name]})
    return {
        "dataset": "shoes",
        "root": str(root),
        "archive": str(archive),
        "captions": str(caption_dir),
        "caption_files_copied": copied,
        "totals": {"needed": len(needs), "present": len(needs) - len(bad), "missing": len(report.missing),
                   "unreadable": len(report.unreadable), "extracted_this_run": stats.extracted,
                   "already_present": stats.already_present, "duplicate_names_in_archive": stats.duplicate_names,
                   "links_skipped": stats.links_skipped, "other_archive_files_left_out": stats.other_members},
        "lists": per_list,
        "problems": problems,
        "complete": True,
    }


def render_summary(report: dict) -> str:
    """The end-of-run summary printed on stdout."""
    t = report["totals"]
    lines = [f"Shoes under {report['root']}: {t['present']:,} of {t['needed']:,} images the captions need are "
             f"present ({t['extracted_this_run']:,} extracted now, {t['already_present']:,} already there); "
             f"{t['missing']:,} missing from the archive, {t['unreadable']:,} unreadable",
             f"  {t['other_archive_files_left_out']:,} other files of the archive (bags, earrings, ties, "
             "descriptions, unused shoes) were left out"]
    for r in report["lists"]:
        lines.append(f"  {r['list']}: {r['present']:,} of {r['needed']:,} present")
    for p in report["problems"][:5]:
        lines.append(f"  {p['image']}: {p['reason']}")
    if len(report["problems"]) > 5:
        lines.append(f"  ... and {len(report['problems']) - 5:,} more (all in the report)")
    lines.append(f"Report: {Path(report['root']) / REPORT_FILE}")
    lines.append("Next: python -m data_prep.check --dataset shoes --root ROOT")
    return "\n".join(lines)
