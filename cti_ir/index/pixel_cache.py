"""Decoded pixels: a model's preprocessing split into a per-image uint8 stage and a per-batch float stage, and a
memory-mapped cache of the uint8 stage.

open_clip's inference transform is ``Resize -> CenterCrop -> convert("RGB") -> ToTensor -> Normalize``. Everything
up to the crop works on a PIL image; ``ToTensor`` only turns its bytes into floats divided by 255 and ``Normalize``
subtracts a mean and divides by a standard deviation. ``PixelPipeline`` keeps the two halves apart:

- ``to_uint8(image)``: the PIL half, returning the cropped image as a ``(3, H, W)`` uint8 tensor (a quarter of the
  bytes of the float tensor; what a data-loader worker sends, and what the cache stores);
- ``finish(batch)``: the float half, applied once to a whole ``(B, 3, H, W)`` uint8 batch with the very same
  operations (``float() / 255`` then ``torchvision``'s ``normalize``), so the result is bit-identical to
  ``torch.stack([preprocess(img) for img in images])`` while costing one vectorised step per batch instead of a
  dozen small tensor operations per image.

``ImageCache`` stores the uint8 stage of a list of image files once (per dataset and input size) in a
memory-mapped ``.npy``; see its docstring.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

CACHE_FORMAT_VERSION = 1
PIXELS_FILE = "pixels.npy"
INDEX_FILE = "cache_info.json"

_TO_TENSOR = ("ToTensor", "MaybeToTensor")


class PixelPipeline:
    """A preprocessing transform split at ``ToTensor`` (see the module docstring)."""

    def __init__(self, pil_stage: Sequence[Callable], mean: Sequence[float] | None, std: Sequence[float] | None):
        self.pil_stage = list(pil_stage)
        self.mean = None if mean is None else [float(v) for v in mean]
        self.std = None if std is None else [float(v) for v in std]

    @classmethod
    def of(cls, preprocess) -> "PixelPipeline | None":
        """The split of a torchvision ``Compose`` ending in ``ToTensor`` [+ ``Normalize``]; None for anything else
        (the caller then keeps calling ``preprocess`` per image)."""
        transforms = list(getattr(preprocess, "transforms", None) or [])
        names = [type(t).__name__ for t in transforms]
        cut = next((i for i, name in enumerate(names) if name in _TO_TENSOR), None)
        if cut is None:
            return None
        rest = transforms[cut + 1:]
        if len(rest) > 1 or (rest and type(rest[0]).__name__ != "Normalize"):
            return None
        mean, std = (rest[0].mean, rest[0].std) if rest else (None, None)
        return cls(transforms[:cut], mean, std)

    def to_uint8(self, image) -> torch.Tensor:
        """The PIL half: a ``(3, H, W)`` uint8 tensor of the resized, cropped RGB image."""
        for t in self.pil_stage:
            image = t(image)
        array = np.array(image, dtype=np.uint8, copy=True)
        if array.ndim == 2:  # a transform left a single-channel image: ToTensor would give 1 channel too
            array = array[:, :, None]
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()

    def finish(self, pixels: torch.Tensor) -> torch.Tensor:
        """The float half on a uint8 batch ``(..., 3, H, W)``: exactly what ToTensor + Normalize give per image."""
        from torchvision.transforms import functional as F

        out = pixels.to(dtype=torch.get_default_dtype()).div(255)
        if self.mean is not None:
            out = F.normalize(out, self.mean, self.std, inplace=True)
        return out

    def pixels(self, image) -> torch.Tensor:
        """The whole transform's ``(3, H, W)`` output for one PIL image, the float half in NumPy.

        The same values bit for bit as the transform itself (float32 division by 255, then subtraction of the mean
        and division by the std, elementwise and in the order ToTensor + Normalize use), without PyTorch's per-call
        overhead: a query's path. Under a default dtype other than float32 it is the transform's own float half.
        """
        if torch.get_default_dtype() != torch.float32:
            return self.finish(self.to_uint8(image))
        for t in self.pil_stage:
            image = t(image)
        array = np.asarray(image, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        out = array.transpose(2, 0, 1).astype(np.float32)
        out /= np.float32(255)
        if self.mean is not None:
            out -= np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
            out /= np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        return torch.from_numpy(out)

    def describe(self) -> dict:
        """What decides the pixels, for a cache's fingerprint: the output shape and a hash of what the PIL stage
        makes of a few test pictures of awkward sizes. Two pipelines that resize and crop alike share caches even
        when their transforms print differently (open_clip's own and one rebuilt from a checkpoint's config)."""
        from PIL import Image

        digest = hashlib.sha256()
        rng = np.random.default_rng(0)
        for size in ((97, 131), (300, 200), (31, 40), (64, 64)):
            picture = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
            digest.update(self.to_uint8(picture).numpy().tobytes())
        return {"shape": list(self.output_shape()), "pil_stage_outputs": digest.hexdigest()[:24]}

    def output_shape(self) -> tuple[int, int, int]:
        """(3, H, W) of ``to_uint8``'s result, found by running the stage on a blank image."""
        from PIL import Image

        return tuple(self.to_uint8(Image.new("RGB", (97, 131))).shape)


def input_side(preprocess) -> int | None:
    """The smallest side the model looks at (its crop size), for decoding JPEGs at reduced scale; None if unknown."""
    for t in getattr(preprocess, "transforms", None) or []:
        if type(t).__name__ in ("CenterCrop", "Resize"):
            size = getattr(t, "size", None)
            if isinstance(size, int):
                return size
            if isinstance(size, (list, tuple)) and size:
                return int(max(size))
    return None


# ------------------------------------------------------------------------------------------------------ the cache
def default_cache_root() -> Path:
    """Where image caches live by default: ``$CTI_IR_IMAGE_CACHE`` if set, else ``~/.cache/cti-ir/images``."""
    return Path(os.environ.get("CTI_IR_IMAGE_CACHE") or "~/.cache/cti-ir/images").expanduser()


def cache_fingerprint(paths: Sequence[str], pipeline: PixelPipeline) -> str:
    """A hash of what decides the cached pixels: each file's path, size and modification time, and the pipeline.

    A file that is replaced or edited changes its size or time, so the fingerprint (and the cache used) changes
    with it; reading every file's bytes to hash them would cost as much as decoding them.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": CACHE_FORMAT_VERSION, "pipeline": pipeline.describe()},
                             sort_keys=True).encode())
    for path in paths:
        st = os.stat(path)
        digest.update(f"\n{path}\t{st.st_size}\t{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


class ImageCache:
    """The uint8 pixels (``PixelPipeline.to_uint8``) of a list of image files, in one memory-mapped ``.npy``.

    A cache folder ``ROOT/<fingerprint>/`` holds ``pixels.npy`` (N x 3 x H x W uint8, row i = ``paths[i]``) and
    ``cache_info.json`` (format, fingerprint, shape, the paths). It is built once per dataset and input size (the
    pipeline, with its sizes, is part of the fingerprint) into a temporary folder renamed into place when complete,
    so an interrupted build leaves nothing half-written and concurrent builders of the same cache cannot see each
    other's partial files. Opening checks the fingerprint against the files as they are now.
    """

    def __init__(self, folder: Path, paths: list[str], pixels: np.ndarray):
        self.folder, self.paths, self.array = folder, paths, pixels
        self.rows = {p: i for i, p in enumerate(paths)}

    def __len__(self) -> int:
        return len(self.paths)

    def __contains__(self, path) -> bool:
        return str(path) in self.rows

    def pixels(self, path) -> torch.Tensor:
        """The cached ``(3, H, W)`` uint8 pixels of an image file (a copy: the map stays read-only)."""
        return torch.from_numpy(np.array(self.array[self.rows[str(path)]]))

    @classmethod
    def open(cls, folder: str | Path, paths: Sequence[str] | None = None, pipeline: PixelPipeline | None = None
             ) -> "ImageCache":
        """Open a complete cache folder; with ``paths`` and ``pipeline``, check that it is theirs and current."""
        folder = Path(folder)
        info = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        if paths is not None and pipeline is not None:
            if info["fingerprint"] != cache_fingerprint(paths, pipeline) or info["paths"] != list(paths):
                raise ValueError(f"the image cache {folder} does not match these images (some changed since it was "
                                 f"built); delete it or let it be rebuilt")
        pixels = np.load(folder / PIXELS_FILE, mmap_mode="r", allow_pickle=False)
        if tuple(pixels.shape) != (len(info["paths"]), *info["shape"]):
            raise ValueError(f"the image cache {folder} is damaged ({PIXELS_FILE} has shape {pixels.shape}); "
                             f"delete it and run again")
        return cls(folder, list(info["paths"]), pixels)

    @classmethod
    def open_or_build(cls, root: str | Path, paths: Sequence[str], pipeline: PixelPipeline, workers: int = 0,
                      progress: bool = True, log: Callable[[str], None] | None = None) -> "ImageCache":
        """The cache of ``paths`` under ``root``: opened if built before for these very files, else built now."""
        paths = sorted({str(p) for p in paths})
        fingerprint = cache_fingerprint(paths, pipeline)
        folder = Path(root).expanduser() / fingerprint
        if (folder / INDEX_FILE).is_file():
            if log:
                log(f"image cache: {len(paths)} images from {folder}")
            return cls.open(folder)
        if log:
            log(f"image cache: decoding {len(paths)} images once into {folder} (later runs on these images "
                f"read them from there)")
        _build(folder, paths, pipeline, fingerprint, workers, progress)
        return cls.open(folder)


def _build(folder: Path, paths: list[str], pipeline: PixelPipeline, fingerprint: str, workers: int,
           progress: bool) -> None:
    import shutil
    import tempfile

    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from cti_ir.model.images import load_image

    shape = pipeline.output_shape()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{fingerprint}.", dir=folder.parent))
    try:
        pixels = np.lib.format.open_memmap(tmp / PIXELS_FILE, mode="w+", dtype=np.uint8,
                                           shape=(len(paths), *shape))

        class Decoded:  # decoded in full, exactly as an uncached example is: the cache must not change a pixel
            def __len__(self):
                return len(paths)

            def __getitem__(self, i):
                return pipeline.to_uint8(load_image(paths[i]))

        # A private generator: a DataLoader seeds its workers from the global RNG otherwise, and building the cache
        # would then change the training run that asked for it (its dropout, its initialisation afterwards).
        loader = DataLoader(Decoded(), batch_size=64, num_workers=workers, collate_fn=torch.stack,
                            generator=torch.Generator().manual_seed(0))
        row = 0
        for batch in tqdm(loader, total=len(loader), desc="image cache", unit="batch", disable=not progress,
                          file=sys.stderr):
            pixels[row:row + len(batch)] = batch.numpy()
            row += len(batch)
        pixels.flush()
        del pixels
        info = {"format": "cti-ir-image-cache", "format_version": CACHE_FORMAT_VERSION, "fingerprint": fingerprint,
                "shape": list(shape), "pipeline": pipeline.describe(), "paths": paths}
        (tmp / INDEX_FILE).write_text(json.dumps(info), encoding="utf-8")
        try:
            os.replace(tmp, folder)  # atomic; fails if another process finished the same cache first
        except OSError:
            if not (folder / INDEX_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
