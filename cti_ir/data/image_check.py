"""Checking that image files exist and decode (`check_image_files`), with a progress bar and threads."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image

from cti_ir.data.common import ImageCheckReport, MissingImagesError

log = logging.getLogger("cti_ir.data")


def check_image_files(
    ids: Iterable[str],
    find: Callable[[str], Optional[Path]],
    expected: Callable[[str], object],
    *,
    skip_missing: bool = False,
    verify: bool = False,
    progress: bool = False,
    workers: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    what: str = "images",
    hint: Callable[[], str] = lambda: "",
) -> ImageCheckReport:
    """Check that each id has an image file (and, with ``verify``, that it decodes).

    Raises `MissingImagesError` when something is wrong, unless ``skip_missing`` is set: then the problem is
    logged as a warning and the report returned, so the caller can drop what it names.
    """
    unique = list(dict.fromkeys(ids))
    report = ImageCheckReport(checked=len(unique), verified=verify)
    present: list[tuple[str, Path]] = []
    for image_id in unique:
        path = find(image_id)
        if path is None:
            report.missing.append(image_id)
            report.paths[image_id] = str(expected(image_id))
        else:
            present.append((image_id, path))
    if verify and present:
        for image_id, path, reason in _decode_all(present, progress, workers, max_pixels):
            if reason is not None:
                report.unreadable.append(image_id)
                report.paths[image_id] = str(path)
                report.reasons[image_id] = reason
    if not report.ok:
        if not skip_missing:
            raise MissingImagesError(report, what, hint() if report.missing else "")
        log.warning("skipping unusable %s: %s", what, report.summary())
    return report


def _decode_all(items: Sequence[tuple[str, Path]], progress: bool, workers: int, max_pixels: int):
    from tqdm import tqdm  # only needed when decoding; keeps `import cti_ir.data` light

    def one(item: tuple[str, Path]) -> tuple[str, Path, Optional[str]]:
        image_id, path = item
        try:
            load_image(path, max_pixels=max_pixels)
        except ImageLoadError as exc:
            return image_id, path, exc.reason
        return image_id, path, None

    # Progress goes to stderr (tqdm's default) so that --json output on stdout stays one object.
    bar = tqdm(total=len(items), desc="decoding images", unit="img", disable=not progress, leave=False)
    try:
        if workers <= 1:
            for item in items:
                yield one(item)
                bar.update()
        else:
            # PIL releases the GIL while decoding, so threads give a real speed-up here.
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(one, items):
                    yield result
                    bar.update()
    finally:
        bar.close()
