"""Feeding the encoder during an index build, on one process or sharded over many (torchrun).

**One loader for the whole build.** ``ChunkLoader`` runs a single ``DataLoader`` over every image still to embed;
its batches never straddle two embedding chunks, so ``index.embed_items`` takes them chunk by chunk and each chunk is
still written (and resumable) on its own. A loader per chunk would start its worker processes again for every
chunk and let the pipeline run dry at each chunk's end.

**Cheap decoding.** Workers decode each image (JPEGs at reduced scale when the model looks at fewer pixels:
``load_image(draft=...)``), run the PIL half of the preprocessing and send uint8 pixels; the float half (divide by
255, normalise) runs once per batch (``cti_ir.index.pixel_cache.PixelPipeline``). The pixels the encoder sees are
bit-identical to ``torch.stack([preprocess(load_image(p)) ...])`` of the same decoded images.

**Sharding.** Under ``torchrun --nproc_per_node N [--nnodes M] -m cti_ir.index build ...`` every process lists the
same catalogue and plan, and process ``r`` of ``N x M`` embeds chunks ``r, r + N x M, r + 2 (N x M), ...`` into
the shared ``--out`` folder (the same folder for every machine: a shared filesystem). The chunk files are those of a
one-process build, so process 0 then builds the index from them exactly as a one-process build does; an
interrupted sharded build resumes with any number of processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader

from cti_ir.index.catalogue import CatalogueItem, read_jsonl_rows
from cti_ir.index.pixel_cache import PixelPipeline, input_side
from cti_ir.model.images import ImageLoadError, load_image


def default_workers() -> int:
    """Decoding processes by default: half the cores (the other half runs the encoder), 1 to 8."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


class CatalogueImages:
    """Preprocessed catalogue images by position; an unreadable one yields None and its (path, reason).

    The error is returned, not raised, and re-raised by ``embed_items`` in the main process: raised inside a
    DataLoader worker, an ``ImageLoadError`` cannot be rebuilt from its message and reaches the caller as a bare
    RuntimeError with a traceback instead of the one-line message naming the file.

    With a ``PixelPipeline`` the images come out as uint8 pixels (``collate_images`` finishes the batch); without
    one (e.g. an ensemble's tuple of inputs) as ``preprocess``'s own output.
    """

    def __init__(self, items: Sequence[CatalogueItem], preprocess, draft_side: int | None = None):
        self.items, self.preprocess = items, preprocess
        self.pipeline = PixelPipeline.of(preprocess)
        self.draft = (draft_side, draft_side) if draft_side else None

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        try:
            image = load_image(self.items[i].path, draft=self.draft)
            pixels = self.pipeline.to_uint8(image) if self.pipeline else self.preprocess(image)
            return i, pixels, None
        except ImageLoadError as e:
            return i, None, (e.path, e.reason)

    def collate(self, batch):
        """(positions, pixels, errors) of a batch; uint8 pixels are finished into the model's float input."""
        ok = [(i, x) for i, x, _ in batch if x is not None]
        bad = [(i, err) for i, x, err in batch if x is None]
        pixels = None
        if ok:
            first = ok[0][1]
            if isinstance(first, tuple):  # an ensemble's preprocess gives one tensor per gallery model
                pixels = tuple(torch.stack(p) for p in zip(*(x for _, x in ok)))
            else:
                pixels = torch.stack([x for _, x in ok])
                if self.pipeline is not None:
                    pixels = self.pipeline.finish(pixels)
        return [i for i, _ in ok], pixels, bad


def draft_side_of(encoder) -> int | None:
    """The side JPEGs may be decoded down to for ``encoder``: its input side (the largest, for an ensemble)."""
    preprocesses = [getattr(getattr(encoder, "model", None), "preprocess", None)]
    preprocesses += [getattr(m, "preprocess", None) for m in getattr(encoder, "models", []) or []]
    sides = [input_side(p) for p in preprocesses if p is not None]
    return max(sides) if sides and all(sides) else None


def _transform_of(encoder):
    """What turns a catalogue image into the encoder's input: the model's own transform for a symmetric encoder
    (a torchvision ``Compose`` that ``PixelPipeline`` can split), else the encoder's ``preprocess``."""
    model = getattr(encoder, "model", None)
    if getattr(encoder, "mode", None) == "symmetric" and model is not None:
        return model.preprocess  # SymmetricEncoder.preprocess(image) is exactly model.preprocess(image)
    return encoder.preprocess


class ChunkLoader:
    """One DataLoader over the items of the chunks still to embed; ``batches_of(c)`` yields chunk ``c``'s batches.

    Chunks must be consumed in the order given. Positions in the yielded batches are relative to the chunk.
    """

    def __init__(self, encoder, items: Sequence[CatalogueItem], chunks: Sequence[tuple[int, int]],
                 batch_size: int, workers: int, draft: bool = True):
        self.chunks = list(chunks)          # (start, stop) positions in `items`, in the order they are consumed
        self.batch_size = max(1, batch_size)
        dataset = CatalogueImages(items, _transform_of(encoder), draft_side_of(encoder) if draft else None)
        self._batches = [list(range(b, min(b + self.batch_size, stop))) for start, stop in self.chunks
                         for b in range(start, stop, self.batch_size)]
        self._loader = DataLoader(dataset, batch_sampler=self._batches, num_workers=workers,
                                  collate_fn=dataset.collate, generator=torch.Generator().manual_seed(0),
                                  prefetch_factor=4 if workers else None)
        self._iter: Iterator | None = None
        self._next_chunk = 0
        self._left = 0  # batches of the previous chunk its reader did not take (skipped so the next one lines up)

    def batches_of(self, start: int, stop: int):
        """The batches of the chunk ``items[start:stop]``: (positions in the chunk, pixels, errors)."""
        if self._next_chunk >= len(self.chunks) or self.chunks[self._next_chunk] != (start, stop):
            raise RuntimeError(f"chunk {start}:{stop} requested out of order")
        self._next_chunk += 1
        if self._iter is None:  # workers start here, once for the whole build
            self._iter = iter(self._loader)
        for _ in range(self._left):
            next(self._iter)
        self._left = -(-(stop - start) // self.batch_size)
        return self._chunk_batches(start)

    def _chunk_batches(self, start: int):
        while self._left:
            positions, pixels, errors = next(self._iter)
            self._left -= 1
            yield [i - start for i in positions], pixels, [(i - start, err) for i, err in errors]


# -------------------------------------------------------------------------------------------------- sharding
@dataclass(frozen=True)
class Shard:
    """This process's place in a sharded build: ``rank`` of ``world`` processes (``local_rank`` on its machine)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, chunk: int) -> bool:
        """Whether this process embeds chunk number ``chunk`` (round robin)."""
        return chunk % self.world == self.rank

    def barrier(self) -> None:
        """Wait for every process of the build (nothing to wait for alone)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def shard_from_env() -> Shard:
    """The shard torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (one process when they are absent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Shard(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def start_shard(shard: Shard) -> None:
    """Join the process group of a sharded build (gloo: the processes only wait for each other, on any device).

    The timeout is long because the last barrier waits for the slowest process to embed its share, which can take
    hours; torchrun stops every process anyway as soon as one of them fails.
    """
    if shard.world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", timeout=timedelta(days=2))


def stop_shard(shard: Shard) -> None:
    if shard.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


# ------------------------------------------------------------------------------------------------ tuning queries
def read_probe_queries(path: str | os.PathLike) -> list[dict] | "np.ndarray":
    """Queries to tune an index on: a ``.npy`` of query vectors, or a JSONL file with one query per line,
    ``{"image": path, "text": str}`` (either may be left out; a relative image path is relative to the file)."""
    from pathlib import Path

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--tune-queries file not found: {path}")
    if path.suffix == ".npy":
        vectors = np.load(path, allow_pickle=False)
        if vectors.ndim != 2:
            raise ValueError(f"{path} must hold a (queries, dim) array of query vectors, not shape {vectors.shape}")
        return vectors
    queries = []
    for n, row in read_jsonl_rows(path):
        image, text = row.get("image"), row.get("text")
        if not image and not text:
            raise ValueError(f"{path}:{n} has neither an image nor a text")
        if image and not Path(image).is_absolute():
            image = str(path.parent / image)
        queries.append({"image": image, "text": text})
    if not queries:
        raise ValueError(f"{path} holds no queries")
    return queries


def benchmark_probe_queries(dataset: str, root, limit: int = 1000, seed: int = 0) -> list[dict]:
    """Composed queries of a benchmark folder's training triplets (reference photo, captions): what a search
    engine over that catalogue will be asked, and not the queries anyone evaluates on."""
    import random

    from cti_ir.data import open_benchmark

    bench = open_benchmark(dataset, root)
    triplets = [t for t in bench.triplets("train") if any(c and c.strip() for c in t.captions)]
    random.Random(seed).shuffle(triplets)
    out = []
    for t in triplets[:limit]:
        try:
            path = bench.image_path(t.reference)
        except (FileNotFoundError, KeyError, ValueError):
            continue
        if path is not None and os.path.isfile(path):
            out.append({"image": str(path), "text": " and ".join(c.strip(" .") for c in t.captions if c.strip())})
    return out


@torch.no_grad()
def encode_probe_queries(model, queries) -> "np.ndarray":
    """Query vectors of ``queries`` (as ``read_probe_queries`` gives them), composed by ``model`` as the search
    engine composes them: image and text through the composer, or either alone."""
    import numpy as np

    if isinstance(queries, np.ndarray):
        if queries.shape[1] != model.embed_dim:
            raise ValueError(f"the tuning query vectors have {queries.shape[1]} dimensions, the model "
                             f"{model.embed_dim}")
        return np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
    out = []
    for q in queries:
        img = model.encode_images(model.preprocess(load_image(q["image"])).unsqueeze(0).to(model.device)) \
            if q.get("image") else None
        txt = model.encode_texts([q["text"]]) if q.get("text") else None
        vec = model.compose(img, txt).query if img is not None and txt is not None else (
            img if img is not None else txt)
        out.append(vec[0].float().cpu().numpy())
    return np.stack(out).astype(np.float32)
