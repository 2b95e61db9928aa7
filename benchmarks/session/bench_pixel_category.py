"""Could a small image classifier fit on the catalogue's own photos guess an upload's category better?

    python -m benchmarks.session.bench_pixel_category --catalogue-seed 7 --work runs/session

The feasibility check behind the served photo category model (``cti_ir.index.photo_category_model``, the same
network; ``bench_upload_category`` measures it as served). The index's linear category model
(``cti_ir.index.category_model``) is a linear classifier on the stored vectors; with the demo model's 48-px image
tower it tells generated shirts from tops only about 60 % of the time, and shoe types under half
(``bench_upload_category``). This benchmark asks whether the photos themselves carry the difference: on a
generated catalogue (``--catalogue-seed``; made under ``--work`` if absent), it fits a small convolutional network
(four conv-batchnorm-ReLU-pool blocks, 16 to 64 channels, about 70,000 weights) on the photos of the ``train``
split at ``--pixels`` px, one network per layout (Fashion-IQ: dress, shirt, toptee; Shoes: the shoe-type folders),
for ``--steps`` steps of 128 photos with horizontal flips, and reports how often it names the category of
``--photos`` photos per category of the other splits (never seen in the fit). Beside it, on the same photos and
the same split, the index's linear category model fit on ``--checkpoint``'s vectors of the training photos.
Searching inside the guessed category, how often the guess is right is the share of the top 10 in the photo's
own category, the figure the page's default is held to.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import error, set_threads, write_report

LAYOUTS = ("fashioniq", "shoes")
BATCH = 128


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.session.bench_pixel_category",
                                description=__doc__.split("\n")[0])
    p.add_argument("--catalogue-seed", type=int, default=7,
                   help="seed of the generated catalogue (default 7: a seed no run was tuned on)")
    p.add_argument("--size", default="default", choices=("small", "default", "large"),
                   help="size of the generated catalogue (default: default, about 17,900 products)")
    p.add_argument("--work", default="runs/session", help="folder for the catalogue and the report")
    p.add_argument("--checkpoint", default="demo_model",
                   help="model whose vectors the linear category model is fit on, for comparison (default: "
                        "demo_model; 'none' to skip it)")
    p.add_argument("--pixels", type=int, default=64, help="side of the photos the network reads (default 64)")
    p.add_argument("--steps", type=int, default=600, help="training steps of 128 photos per layout (default 600)")
    p.add_argument("--photos", type=int, default=400, help="measured photos per category at most (default 400)")
    p.add_argument("--seed", type=int, default=0, help="seed of the network, its batches and the photos (default 0)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--out", default=None, help="report base path (default: WORK/pixel_category_s<catalogue seed>)")
    return p


def products(catalogue: Path, layout: str) -> list[dict]:
    """The layout's products with their category label (Shoes: the shoe-type folder, as the index has it)."""
    rows = [json.loads(line) for line in (catalogue / layout / "product_descriptions.jsonl").open(encoding="utf-8")]
    for row in rows:
        row["label"] = row["file_name"].split("/")[0] if layout == "shoes" else row["category"]
    return rows


def load_pixels(catalogue: Path, layout: str, rows: list[dict], side: int):
    """uint8 photos ``(N, 3, side, side)`` as a tensor."""
    import torch
    from PIL import Image

    arrays = []
    for row in rows:
        with Image.open(catalogue / layout / row["file_name"]) as image:
            arrays.append(np.asarray(image.convert("RGB").resize((side, side), Image.BILINEAR)))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def fit_and_guess(train_px, train_y, test_px, classes: int, steps: int, seed: int) -> tuple[np.ndarray, float]:
    """The network's guesses for ``test_px`` after ``steps`` steps on the training photos; and the fit's CPU s."""
    import torch
    import torch.nn.functional as F

    from cti_ir.index.photo_category_model import network

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    pixels = train_px.float().div(255)
    mean, std = pixels.mean((0, 2, 3), keepdim=True), pixels.std((0, 2, 3), keepdim=True)
    net = network(classes)
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    start = time.process_time()
    order = torch.randperm(len(pixels), generator=generator)
    position = 0
    net.train()
    for _ in range(steps):
        if position + BATCH > len(order):
            order, position = torch.randperm(len(pixels), generator=generator), 0
        batch = order[position:position + BATCH]
        position += BATCH
        x = (pixels[batch] - mean) / std
        flip = torch.rand(len(x), 1, 1, 1, generator=generator) < 0.5
        x = torch.where(flip, x.flip(3), x)
        loss = F.cross_entropy(net(x), train_y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    seconds = time.process_time() - start
    net.eval()
    with torch.no_grad():
        guesses = [net((test_px[i:i + 512].float().div(255) - mean) / std).argmax(1)
                   for i in range(0, len(test_px), 512)]
    return torch.cat(guesses).numpy(), seconds


def linear_guesses(checkpoint: str, catalogue: Path, layout: str, train: list[dict], test: list[dict]) -> list[str]:
    """The index's category model, fit on the checkpoint's vectors of the training photos, on the test photos."""
    import torch
    from PIL import Image

    from cti_ir.index.category_model import fit_category_model
    from cti_ir.model.checkpoint import load_checkpoint

    model = load_checkpoint(checkpoint)
    model.eval()

    def vectors(rows: list[dict]) -> np.ndarray:
        out = []
        for i in range(0, len(rows), 256):
            images = []
            for row in rows[i:i + 256]:
                with Image.open(catalogue / layout / row["file_name"]) as image:
                    images.append(model.preprocess(image.convert("RGB")))
            with torch.no_grad():
                out.append(model.encode_images(torch.stack(images)).float().numpy())
        return np.concatenate(out)

    fitted = fit_category_model(vectors(train), [{"categories": [r["label"]]} for r in train])
    return [g.category for g in fitted.guess(vectors(test))]


def measure_layout(args, catalogue: Path, layout: str) -> dict:
    """Per category: photos measured, how often the network and the linear model are right; the fit's time."""
    import torch

    rows = products(catalogue, layout)
    labels = sorted({r["label"] for r in rows})
    rng = np.random.default_rng(args.seed)
    train = [r for r in rows if r["split"] == "train"]
    test = []
    for label in labels:
        pool = [r for r in rows if r["split"] != "train" and r["label"] == label]
        test += [pool[i] for i in sorted(rng.permutation(len(pool))[:args.photos])]
    train_y = torch.tensor([labels.index(r["label"]) for r in train])
    guessed, seconds = fit_and_guess(load_pixels(catalogue, layout, train, args.pixels), train_y,
                                     load_pixels(catalogue, layout, test, args.pixels), len(labels), args.steps,
                                     args.seed)
    linear = linear_guesses(args.checkpoint, catalogue, layout, train, test) if args.checkpoint != "none" else None
    out = {"fit_cpu_s": seconds, "train_photos": len(train), "categories": {}}
    for k, label in enumerate(labels):
        rows_k = [i for i, r in enumerate(test) if r["label"] == label]
        out["categories"][label] = {
            "photos": len(rows_k),
            "pixels": 100 * float(np.mean([guessed[i] == k for i in rows_k])),
            "linear": None if linear is None else 100 * float(np.mean([linear[i] == label for i in rows_k]))}
    return out


def tables(result: dict) -> str:
    """Markdown: per category, how often each guess is right."""
    s = result["settings"]
    lines = [f"Catalogue seed {s['catalogue_seed']}, network at {s['pixels']} px, {s['steps']} steps of {BATCH}, "
             f"seed {s['seed']}; linear model on {s['checkpoint']}'s vectors. The guess is right, %.", "",
             "| layout | category | photos | pixel network | linear model on the vectors |", "|---|---|---|---|---|"]
    for layout, res in result["layouts"].items():
        for label, c in res["categories"].items():
            linear = "-" if c["linear"] is None else f"{c['linear']:.1f}"
            lines.append(f"| {layout} | {label} | {c['photos']} | {c['pixels']:.1f} | {linear} |")
        cells = list(res["categories"].values())
        linear = [c["linear"] for c in cells]
        lines.append(f"| {layout} | **mean** | {sum(c['photos'] for c in cells)} | "
                     f"**{np.mean([c['pixels'] for c in cells]):.1f}** | "
                     f"{'-' if None in linear else f'{np.mean(linear):.1f}'} |")
    lines += ["", "Fit time (CPU s): " + ", ".join(f"{layout} {res['fit_cpu_s']:.0f} s on {res['train_photos']} photos"
                                                 for layout, res in result["layouts"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.pixels < 16 or args.steps < 1 or args.photos < 1:
        return error("--pixels must be at least 16, --steps and --photos at least 1")
    if args.checkpoint != "none" and not (Path(args.checkpoint) / "cti_config.json").is_file():
        return error(f"--checkpoint {args.checkpoint} is not a checkpoint folder (or pass --checkpoint none)")
    set_threads(args.threads)
    from benchmarks.session.gallery import ensure_catalogue

    work = Path(args.work)
    catalogue = ensure_catalogue(work / f"data_s{args.catalogue_seed}", args.catalogue_seed, args.size)
    layouts = {layout: measure_layout(args, catalogue, layout) for layout in LAYOUTS}
    settings = {k: getattr(args, k) for k in ("catalogue_seed", "size", "checkpoint", "pixels", "steps", "photos",
                                              "seed")}
    write_report(Path(args.out or work / f"pixel_category_s{args.catalogue_seed}"), {"settings": settings,
                                                                                    "layouts": layouts}, tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
