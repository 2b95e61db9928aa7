"""Fetch the Fashion-IQ images the annotation files need, from the published ``asin2url.<cat>.txt`` lists.

The images of Fashion-IQ exist only as Amazon URLs (github.com/hongwang600/fashion-iq-metadata, ``image_url/``;
also copied in github.com/yanbeic/VAL), and thousands of them are dead. This module downloads every image that
``captions/cap.<cat>.<split>.json`` and ``image_splits/split.<cat>.<split>.json`` name (and nothing else) into
``ROOT/images/<ASIN>.jpg`` (``.png`` when the server sends a PNG), verifies each one by decoding it, and writes
``ROOT/fetch_report.json``: per category and split what was needed, fetched and dead, and for each dead image its
URL and the reason. A run that is interrupted or killed resumes where it stopped: files on disk that decode are
never downloaded again (``ROOT/fetch_journal.jsonl`` remembers what was already checked, and which links are dead).

The list format, as published: one line per image, ``ASIN <tab> URL`` (the published files put a space on each
side of the tab), e.g. ``B00014NGF6 \\t http://ecx.images-amazon.com/images/I/51AERD8SM8L._SY445_.jpg``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from cti_ir.files import write_json_atomic
from cti_ir.data import FashionIQ

from data_prep.fetch_http import Downloader, HostRateLimiter, UrllibDownloader
from data_prep.fetch_images import (
    DownloadJob,
    DownloadOutcome,
    FetchJournal,
    RunnerSettings,
    find_existing,
    remove_stale_temp_files,
    run_downloads,
    verify_existing,
)

REPORT_FILE = "fetch_report.json"
JOURNAL_FILE = "fetch_journal.jsonl"
REPLACED_DIR = "fetch_replaced"
LIST_NAME = "asin2url.{category}.txt"
METADATA_HINT = ("the lists are in github.com/hongwang600/fashion-iq-metadata (folder image_url/) and in "
                 "github.com/yanbeic/VAL (datasets/fashion_iq/image_url/)")


class FetchSetupError(ValueError):
    """The folders or lists given to the fetcher are not usable; the message says what to do."""


def read_url_lists(folder: Path, categories: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """ASIN -> URL from ``folder/asin2url.<cat>.txt`` for each category; also returns warnings.

    Lines are split on whitespace (first field the ASIN, last the URL), so both the published `` \\t `` and a plain
    tab work. An ASIN listed twice with different URLs keeps its first URL (a warning counts them).
    """
    urls: dict[str, str] = {}
    warnings: list[str] = []
    missing = [c for c in categories if not (folder / LIST_NAME.format(category=c)).is_file()]
    if missing:
        names = ", ".join(LIST_NAME.format(category=c) for c in missing)
        raise FetchSetupError(f"{names} not found in {folder}; {METADATA_HINT}. Put them in ROOT/image_url/ or "
                              "pass --lists DIR")
    conflicts = malformed = 0
    for cat in categories:
        path = folder / LIST_NAME.format(category=cat)
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                if len(fields) < 2 or "://" not in fields[-1]:
                    malformed += 1
                    continue
                asin, url = fields[0], fields[-1]
                if asin in urls and urls[asin] != url:
                    conflicts += 1
                    continue
                urls.setdefault(asin, url)
    if malformed:
        warnings.append(f"{malformed:,} lines of the asin2url lists are not 'ASIN <tab> URL' and were ignored")
    if conflicts:
        warnings.append(f"{conflicts:,} ASINs are listed twice with different URLs; the first URL is used")
    return urls, warnings


def default_lists_dir(root: Path) -> Path:
    """``ROOT/image_url`` when it holds asin2url lists (the metadata repository's layout), else ``ROOT``."""
    candidate = root / "image_url"
    return candidate if any(candidate.glob("asin2url.*.txt")) else root


@dataclass
class FashionIQNeeds:
    """Which images each (category, split) needs, and which splits are absent from the folder."""

    needed: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    absent: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # missing annotation files

    def all_ids(self) -> list[str]:
        return sorted({i for ids in self.needed.values() for i in ids})

    def users(self) -> dict[str, list[str]]:
        """For each ASIN, the ``"<cat>/<split>"`` names that need it."""
        out: dict[str, list[str]] = {}
        for (cat, split), ids in self.needed.items():
            for i in ids:
                out.setdefault(i, []).append(f"{cat}/{split}")
        return out


def plan_needs(ds: FashionIQ, splits: Sequence[str]) -> FashionIQNeeds:
    """Every image the captions and split lists of ``splits`` name, per category and split."""
    needs = FashionIQNeeds()
    for cat in ds.categories:
        for split in splits:
            missing = ds.missing_annotation_files(split, cat)
            if missing:
                needs.absent[(cat, split)] = [str(p) for p in missing]
                continue
            ids = list(ds.split_images(split, cat))
            for t in ds.triplets(split, cat):
                ids.append(t.reference)
                if t.target is not None:
                    ids.append(t.target)
            needs.needed[(cat, split)] = list(dict.fromkeys(ids))
    return needs


@dataclass
class FetchOptions:
    """Everything `fetch_fashioniq` needs besides the folders."""

    categories: Optional[Sequence[str]] = None
    splits: Sequence[str] = ("train", "val", "test")
    settings: RunnerSettings = field(default_factory=RunnerSettings)
    retry_dead: bool = False
    progress: bool = True


def fetch_fashioniq(
    root: Path,
    lists_dir: Optional[Path] = None,
    options: Optional[FetchOptions] = None,
    *,
    downloader: Optional[Downloader] = None,
    sleep: Callable[[float], None] = time.sleep,
    limiter: Optional[HostRateLimiter] = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Download what ``root``'s Fashion-IQ annotations need; returns the report (also written to fetch_report.json).

    ``downloader`` defaults to `UrllibDownloader`; tests inject their own (or point the real one at a local server).
    Raises `FetchSetupError` for unusable inputs. On KeyboardInterrupt the report is written with
    ``"complete": false`` and the interrupt propagates.
    """
    options = options or FetchOptions()
    root = Path(root)
    try:
        ds = FashionIQ(root, categories=options.categories)
    except ValueError as exc:  # DatasetLayoutError or unknown categories
        raise FetchSetupError(f"{exc}. Put the annotation files of github.com/XiaoxiaoGuo/fashion-iq (captions/ and "
                              "image_splits/) under ROOT first") from None
    needs = plan_needs(ds, options.splits)
    if not needs.needed:
        raise FetchSetupError(f"none of the splits {', '.join(options.splits)} has its annotation files under {root}")
    lists_dir = Path(lists_dir) if lists_dir is not None else default_lists_dir(root)
    urls, warnings = read_url_lists(lists_dir, ds.categories)
    for w in warnings:
        log(f"warning: {w}")

    settings = options.settings
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    settings.replaced_dir = settings.replaced_dir or root / REPLACED_DIR
    stale = remove_stale_temp_files(images)
    if stale:
        log(f"removed {stale} partial downloads left by an interrupted run")
    journal = FetchJournal(root / JOURNAL_FILE)
    previous = journal.load()

    state = _Ledger(needs=needs, urls=urls)
    to_verify, jobs = _sort_needed_images(needs, urls, images, previous, state, lists_dir, options.retry_dead)
    if to_verify:
        jobs += _verify_existing_files(to_verify, state, urls, images, settings, options.progress, lists_dir)
    jobs.sort(key=lambda j: j.image_id)
    log(f"Fashion-IQ under {root}: {len(needs.all_ids()):,} images needed, {len(state.present):,} already on disk, "
        f"{len(jobs):,} to download, {len(state.dead):,} known dead")

    started = time.monotonic()
    complete = False
    try:
        with journal.open() as jf:
            def record(outcome: DownloadOutcome) -> None:
                state.add(outcome)
                jf.write(_json_line(outcome.journal_record()))

            run_downloads(jobs, downloader or UrllibDownloader(), settings, record, total=len(jobs),
                          progress=options.progress, sleep=sleep, limiter=limiter)
        complete = True
    finally:
        report = state.report(root, lists_dir, options, complete, time.monotonic() - started)
        write_json_atomic(root / REPORT_FILE, report)
    return report


def _sort_needed_images(needs, urls: dict[str, str], images: Path, previous: dict, state: "_Ledger",
                        lists_dir: Path, retry_dead: bool) -> tuple[list[tuple[str, Path]], list[DownloadJob]]:
    """Sort every needed image into: on disk and vouched for by the journal (``state.present``), on disk but to be
    decoded again (returned first), dead (``state.dead``: no URL, or dead for good in an earlier run), or to be
    downloaded (returned second)."""
    to_verify: list[tuple[str, Path]] = []
    jobs: list[DownloadJob] = []
    for image_id in needs.all_ids():
        existing = find_existing(images, image_id)
        rec = previous.get(image_id)
        if existing is not None:
            vouched = rec and rec.get("ok") and rec.get("file") == existing.name \
                and rec.get("bytes") == existing.stat().st_size
            if vouched:
                state.present[image_id] = str(existing)     # verified when it was downloaded
            else:
                to_verify.append((image_id, existing))
        elif image_id not in urls:
            state.dead[image_id] = {"url": None, "reason": f"no URL for this ASIN in the asin2url lists in {lists_dir}"}
        elif rec and not rec.get("ok") and not rec.get("transient") and not retry_dead \
                and rec.get("url") == urls[image_id]:
            state.dead[image_id] = {"url": rec.get("url"), "reason": rec.get("reason"), "from_previous_run": True}
        else:
            jobs.append(DownloadJob(image_id, urls[image_id], images))
    return to_verify, jobs


def _json_line(obj: dict) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False) + "\n"


def _verify_existing_files(items, state: "_Ledger", urls, images: Path, settings: RunnerSettings, progress: bool,
                           lists_dir: Path) -> list[DownloadJob]:
    """Decode files found on disk that the journal does not vouch for; unreadable ones get downloaded again."""
    from tqdm import tqdm

    jobs = []
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        results = pool.map(lambda item: verify_existing(item[1], settings.verify), items)
        for (image_id, path), reason in tqdm(zip(items, results), total=len(items), desc="checking files on disk",
                                             unit="img", disable=not progress, leave=False):
            if reason is None:
                state.present[image_id] = str(path)
            elif image_id in urls:
                state.unreadable_on_disk[image_id] = f"{path}: {reason}"
                jobs.append(DownloadJob(image_id, urls[image_id], images, replaces=path))
            else:
                state.dead[image_id] = {"url": None, "reason": f"the file on disk is unreadable ({reason}) and there "
                                                               f"is no URL for it in the lists in {lists_dir}"}
    return jobs


@dataclass
class _Ledger:
    """What is known about every needed image; turned into the report."""

    needs: FashionIQNeeds
    urls: dict[str, str]
    present: dict[str, str] = field(default_factory=dict)       # on disk before this run, verified
    downloaded: dict[str, DownloadOutcome] = field(default_factory=dict)
    dead: dict[str, dict] = field(default_factory=dict)
    unreadable_on_disk: dict[str, str] = field(default_factory=dict)

    def add(self, outcome: DownloadOutcome) -> None:
        if outcome.ok:
            self.downloaded[outcome.image_id] = outcome
            self.dead.pop(outcome.image_id, None)
        else:
            self.dead[outcome.image_id] = {"url": outcome.url, "reason": outcome.reason,
                                           "attempts": outcome.attempts, "transient": outcome.transient}

    def report(self, root: Path, lists_dir: Path, options: FetchOptions, complete: bool, seconds: float) -> dict:
        users = self.needs.users()
        on_disk = set(self.present) | set(self.downloaded)
        per_split = []
        split_order = {s: i for i, s in enumerate(FashionIQ.SPLITS)}
        for (cat, split), ids in sorted(self.needs.needed.items(), key=lambda kv: (split_order[kv[0][1]], kv[0][0])):
            per_split.append({
                "category": cat, "split": split, "needed": len(ids),
                "fetched": sum(i in on_disk for i in ids),
                "downloaded_this_run": sum(i in self.downloaded for i in ids),
                "dead": sum(i in self.dead for i in ids),
                "not_attempted": sum(i not in on_disk and i not in self.dead for i in ids),
            })
        dead = [{"asin": i, **info, "needed_by": users.get(i, [])} for i, info in sorted(self.dead.items())]
        s = options.settings
        return {
            "dataset": "fashioniq",
            "root": str(root),
            "lists": str(lists_dir),
            "complete": complete,
            "seconds": round(seconds, 1),
            "settings": {"workers": s.workers, "per_host_rate": s.per_host_rate, "timeout": s.timeout,
                         "retries": s.policy.retries, "backoff": s.policy.backoff, "min_side": s.verify.min_side,
                         "convert_other_formats": s.verify.convert_other_formats, "retry_dead": options.retry_dead},
            "totals": {"needed": len(users), "fetched": len(on_disk), "already_present": len(self.present),
                       "downloaded_this_run": len(self.downloaded), "dead": len(self.dead),
                       "not_attempted": len(users) - len(on_disk) - len(self.dead),
                       "bytes_downloaded": sum(o.bytes for o in self.downloaded.values())},
            "splits": per_split,
            "absent_splits": [{"category": c, "split": s_, "missing_files": files}
                              for (c, s_), files in sorted(self.needs.absent.items())],
            "dead": dead,
            "converted": [{"asin": o.image_id, "file": o.file, "from": o.converted_from}
                          for o in self.downloaded.values() if o.converted_from],
            "replaced_unreadable": [{"asin": i, "was": self.unreadable_on_disk[i], "moved_to": o.replaced}
                                    for i, o in self.downloaded.items() if o.replaced],
        }


def render_summary(report: dict) -> str:
    """The end-of-run summary printed on stdout."""
    t = report["totals"]
    lines = [f"Fashion-IQ images under {report['root']}/images: {t['fetched']:,} of {t['needed']:,} on disk "
             f"({t['downloaded_this_run']:,} downloaded now, {t['already_present']:,} already there), "
             f"{t['dead']:,} dead" + (f", {t['not_attempted']:,} not attempted (interrupted)" if t["not_attempted"]
                                      else "")]
    rows = [["category", "split", "needed", "fetched", "dead"]]
    rows += [[r["category"], r["split"], f"{r['needed']:,}", f"{r['fetched']:,}", f"{r['dead']:,}"]
             for r in report["splits"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
              for r in rows]
    for a in report["absent_splits"]:
        lines.append(f"  {a['category']}/{a['split']}: absent (no annotation files), nothing to fetch")
    reasons: dict[str, int] = {}
    for d in report["dead"]:
        key = str(d["reason"])
        key = "HTTP " + key.split()[1] if key.startswith("HTTP ") else key.split(" (")[0]
        reasons[key] = reasons.get(key, 0) + 1
    if reasons:
        lines.append("  dead by reason: " + "; ".join(f"{k}: {v:,}" for k, v in
                                                      sorted(reasons.items(), key=lambda kv: -kv[1])))
    if report["converted"]:
        lines.append(f"  {len(report['converted']):,} images were converted to PNG (listed in the report)")
    if report["replaced_unreadable"]:
        lines.append(f"  {len(report['replaced_unreadable']):,} unreadable files on disk were replaced; the old ones "
                     f"were moved to {REPLACED_DIR}/")
    lines.append(f"Report: {Path(report['root']) / REPORT_FILE} (every dead image with its URL and reason)")
    if t["dead"]:
        lines.append("Next: python -m data_prep.check --dataset fashioniq --root ROOT shows the reduced protocol "
                     "(queries and gallery kept per split); train and evaluate with --skip-missing")
    if not report["complete"]:
        lines.append("Interrupted: rerun the same command to resume (files already on disk are not downloaded again)")
    return "\n".join(lines)
