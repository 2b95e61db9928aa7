"""A tiny searchable catalogue for the app tests: a dozen images, a random cti-tiny checkpoint and its index."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (200, 30, 30), "blue": (30, 60, 200), "green": (40, 160, 60), "black": (20, 20, 20)}
CATEGORIES = ("dress", "shirt", "shoes")


@dataclass
class TinyCatalogue:
    """Paths of the tiny catalogue, its checkpoint and its index."""

    images: Path
    checkpoint: Path
    index: Path
    ids: list[str]


def draw_product(category: str, colour: tuple[int, int, int], size: int = 64) -> Image.Image:
    """A crude product photo: a coloured silhouette on white, one shape per category."""
    img = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(img)
    if category == "dress":
        d.polygon([(size * 0.4, 4), (size * 0.6, 4), (size * 0.85, size - 4), (size * 0.15, size - 4)], fill=colour)
    elif category == "shirt":
        d.rectangle([size * 0.25, 8, size * 0.75, size - 8], fill=colour)
        d.rectangle([4, 8, size - 4, size * 0.35], fill=colour)
    else:
        d.ellipse([6, size * 0.45, size - 6, size * 0.8], fill=colour)
    return img


def make_tiny_catalogue(root: Path) -> TinyCatalogue:
    """12 products (3 categories x 4 colours) with descriptions, a cti-tiny checkpoint and an index."""
    import torch

    from cti_ir.index.catalogue import items_from_folder
    from cti_ir.model.checkpoint import load_checkpoint, save_checkpoint
    from cti_ir.index.catalogue_index import build_index
    from cti_ir.model.cir_model import CIRModel

    images = root / "catalogue"
    rows = []
    for category in CATEGORIES:
        for name, rgb in COLOURS.items():
            rel = f"{category}/{name}_{category}.png"
            (images / category).mkdir(parents=True, exist_ok=True)
            draw_product(category, rgb).save(images / rel)
            rows.append({"file_name": rel, "category": category, "text": f"a {name} {category}"})
    metadata = root / "metadata.jsonl"
    metadata.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CIRModel.create("cti-tiny")
    checkpoint = save_checkpoint(model, root / "checkpoint")
    model = load_checkpoint(checkpoint)
    items = items_from_folder(images, metadata)
    build_index(model, items, root / "index", progress=False)
    return TinyCatalogue(images, checkpoint, root / "index", [it.image_id for it in items])


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_decompression_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A small PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # One compressed row of zeros is enough: a decoder allocates width*height*3 bytes before reading the rest.
    data = zlib.compress(b"\x00" * (1 + width * 3))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path
