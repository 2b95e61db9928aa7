"""Types and helpers shared by the benchmark readers (Fashion-IQ, Shoes).

The dataclasses here are the contract of docs/DESIGN.md section 2: the evaluator, the trainers and the index builder
consume `Triplet`, `Query` and `EvalSplit` without knowing which benchmark produced them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

log = logging.getLogger("cti_ir.data")

#: Image file extensions accepted for an image id, in order of preference. The real Fashion-IQ files are `.jpg`,
#: some re-distributions (e.g. CLIP4Cir's) ship `.png`.
IMAGE_EXTENSIONS = (".jpg", ".png", ".jpeg")

#: How many file names an error message lists before "and N more".
_EXAMPLES = 5


@dataclass(frozen=True)
class Triplet:
    """One annotated modification: ``reference`` image + ``captions`` describe ``target`` (None where hidden)."""

    reference: str
    target: Optional[str]
    captions: tuple[str, ...]
    category: str


@dataclass(frozen=True)
class Query:
    """One evaluation query: retrieve ``target`` from the reference image and the modification text."""

    reference: str
    text: str
    target: str


@dataclass
class EvalSplit:
    """What the evaluator needs for one table row: the queries and the gallery they are ranked against.

    ``gallery`` holds unique image ids in file order. When images were checked with ``skip_missing=True``,
    ``dropped_queries`` / ``dropped_gallery`` count what was removed and ``image_report`` holds the details.
    """

    name: str
    queries: list[Query]
    gallery: list[str]
    dropped_queries: int = 0
    dropped_gallery: int = 0
    image_report: Optional["ImageCheckReport"] = None


@dataclass
class ImageCheckReport:
    """Result of checking that image files exist (and, with ``verify``, decode).

    ``missing`` and ``unreadable`` hold image ids; ``paths`` maps each bad id to the file that was expected or
    found, ``reasons`` maps unreadable ids to the decoder's reason.
    """

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    verified: bool = False

    @property
    def ok(self) -> bool:
        """True when every checked image is usable."""
        return not self.missing and not self.unreadable

    @property
    def bad(self) -> set[str]:
        """Ids of all missing or unreadable images."""
        return set(self.missing) | set(self.unreadable)

    def summary(self) -> str:
        """One human-readable paragraph: counts and the first few files."""
        parts = [f"{self.checked:,} images checked" + (" (decoded)" if self.verified else " (existence only)")]
        if self.missing:
            names = ", ".join(self.paths.get(i, i) for i in self.missing[:_EXAMPLES])
            more = f" and {len(self.missing) - _EXAMPLES:,} more" if len(self.missing) > _EXAMPLES else ""
            parts.append(f"{len(self.missing):,} missing: {names}{more}")
        if self.unreadable:
            names = ", ".join(
                f"{self.paths.get(i, i)} ({self.reasons.get(i, '?')})" for i in self.unreadable[:_EXAMPLES]
            )
            more = f" and {len(self.unreadable) - _EXAMPLES:,} more" if len(self.unreadable) > _EXAMPLES else ""
            parts.append(f"{len(self.unreadable):,} unreadable: {names}{more}")
        if self.ok:
            parts.append("all present")
        return "; ".join(parts)

    def to_dict(self, examples: int = _EXAMPLES) -> dict:
        """JSON-friendly summary with the first ``examples`` bad files."""
        return {
            "checked": self.checked,
            "verified": self.verified,
            "missing": len(self.missing),
            "missing_examples": [self.paths.get(i, i) for i in self.missing[:examples]],
            "unreadable": len(self.unreadable),
            "unreadable_examples": [
                {"file": self.paths.get(i, i), "reason": self.reasons.get(i, "")} for i in self.unreadable[:examples]
            ],
        }


class DatasetLayoutError(ValueError):
    """The root folder does not look like the requested dataset; the message says what is expected."""


class LabelsHiddenError(ValueError):
    """Evaluation was asked on a split whose targets are not public (Fashion-IQ test)."""


class MissingImagesError(ValueError):
    """Images needed by a split are missing or unreadable. ``report`` holds the full `ImageCheckReport`."""

    def __init__(self, report: ImageCheckReport, what: str = "images", hint: str = "") -> None:
        self.report = report
        n_bad = len(report.missing) + len(report.unreadable)
        details = "; ".join(p for p in report.summary().split("; ")[1:])
        super().__init__(
            f"{n_bad:,} of {report.checked:,} {what} are missing or unreadable{' (' + hint + ')' if hint else ''}: "
            f"{details}. Fix the files, or pass skip_missing=True to continue without them (the skipped queries, "
            "triplets and gallery images are then counted and reported)."
        )


class ImageIndex:
    """Finds image files by id under a folder; lists the folder once, lazily, and caches the listing.

    ``recursive=False`` lists one folder (Fashion-IQ ``images/``); ``recursive=True`` walks the whole tree and indexes
    files by name (Shoes images sit in ``womens_<type>/<0|1>/``). Ids may carry an extension (``x.jpg``) or not
    (``B00ABC``); any of `IMAGE_EXTENSIONS` is accepted either way. A folder changed after the first lookup is not
    re-listed; call `clear` for that.
    """

    def __init__(self, folder: Path, *, recursive: bool) -> None:
        self.folder = Path(folder)
        self.recursive = recursive
        self._by_name: Optional[dict[str, Path]] = None

    def clear(self) -> None:
        """Forget the cached listing; the next lookup lists the folder again."""
        self._by_name = None

    def _listing(self) -> dict[str, Path]:
        if self._by_name is None:
            self._by_name = _list_images(self.folder, self.recursive)
        return self._by_name

    def find_any(self) -> bool:
        """True when the folder holds at least one image file."""
        return bool(self._listing())

    def find(self, image_id: str) -> Optional[Path]:
        """Path of the file for ``image_id``, or None when there is none."""
        names = self._listing()
        if image_id in names:
            return names[image_id]
        stem = _strip_image_ext(image_id)
        for ext in IMAGE_EXTENSIONS:
            hit = names.get(stem + ext)
            if hit is not None:
                return hit
        return None


def _strip_image_ext(name: str) -> str:
    root, ext = os.path.splitext(name)
    return root if ext.lower() in IMAGE_EXTENSIONS else name


def _list_images(folder: Path, recursive: bool) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    if not recursive:
        with os.scandir(folder) as entries:
            for e in entries:
                _add(found, e.name, Path(e.path))
        return found
    # Sorted walk so that, if two folders hold the same file name, the choice does not depend on the file system.
    duplicates = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in sorted(filenames):
            if name in found:
                duplicates += 1
                continue
            _add(found, name, Path(dirpath) / name)
    if duplicates:
        log.warning("%d image file names occur more than once under %s; the first (sorted) path is used",
                    duplicates, folder)
    return found


def _add(found: dict[str, Path], name: str, path: Path) -> None:
    root, ext = os.path.splitext(name)
    if ext.lower() not in IMAGE_EXTENSIONS:
        return
    found[name] = path
    # Also under the lower-case extension, so that "x.JPG" on disk answers for id "x" or "x.jpg".
    found.setdefault(root + ext.lower(), path)


def read_json(path: Path, what: str):
    """Load a JSON file, turning a parse error into a message that names the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DatasetLayoutError(f"{path}: not valid JSON ({exc}); expected {what}") from exc


def read_lines(path: Path) -> list[str]:
    """Non-empty, stripped lines of a text file, duplicates removed, file order kept."""
    with open(path, encoding="utf-8") as f:
        return list(dict.fromkeys(line.strip() for line in f if line.strip()))


def unique(ids: Iterable[str]) -> list[str]:
    """Ids with duplicates removed, first occurrence order kept."""
    return list(dict.fromkeys(ids))


def filter_by_images(
    splits: list[EvalSplit], report: ImageCheckReport
) -> list[EvalSplit]:
    """Drop queries whose reference or target is bad, and bad gallery images; record the counts on each split."""
    bad = report.bad
    out = []
    for s in splits:
        queries = [q for q in s.queries if q.reference not in bad and q.target not in bad]
        gallery = [g for g in s.gallery if g not in bad]
        out.append(
            EvalSplit(
                name=s.name,
                queries=queries,
                gallery=gallery,
                dropped_queries=len(s.queries) - len(queries),
                dropped_gallery=len(s.gallery) - len(gallery),
                image_report=report,
            )
        )
        if out[-1].dropped_queries or out[-1].dropped_gallery:
            log.warning("%s: dropped %d of %d queries and %d of %d gallery images (missing or unreadable images)",
                        s.name, out[-1].dropped_queries, len(s.queries), out[-1].dropped_gallery, len(s.gallery))
    return out


def filter_triplets(triplets: list[Triplet], report: ImageCheckReport, what: str) -> list[Triplet]:
    """Drop triplets whose reference or target is bad; log how many were dropped."""
    bad = report.bad
    kept = [t for t in triplets if t.reference not in bad and t.target not in bad]
    if len(kept) != len(triplets):
        log.warning("%s: dropped %d of %d triplets (missing or unreadable images)",
                    what, len(triplets) - len(kept), len(triplets))
    return kept
