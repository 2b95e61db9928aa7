"""The unlabeled images of label-free adaptation: finding them, checking them, and preparing them once.

Preparation decodes every image once, keeps the preprocessed pixels (float16, in the work folder, when they fit
``cache_limit_gb``) and the frozen model's L2-normalised features, which the pseudo-labels and the
nearest-neighbour graph are computed from. Training then reads pixels from that cache instead of decoding PNG/JPEG
files every epoch; the images still go through the whole image tower, since the adapters sit inside its blocks.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from cti_ir.files import write_atomic, write_json_atomic
from cti_ir.index.catalogue import IMAGE_SUFFIXES
from cti_ir.model.images import ImageLoadError, load_image

from training.examples import example_rng

PREPARED_DIR = "prepared"
LIST_FILE = "images.json"
FEATURES_FILE = "features.npy"
PIXELS_FILE = "pixels.npy"


class BadImagesError(ValueError):
    """The image folder holds files that are not readable images (listed in the message)."""


@dataclass
class ImageScan:
    """The files under an image folder: candidate images and other files (hidden files are ignored)."""

    root: Path
    images: list[Path]
    other_files: list[Path]

    def signature(self) -> str:
        """A hash of every candidate's relative path, size and modification time: changes when the folder does."""
        digest = hashlib.sha256()
        for p in self.images:
            st = p.stat()
            digest.update(f"{p.relative_to(self.root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]


def scan_images(folder: str | Path) -> ImageScan:
    """Every file under ``folder`` (recursively, sorted), split into image files (by extension) and the rest.

    Hidden files and folders (``.DS_Store``, ``.thumbnails/``) are ignored: they are not part of a catalogue.
    """
    root = Path(folder).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    images, others = [], []
    for p in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(root).parts) or not p.is_file():
            continue
        (images if p.suffix.lower() in IMAGE_SUFFIXES else others).append(p)
    if not images:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return ImageScan(root, images, others)


def _bad_message(bad: list[tuple[str, str]], root: Path) -> str:
    shown = "; ".join(f"{path}: {reason}" for path, reason in bad[:5])
    more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
    return (f"{len(bad)} file(s) under {root} are not readable images: {shown}{more}. Remove them, or pass "
            f"--skip-bad to leave them out (they are listed in the work folder's prepared/{LIST_FILE})")


@dataclass
class PreparedImages:
    """The usable images, their frozen features and (when cached) their preprocessed pixels."""

    root: Path
    paths: list[str]                  # relative to root, in feature order
    features: np.ndarray              # (N, D) float32, L2-normalised, from the frozen model
    pixels: np.ndarray | None         # (N, C, H, W) float16 memory map, or None: decode from the files
    preprocess: Callable
    skipped: list[dict]

    def __len__(self) -> int:
        return len(self.paths)

    def pixels_of(self, index: int) -> torch.Tensor:
        """Preprocessed pixels of image ``index`` (float32)."""
        if self.pixels is not None:
            return torch.from_numpy(np.asarray(self.pixels[index], dtype=np.float32))
        return self.preprocess(load_image(self.root / self.paths[index]))


@torch.no_grad()
def prepare_images(model, folder: str | Path, work: Path, skip_bad: bool = False, batch_size: int = 128,
                   cache_limit_gb: float = 4.0, progress: bool = True) -> PreparedImages:
    """Check, decode and embed the images under ``folder`` with the frozen ``model``; reuse a finished preparation.

    Raises ``BadImagesError`` when some files are not readable images and ``skip_bad`` is false.
    """
    scan = scan_images(folder)
    out = work / PREPARED_DIR
    key = {"root": str(scan.root), "signature": scan.signature(), "others": [str(p) for p in scan.other_files],
           "model": model.fingerprint, "skip_bad": skip_bad, "cache_limit_gb": cache_limit_gb}
    listing = out / LIST_FILE
    if listing.is_file():
        saved = json.loads(listing.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            return _open_prepared(out, saved, scan.root, model.preprocess)
    # Every problem is collected before stopping, so that one run reports them all.
    bad = [(str(p), "not an image file (unknown extension)") for p in scan.other_files]
    size = model.preprocess_cfg.get("size", 224)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    cache_bytes = len(scan.images) * 3 * h * w * 2
    use_cache = cache_bytes <= cache_limit_gb * 1e9
    out.mkdir(parents=True, exist_ok=True)
    listing.unlink(missing_ok=True)  # the listing marks a finished preparation: remove it until this one is
    pixels_tmp = out / f".{PIXELS_FILE}.tmp"
    cache = np.lib.format.open_memmap(pixels_tmp, mode="w+", dtype=np.float16,
                                      shape=(len(scan.images), 3, h, w)) if use_cache else None
    model.eval()
    kept, feats, batch, batch_rows = [], [], [], []

    def flush():
        if batch:
            x = torch.stack(batch)
            feats.append(model.encode_images(x.to(model.device)).float().cpu().numpy())
            if cache is not None:
                cache[batch_rows[0]: batch_rows[0] + len(batch)] = x.numpy().astype(np.float16)
            batch.clear()
            batch_rows.clear()

    bar = tqdm(scan.images, desc="preparing images", unit="img", disable=not progress, file=sys.stderr)
    for p in bar:
        try:
            x = model.preprocess(load_image(p))
        except ImageLoadError as e:
            bad.append((str(p), e.reason))
            continue
        batch_rows.append(len(kept))
        batch.append(x)
        kept.append(p.relative_to(scan.root).as_posix())
        if len(batch) == batch_size:
            flush()
    flush()
    bar.close()
    if bad and not skip_bad:
        if cache is not None:
            del cache
        pixels_tmp.unlink(missing_ok=True)
        raise BadImagesError(_bad_message(bad, scan.root))
    if not kept:
        raise BadImagesError(_bad_message(bad, scan.root) if bad else f"no readable images under {scan.root}")
    features = np.concatenate(feats)
    write_atomic(out / FEATURES_FILE, lambda tmp: _save_npy(tmp, features))
    if cache is not None:
        cache.flush()
        del cache
        if len(kept) < len(scan.images):  # rows of skipped files are at the end, unused: trim them
            full = np.load(pixels_tmp, mmap_mode="r")
            write_atomic(out / PIXELS_FILE, lambda tmp: _save_npy(tmp, np.asarray(full[:len(kept)])))
            del full
            pixels_tmp.unlink()
        else:
            pixels_tmp.replace(out / PIXELS_FILE)
    else:
        (out / PIXELS_FILE).unlink(missing_ok=True)
    saved = {"key": key, "paths": kept, "cached_pixels": use_cache,
             "skipped": [{"path": path, "reason": reason} for path, reason in bad]}
    write_json_atomic(listing, saved, indent=None)  # last: marks the preparation finished
    return _open_prepared(out, saved, scan.root, model.preprocess)


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # through a file: np.save(path) would append ".npy" to the temporary name
        np.save(f, array)


def _open_prepared(out: Path, saved: dict, root: Path, preprocess: Callable) -> PreparedImages:
    features = np.load(out / FEATURES_FILE)
    pixels = np.load(out / PIXELS_FILE, mmap_mode="r") if saved["cached_pixels"] else None
    return PreparedImages(root, saved["paths"], features, pixels, preprocess, saved["skipped"])


@dataclass(frozen=True)
class Augmentation:
    """Photo-like changes applied to preprocessed pixels: what differs between two photos of one product.

    A random similarity transform (scale, rotation, shift; borders repeat the background), a mirror image, a
    brightness change and sensor noise. Colours are never shifted: colour is what several searches are about.
    The classifier of a clustering must then recognise an image's cluster whatever the photo, which is what makes
    the adapted features more invariant to the photo than the frozen ones (our choice; see the README).
    """

    mean: tuple[float, float, float]      # the preprocessing's normalisation, to change brightness in pixel space
    std: tuple[float, float, float]
    scale: tuple[float, float] = (0.8, 1.15)
    rotation_deg: float = 10.0
    shift: float = 0.08                   # fraction of the image size
    brightness: tuple[float, float] = (0.8, 1.2)
    noise_std: float = 0.02               # in [0, 1] pixel units
    flip: bool = True

    def __call__(self, pixels: torch.Tensor, rng) -> torch.Tensor:
        import math

        import torch.nn.functional as F

        s = rng.uniform(*self.scale)
        a = math.radians(rng.uniform(-self.rotation_deg, self.rotation_deg))
        tx, ty = rng.uniform(-self.shift, self.shift) * 2, rng.uniform(-self.shift, self.shift) * 2
        mirror = -1.0 if (self.flip and rng.random() < 0.5) else 1.0
        b = rng.uniform(*self.brightness)
        noise_seed = rng.getrandbits(31)
        # affine_grid maps output coordinates to input ones: zooming in by s samples a 1/s-sized window.
        theta = torch.tensor([[mirror * math.cos(a) / s, -math.sin(a) / s, tx],
                              [mirror * math.sin(a) / s, math.cos(a) / s, ty]], dtype=pixels.dtype)
        grid = F.affine_grid(theta[None], [1, *pixels.shape], align_corners=False)
        out = F.grid_sample(pixels[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
        mean = torch.tensor(self.mean, dtype=pixels.dtype)[:, None, None]
        std = torch.tensor(self.std, dtype=pixels.dtype)[:, None, None]
        raw = out * std + mean
        noise = torch.randn(raw.shape, generator=torch.Generator().manual_seed(noise_seed)) * self.noise_std
        raw = (raw * b + noise).clamp(0.0, 1.0)
        return (raw - mean) / std


def augmentation_for(preprocess_cfg: dict, flip: bool = True) -> Augmentation:
    """The augmentation for a model's preprocessing (its normalisation constants)."""
    return Augmentation(mean=tuple(preprocess_cfg.get("mean", (0.5, 0.5, 0.5))),
                        std=tuple(preprocess_cfg.get("std", (0.5, 0.5, 0.5))), flip=flip)


class AdaptationExamples:
    """Training examples: an image's pixels (augmented), its pseudo-labels at every granularity, its index.

    Indexed by ``(index, epoch)`` like every dataset of the shared loop, so the augmentation is a function of
    (seed, epoch, index) and a resumed run sees the same examples as an uninterrupted one.
    """

    def __init__(self, images: PreparedImages, labels: np.ndarray, seed: int, augment: Augmentation | None = None):
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} pseudo-label rows for {len(images)} images")
        self.images, self.labels = images, torch.as_tensor(labels, dtype=torch.long)
        self.seed, self.augment = seed, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, epoch = item
        pixels = self.images.pixels_of(index)
        if self.augment is not None:
            pixels = self.augment(pixels, example_rng(self.seed, epoch, index))
        return {"pixels": pixels, "labels": self.labels[index], "index": torch.tensor(index)}
