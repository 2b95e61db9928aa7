"""`Benchmark`: what `FashionIQ` and `Shoes` share (image lookup and checks, the public method signatures)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from cti_ir.model.images import DEFAULT_MAX_PIXELS

from cti_ir.data.common import EvalSplit, ImageCheckReport, ImageIndex, Triplet, filter_by_images, filter_triplets
from cti_ir.data.image_check import check_image_files


class Benchmark:
    """Behaviour shared by `FashionIQ` and `Shoes`: image lookup and checks on top of the annotation readers.

    Subclasses set ``name``, ``categories``, ``eval_split`` and ``_images`` (an `ImageIndex`), and implement
    ``_triplets``, ``split_images`` and ``_eval_splits`` on annotations alone.
    """

    name: str = ""
    categories: tuple[str, ...] = ()
    #: The split papers report on (Fashion-IQ: "val", Shoes: "test"); `eval_splits()` uses it by default.
    eval_split: str = ""
    protocols: tuple[str, ...] = ("standard",)
    root: Path
    _images: ImageIndex

    # -- annotation views, implemented per dataset -------------------------------------------------------------
    def _triplets(self, split: str, category: Optional[str]) -> list[Triplet]:
        raise NotImplementedError

    def _eval_splits(self, split: str, protocol: str) -> list[EvalSplit]:
        raise NotImplementedError

    def split_images(self, split: str, category: Optional[str] = None) -> list[str]:
        """Image pool of ``split`` (one category, or all of them deduplicated), file order."""
        raise NotImplementedError

    def _expected_path(self, image_id: str) -> Path:
        """Where the file for ``image_id`` would be if it existed (used in error messages)."""
        raise NotImplementedError

    def missing_annotation_files(self, split: str, category: Optional[str] = None) -> list[Path]:
        """Annotation files of ``split`` (one category or all) that do not exist; empty when the split is complete.

        A folder in a benchmark's layout may lack a split (a shop's or a lab's own set often has no test files):
        callers that go over every split use this to report it as absent instead of failing on the first file.
        """
        return []

    # -- shared API ---------------------------------------------------------------------------------------------
    def _missing_label(self, image_id: str) -> str:
        """How a missing image is named in reports: the expected file path."""
        return str(self._expected_path(image_id))

    def missing_images_hint(self) -> str:
        """Extra words for a missing-images error, e.g. that the image folder does not exist at all."""
        return ""

    def image_path(self, image_id: str) -> Path:
        """Path of the image file for ``image_id``; the expected (non-existing) path if there is none."""
        found = self._images.find(image_id)
        return found if found is not None else self._expected_path(image_id)

    def check_images(
        self,
        ids: Iterable[str],
        skip_missing: bool = False,
        *,
        verify: bool = False,
        progress: bool = False,
        workers: int = 1,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> ImageCheckReport:
        """Check that the images of ``ids`` exist (and decode, with ``verify``).

        Raises `MissingImagesError` naming the count and the first files, unless ``skip_missing``: then a warning is
        logged and the `ImageCheckReport` returned.
        """
        return check_image_files(
            ids, self._images.find, self._missing_label, skip_missing=skip_missing, verify=verify,
            progress=progress, workers=workers, max_pixels=max_pixels, what=f"{self.name} images under {self.root}",
            hint=self.missing_images_hint,
        )

    def triplets(
        self,
        split: str,
        category: Optional[str] = None,
        *,
        check: bool = False,
        skip_missing: bool = False,
        verify: bool = False,
    ) -> list[Triplet]:
        """Triplets of ``split`` (one category or all), file order.

        Annotation only by default. With ``check=True`` the images of every triplet must exist (`MissingImagesError`
        otherwise); ``skip_missing=True`` implies the check and drops triplets with a missing image instead, logging
        how many.
        """
        trips = self._triplets(split, category)
        if not (check or skip_missing):
            return trips
        ids = [t.reference for t in trips] + [t.target for t in trips if t.target is not None]
        report = self.check_images(ids, skip_missing=skip_missing, verify=verify)
        return filter_triplets(trips, report, f"{self.name} {split} {category or 'all'}")

    def eval_splits(
        self,
        split: Optional[str] = None,
        protocol: str = "standard",
        *,
        check: bool = True,
        skip_missing: bool = False,
        verify: bool = False,
    ) -> list[EvalSplit]:
        """One `EvalSplit` per category for ``split`` (default: the split papers report on) under ``protocol``.

        By default every query and gallery image must exist on disk, else `MissingImagesError` (count + first files).
        ``skip_missing=True`` drops queries whose reference or target is missing and missing gallery images instead,
        and records the counts on each `EvalSplit` (and logs them). ``check=False`` reads annotations only.
        ``verify=True`` also decodes every image (slow).
        """
        if protocol not in self.protocols:
            raise ValueError(
                f"unknown protocol {protocol!r} for {self.name}; available: {', '.join(self.protocols)}"
            )
        splits = self._eval_splits(split or self.eval_split, protocol)
        if not (check or skip_missing):
            return splits
        ids: list[str] = []
        for s in splits:
            ids.extend(s.gallery)
            for q in s.queries:
                ids.append(q.reference)
                ids.append(q.target)
        report = self.check_images(ids, skip_missing=skip_missing, verify=verify)
        return filter_by_images(splits, report)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, categories={list(self.categories)!r})"
