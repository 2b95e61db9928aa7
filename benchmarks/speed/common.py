"""What the speed benchmark's parts share: the generated query pictures and texts, and latency percentiles.

``bench_speed`` imports the parts (``speed_search``, ``speed_indexing``, ``speed_training``, ``speed_app``); the
parts import this module and never ``bench_speed``, so imports run one way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

CATEGORIES = ("dress", "shirt", "toptee")
MODIFICATIONS = (
    "is red and has long sleeves", "is shorter and black", "has a floral print", "is blue with no sleeves",
    "is more casual and white", "has a v-neck and is green", "is longer with a belt", "has stripes and is grey",
    "is darker and more formal", "has a higher heel", "is pink with ruffles", "is made of denim",
)


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean / max in milliseconds, and the sample count."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        return {"n": 0, "p50_ms": math.nan, "p95_ms": math.nan, "mean_ms": math.nan, "max_ms": math.nan}
    return {"n": int(ms.size), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean()), "max_ms": float(ms.max())}


def product_image(seed: int, size: int = 256):
    """A product-like picture (a garment shape with a stripe on a plain background), distinct per seed."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)

    def colour():
        return tuple(int(c) for c in rng.integers(0, 256, 3))

    img = Image.new("RGB", (size, size), colour())
    draw = ImageDraw.Draw(img)
    a, b = sorted(int(v) for v in rng.integers(size // 16, size - size // 16, 2))
    box = (a // 2, a // 3, max(b, a // 2 + size // 8), size - size // 16)
    (draw.ellipse, draw.rectangle)[seed % 2](box, fill=colour(), outline=colour(), width=max(1, size // 64))
    y = int(rng.integers(0, size))
    draw.line((0, y, size, y), fill=colour(), width=max(1, size // 32))
    return img


def write_image_folder(folder: Path, n: int, size: int, seed: int = 0) -> Path:
    """``n`` JPEG product pictures in ``folder/<category>/``, like a shop's photo folder."""
    for i in range(n):
        path = folder / CATEGORIES[i % len(CATEGORIES)] / f"item-{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        product_image(seed + i, size).save(path, quality=90)
    return folder
