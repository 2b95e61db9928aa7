"""Dataset readers: the Fashion-IQ and Shoes benchmarks, and image-caption corpora.

```python
from cti_ir.data import open_benchmark
ds = open_benchmark("fashioniq", "/data/fashioniq")
for split in ds.eval_splits():                # val, standard protocol, images checked
    split.name, split.queries, split.gallery
ds.triplets("train", "dress")                 # training triplets
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from cti_ir.model.images import ImageLoadError

from cti_ir.data.base import Benchmark
from cti_ir.data.common import (
    IMAGE_EXTENSIONS,
    DatasetLayoutError,
    EvalSplit,
    ImageCheckReport,
    ImageIndex,
    LabelsHiddenError,
    MissingImagesError,
    Query,
    Triplet,
)
from cti_ir.data.fashioniq import FashionIQ, join_captions
from cti_ir.data.image_text import ImageTextDataset, open_image_text
from cti_ir.data.shoes import Shoes

__all__ = [
    "BENCHMARKS",
    "IMAGE_EXTENSIONS",
    "Benchmark",
    "DatasetLayoutError",
    "EvalSplit",
    "FashionIQ",
    "ImageCheckReport",
    "ImageIndex",
    "ImageLoadError",
    "ImageTextDataset",
    "LabelsHiddenError",
    "MissingImagesError",
    "Query",
    "Shoes",
    "Triplet",
    "join_captions",
    "open_benchmark",
    "open_image_text",
]

#: Benchmark names accepted by `open_benchmark` (lower case; "-" and "_" ignored), by class.
BENCHMARKS = {"fashioniq": FashionIQ, "fiq": FashionIQ, "shoes": Shoes}


def open_benchmark(name: str, root: Union[str, Path], **kwargs) -> Union[FashionIQ, Shoes]:
    """Open benchmark ``name`` ("fashioniq" / "fashion-iq" / "fiq" or "shoes") stored under ``root``.

    ``kwargs`` go to the reader (e.g. ``categories=["dress"]`` for Fashion-IQ). Raises `DatasetLayoutError` when
    ``root`` does not look like that dataset.
    """
    key = name.lower().replace("-", "").replace("_", "")
    try:
        cls = BENCHMARKS[key]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; available: fashioniq, shoes") from None
    return cls(root, **kwargs)
