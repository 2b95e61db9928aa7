"""The CPU measurements behind the GPU recipe's memory and time estimates (docs/GPU.md).

    python -m benchmarks.accuracy.bench_recipe_inputs [--model ViT-B-32] [--out runs/recipe_inputs.json]

Measures, for a stage-3 model (open_clip backbone + adaptive composer, random weights: no download needed):

1. the parameter counts (exact);
2. the bytes autograd keeps for the backward pass per stage-3 triplet (two images and one caption) and per image, in
   fp32: every tensor saved for backward is counted once (``torch.autograd.graph.saved_tensors_hooks``), weights
   excluded, as the difference between two batch sizes (so anything fixed cancels);
3. JPEG decoding + the model's preprocessing, images per second on one core, for a Fashion-IQ-sized photo
   (300 x 445) and a shoe photo of the Attribute Discovery set (280 x 280).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.bench_recipe_inputs", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="ViT-B-32", help="open_clip architecture (default ViT-B-32)")
    p.add_argument("--composer", default="adaptive", help="composer whose parameters are counted (default adaptive)")
    p.add_argument("--decode-images", type=int, default=300, help="images decoded per timing (default 300)")
    p.add_argument("--out", default=None, help="also write the result as JSON to this file")
    return p


def saved_activation_bytes(model, batch: int, images_only: bool) -> int:
    """Bytes of the non-parameter tensors autograd saves in one stage-3 forward pass of ``batch`` triplets."""
    import torch

    param_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[tuple, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in param_storages:  # weights saved by linear layers are not activations
            seen[(ptr, t.storage_offset(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    size = model.preprocess_cfg.get("size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    pixels = torch.randn(2 * batch, 3, size, size)
    tokens = model.tokenize(["is red and has long sleeves and a v-neck"] * batch)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if images_only:
            model.encode_images(pixels[:batch])
        else:
            images = model.encode_images(pixels)
            query = model.compose(images[:batch], model.encode_tokens(tokens)).query
            (query @ images[batch:].T).logsumexp(1).mean()
    return sum(seen.values())


def decode_rate(model, size: tuple[int, int], n: int) -> float:
    """Images per second through ``load_image_bytes`` + the model's preprocessing, on the current thread."""
    import numpy as np
    from PIL import Image

    from cti_ir.model.images import load_image_bytes

    rng = np.random.default_rng(0)
    h, w = size
    arr = (rng.random((h, w, 3)) * 40 + np.linspace(0, 200, w)[None, :, None]).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    start = time.perf_counter()
    for _ in range(n):
        model.preprocess(load_image_bytes(data))
    return n / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from cti_ir.model.cir_model import CIRModel

    torch.set_num_threads(1)
    model = CIRModel.create(args.model, composer=args.composer)
    model.train()
    backbone = sum(p.numel() for p in model.backbone.parameters())
    visual = sum(p.numel() for p in model.backbone.visual.parameters())
    result = {
        "model": args.model,
        "params": {"backbone": backbone, "visual": visual, "text_and_rest": backbone - visual,
                   "composer": sum(p.numel() for p in model.composer.parameters())},
        "saved_for_backward_fp32_bytes_per_triplet":
            (saved_activation_bytes(model, 6, False) - saved_activation_bytes(model, 2, False)) / 4,
        "saved_for_backward_fp32_bytes_per_image":
            (saved_activation_bytes(model, 6, True) - saved_activation_bytes(model, 2, True)) / 4,
        "decode_preprocess_images_per_s_one_core": {
            "fashioniq_300x445": decode_rate(model, (445, 300), args.decode_images),
            "shoes_280x280": decode_rate(model, (280, 280), args.decode_images),
        },
    }
    text = json.dumps(result, indent=1)
    if args.out:
        from cti_ir.files import write_text_atomic

        write_text_atomic(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
