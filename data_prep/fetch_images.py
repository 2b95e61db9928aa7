"""Downloaded bytes to verified image files: the checks, atomic writes, the resume journal and the parallel runner.

Shared by the dataset fetchers (`data_prep.fetch_fashioniq`). What counts as an image: bytes that Pillow decodes
completely, in JPEG or PNG (the formats the readers look for), at least ``min_side`` pixels on each side. An HTML
error page, an empty body, a truncated file, a 1x1 placeholder are failures with a reason, never files on disk.
Nothing is converted unless asked (``convert_other_formats``), and then the report lists every converted file.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from cti_ir.files import write_atomic
from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, load_image_bytes

from data_prep.fetch_http import Downloader, FetchError, HostRateLimiter, HttpResponse, RetryPolicy, fetch_with_retries

#: File extension per served format. MPO is what Pillow calls a JPEG with extra embedded views (camera files).
STORED_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png"}
#: Extensions an existing image may have (those the Fashion-IQ reader accepts).
EXISTING_EXTENSIONS = (".jpg", ".png", ".jpeg", ".JPG", ".PNG", ".JPEG")
_STALE_TEMP = re.compile(r"^\..+\.(jpg|png)\..+\.tmp$")


@dataclass(frozen=True)
class VerifyOptions:
    """What a downloaded image must satisfy."""

    min_side: int = 16                 # smaller is a placeholder ("no image" pixel), not a product photo
    max_pixels: int = DEFAULT_MAX_PIXELS
    convert_other_formats: bool = False  # store GIF/WEBP/... re-encoded as PNG instead of refusing them


@dataclass(frozen=True)
class VerifiedImage:
    """Bytes to store and how they were judged."""

    data: bytes
    extension: str                    # ".jpg" or ".png"
    format: str                       # the format the server sent (Pillow's name)
    width: int
    height: int
    converted_from: Optional[str] = None


def verify_image_bytes(body: bytes, content_type: str, options: VerifyOptions) -> VerifiedImage:
    """Accept ``body`` as an image or raise a permanent `FetchError` saying what it is instead."""
    if not body:
        raise FetchError("empty response (0 bytes)", transient=False)
    head = body[:512].lstrip().lower()
    if content_type.startswith("text/") or head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise FetchError(f"a web page instead of an image (content-type {content_type or 'not given'}, "
                         f"{len(body):,} bytes)", transient=False)
    try:
        image = load_image_bytes(body, max_pixels=options.max_pixels)
    except ImageLoadError as exc:
        raise FetchError(exc.reason, transient=False) from None
    from PIL import Image

    with Image.open(io.BytesIO(body)) as probe:  # the header again, only for the format's name
        fmt = probe.format or "unknown"
    width, height = image.size
    if min(width, height) < options.min_side:
        raise FetchError(f"a {width}x{height} {fmt} image, smaller than --min-side {options.min_side} "
                         "(a placeholder, not a product photo)", transient=False)
    if fmt in STORED_FORMATS:
        return VerifiedImage(body, STORED_FORMATS[fmt], fmt, width, height)
    if not options.convert_other_formats:
        raise FetchError(f"served as {fmt}, not JPEG or PNG (the readers look for .jpg/.png files); rerun with "
                         "--convert-other-formats to store such images re-encoded as PNG", transient=False)
    out = io.BytesIO()
    image.save(out, format="PNG")  # lossless, from the decoded RGB image (transparency composited onto white)
    return VerifiedImage(out.getvalue(), ".png", fmt, width, height, converted_from=fmt)


def verify_existing(path: Path, options: VerifyOptions) -> Optional[str]:
    """Why the image file at ``path`` is unusable, or None when it decodes and is large enough."""
    try:
        image = load_image(path, max_pixels=options.max_pixels)
    except ImageLoadError as exc:
        return exc.reason
    if min(image.size) < options.min_side:
        return f"{image.size[0]}x{image.size[1]} pixels, smaller than --min-side {options.min_side}"
    return None


def find_existing(folder: Path, stem: str) -> Optional[Path]:
    """The image file ``folder/<stem>.jpg|.png|.jpeg`` when one exists."""
    for ext in EXISTING_EXTENSIONS:
        path = folder / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def remove_stale_temp_files(folder: Path) -> int:
    """Delete the temporary files a killed run left in ``folder`` (ours only, by their name); returns how many."""
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(folder):
        if entry.is_file() and _STALE_TEMP.match(entry.name):
            os.unlink(entry.path)
            removed += 1
    return removed


class FetchJournal:
    """Append-only record of each finished download (``fetch_journal.jsonl``), read back when a run resumes.

    One JSON object per line: ``{"id", "url", "ok", "file", "bytes", "reason", "transient"}``. A line cut short by a
    kill is ignored; the file it describes is then verified again by decoding (nothing is downloaded twice).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict]:
        """The last record per id."""
        records: dict[str, dict] = {}
        if not self.path.is_file():
            return records
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and "id" in rec:
                    records[str(rec["id"])] = rec
        return records

    def open(self):
        """The journal opened for appending, line-buffered (each record reaches the file as it is written)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.path, "a", encoding="utf-8", buffering=1)


@dataclass(frozen=True)
class DownloadJob:
    """One image to download: its id, URL, and the folder it goes to as ``<id><ext>``."""

    image_id: str
    url: str
    folder: Path
    replaces: Optional[Path] = None   # an existing unreadable file, moved aside once a good one is stored


@dataclass
class DownloadOutcome:
    """What became of one `DownloadJob`."""

    image_id: str
    url: str
    ok: bool
    file: Optional[str] = None
    bytes: int = 0
    format: Optional[str] = None
    converted_from: Optional[str] = None
    reason: Optional[str] = None
    transient: bool = False
    attempts: int = 0
    replaced: Optional[str] = None   # where a replaced unreadable file was moved

    def journal_record(self) -> dict:
        # The file's name only: the same folder may be given as a relative path in one run, absolute in the next.
        return {"id": self.image_id, "url": self.url, "ok": self.ok,
                "file": Path(self.file).name if self.file else None, "bytes": self.bytes,
                "reason": self.reason, "transient": self.transient}


@dataclass
class RunnerSettings:
    """How downloads are run: parallelism, politeness, patience and the image checks."""

    workers: int = 8
    per_host_rate: float = 10.0
    timeout: float = 20.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    replaced_dir: Optional[Path] = None   # where unreadable files that got replaced are moved


def download_one(job: DownloadJob, downloader: Downloader, limiter: HostRateLimiter, settings: RunnerSettings,
                 sleep: Callable[[float], None]) -> DownloadOutcome:
    """Download, verify and atomically store one image (runs in a worker thread)."""

    def accept(resp: HttpResponse) -> VerifiedImage:
        return verify_image_bytes(resp.body, resp.content_type, settings.verify)

    result = fetch_with_retries(job.url, downloader, accept, timeout=settings.timeout, limiter=limiter,
                                policy=settings.policy, sleep=sleep)
    if result.error is not None:
        return DownloadOutcome(job.image_id, job.url, ok=False, reason=result.error.reason,
                               transient=result.error.transient, attempts=result.attempts)
    image: VerifiedImage = result.value  # type: ignore[assignment]
    dest = job.folder / f"{job.image_id}{image.extension}"
    replaced = None
    if job.replaces is not None and job.replaces.exists() and settings.replaced_dir is not None:
        settings.replaced_dir.mkdir(parents=True, exist_ok=True)
        moved = settings.replaced_dir / job.replaces.name
        os.replace(job.replaces, moved)  # kept, not deleted: it was the user's file
        replaced = str(moved)
    write_atomic(dest, lambda tmp: Path(tmp).write_bytes(image.data))
    return DownloadOutcome(job.image_id, job.url, ok=True, file=str(dest), bytes=len(image.data), format=image.format,
                           converted_from=image.converted_from, attempts=result.attempts, replaced=replaced)


def run_downloads(
    jobs: Iterable[DownloadJob],
    downloader: Downloader,
    settings: RunnerSettings,
    on_outcome: Callable[[DownloadOutcome], None],
    *,
    total: int,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    limiter: Optional[HostRateLimiter] = None,
) -> None:
    """Run ``jobs`` on ``settings.workers`` threads; ``on_outcome`` is called in this thread as each one ends.

    A progress bar on stderr shows the rate, the megabytes stored and the dead count. On KeyboardInterrupt the
    queued jobs are cancelled, the running ones finish (bounded by the timeout), and the interrupt propagates.
    """
    from tqdm import tqdm

    limiter = limiter or HostRateLimiter(settings.per_host_rate)
    dead = stored = 0
    bar = tqdm(total=total, desc="fetching", unit="img", disable=not progress, file=sys.stderr, smoothing=0.05)
    pool = ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="fetch")
    pending: set[Future] = set()
    job_iter = iter(jobs)
    # Keep a bounded number of jobs queued, so that an interrupt does not have tens of thousands to cancel.
    window = max(1, settings.workers) * 4
    try:
        while True:
            while len(pending) < window:
                job = next(job_iter, None)
                if job is None:
                    break
                pending.add(pool.submit(download_one, job, downloader, limiter, settings, sleep))
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                outcome = fut.result()  # a BaseException raised in a worker (e.g. KeyboardInterrupt) surfaces here
                if outcome.ok:
                    stored += outcome.bytes
                else:
                    dead += 1
                on_outcome(outcome)
                bar.update()
                bar.set_postfix_str(f"dead {dead:,}, {stored / 1e6:,.1f} MB", refresh=False)
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
