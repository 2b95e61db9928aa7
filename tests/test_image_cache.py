"""Decoded pixels (`cti_ir.index.pixel_cache`), reduced-scale JPEG decoding and the build-wide loader of the index
(`cti_ir.index.build`): faster, and the pixels the encoder sees stay what the model's own preprocessing gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cti_ir.index.catalogue import CatalogueItem
from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.index.pixel_cache import PixelPipeline, input_side
from cti_ir.model.images import load_image
from cti_ir.index.build import ChunkLoader, draft_side_of

from tests.test_index import draw_product


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Product pictures of several sizes and formats, as a shop's folder holds them."""
    root = tmp_path_factory.mktemp("photos")
    paths = [draw_product(root / "a.png", 1, 64), draw_product(root / "b.jpg", 2, 200),
             draw_product(root / "c.png", 3, 33)]
    wide = root / "d.jpg"
    Image.open(draw_product(root / "tmp.png", 4, 120)).resize((300, 90)).save(wide)
    grey = root / "e.png"
    Image.open(paths[0]).convert("L").save(grey)
    rgba = root / "f.png"
    Image.open(paths[1]).convert("RGBA").save(rgba)
    return paths + [wide, grey, rgba]


def test_split_preprocessing_gives_bit_identical_pixels(model, photos):
    pipeline = PixelPipeline.of(model.preprocess)
    assert pipeline is not None
    images = [load_image(p) for p in photos]
    expected = torch.stack([model.preprocess(im) for im in images])
    uint8 = torch.stack([pipeline.to_uint8(im) for im in images])
    assert uint8.dtype == torch.uint8 and tuple(uint8.shape[1:]) == pipeline.output_shape() == (3, 32, 32)
    assert torch.equal(pipeline.finish(uint8), expected)
    # The query path's NumPy float half: the same pixels bit for bit, the RGB conversion left to the caller.
    one_by_one = torch.stack([pipeline.pixels(im.convert("RGB")) for im in images])
    assert one_by_one.dtype == torch.float32 and torch.equal(one_by_one, expected)


def test_a_transform_that_cannot_be_split_is_left_alone():
    from torchvision import transforms as T

    assert PixelPipeline.of(lambda image: image) is None
    assert PixelPipeline.of(T.Compose([T.Resize(8), T.ToTensor(), T.RandomErasing()])) is None
    unnormalised = PixelPipeline.of(T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()]))
    image = Image.new("RGB", (20, 10), (10, 200, 30))
    assert torch.equal(unnormalised.finish(unnormalised.to_uint8(image)[None])[0],
                       T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])(image))
    assert torch.equal(unnormalised.pixels(image), T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()])(image))


def test_jpegs_decode_at_reduced_scale_but_never_below_the_size_asked(photos, tmp_path):
    big = tmp_path / "big.jpg"
    Image.open(photos[1]).resize((1000, 800)).save(big, quality=90)
    assert load_image(big).size == (1000, 800)
    small = load_image(big, draft=(100, 100))
    assert small.size == (125, 100) and small.mode == "RGB"  # 1/8 scale: both sides still >= 100
    assert load_image(big, draft=(300, 300)).size == (500, 400)  # 1/2: 1/4 would be 250 x 200
    assert load_image(photos[0], draft=(8, 8)).size == (64, 64)  # PNG: no reduced decoding


def test_the_loader_decodes_at_the_models_input_size_and_keeps_its_pixels_close(model, tmp_path):
    assert input_side(model.preprocess) == 32 and draft_side_of(type("E", (), {"model": model})()) == 32
    path = draw_product(tmp_path / "p.png", 7, 256)
    jpeg = tmp_path / "p.jpg"
    Image.open(path).save(jpeg, quality=95)
    item = [CatalogueItem("p", str(jpeg))]
    encoder = type("E", (), {"model": model, "preprocess": staticmethod(model.preprocess)})()
    (_, drafted, _), = ChunkLoader(encoder, item, [(0, 1)], 8, 0).batches_of(0, 1)
    (_, full, _), = ChunkLoader(encoder, item, [(0, 1)], 8, 0, draft=False).batches_of(0, 1)
    assert torch.equal(full[0], model.preprocess(load_image(jpeg)))
    # Decoded at 64 px instead of 256 px, then resized to 32 px: the same picture, up to resampling.
    assert not torch.equal(drafted, full) and (drafted - full).abs().mean() < 0.05


def test_chunk_loader_batches_stay_inside_their_chunk(model, photos):
    items = [CatalogueItem(str(i), str(p)) for i, p in enumerate(photos)]
    encoder = type("E", (), {"model": model, "preprocess": staticmethod(model.preprocess)})()
    loader = ChunkLoader(encoder, items, [(0, 4), (4, 6)], batch_size=3, workers=0)
    first = list(loader.batches_of(0, 4))
    assert [b[0] for b in first] == [[0, 1, 2], [3]]  # positions within the chunk; no batch spans two chunks
    second = list(loader.batches_of(4, 6))
    assert [b[0] for b in second] == [[0, 1]]
    expected = torch.stack([model.preprocess(load_image(p, draft=(32, 32))) for p in photos[4:6]])
    assert torch.equal(second[0][1], expected)
    with pytest.raises(RuntimeError, match="out of order"):
        next(iter(loader.batches_of(0, 4)))


def test_a_chunk_whose_batches_were_not_read_does_not_shift_the_next(model, photos):
    items = [CatalogueItem(str(i), str(p)) for i, p in enumerate(photos)]
    encoder = type("E", (), {"model": model, "preprocess": staticmethod(model.preprocess)})()
    loader = ChunkLoader(encoder, items, [(0, 3), (3, 6)], batch_size=2, workers=0)
    loader.batches_of(0, 3)  # e.g. a failing chunk: its batches are never taken
    batches = list(loader.batches_of(3, 6))
    assert [b[0] for b in batches] == [[0, 1], [2]]
    expected = torch.stack([model.preprocess(load_image(p, draft=(32, 32))) for p in photos[3:5]])
    assert torch.equal(batches[0][1], expected)  # the second chunk's own images


# ---------------------------------------------------------------------------------------------- the image cache
def test_cache_holds_the_uint8_pixels_and_is_built_once(model, photos, tmp_path):
    from cti_ir.index.pixel_cache import ImageCache

    pipeline = PixelPipeline.of(model.preprocess)
    paths = [str(p) for p in photos]
    messages = []
    cache = ImageCache.open_or_build(tmp_path, paths, pipeline, log=messages.append, progress=False)
    assert len(cache) == len(paths) and "decoding 6 images once" in messages[0]
    for p in paths:
        assert torch.equal(cache.pixels(p), pipeline.to_uint8(load_image(p)))
    assert cache.array.dtype == np.uint8 and isinstance(cache.array, np.memmap)
    assert [f.name for f in tmp_path.iterdir()] == [cache.folder.name]  # no temporary folder left behind

    again = ImageCache.open_or_build(tmp_path, list(reversed(paths)), pipeline, log=messages.append)
    assert again.folder == cache.folder and "6 images from" in messages[1]


def test_a_changed_file_or_input_size_gets_a_new_cache(model, photos, tmp_path):
    import os

    from torchvision import transforms as T

    from cti_ir.index.pixel_cache import ImageCache

    pipeline = PixelPipeline.of(model.preprocess)
    paths = [str(p) for p in photos[:3]]
    first = ImageCache.open_or_build(tmp_path / "c", paths, pipeline, progress=False)
    bigger = PixelPipeline.of(T.Compose([T.Resize(40), T.CenterCrop(40), T.ToTensor()]))
    assert ImageCache.open_or_build(tmp_path / "c", paths, bigger, progress=False).folder != first.folder

    edited = tmp_path / "edited.png"
    Image.new("RGB", (40, 40), (1, 2, 3)).save(edited)
    paths = paths[:2] + [str(edited)]
    before = ImageCache.open_or_build(tmp_path / "c", paths, pipeline, progress=False)
    Image.new("RGB", (40, 40), (250, 2, 3)).save(edited)
    os.utime(edited, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    after = ImageCache.open_or_build(tmp_path / "c", paths, pipeline, progress=False)
    assert after.folder != before.folder
    assert after.pixels(str(edited))[0, 0, 0] == 250 and before.pixels(str(edited))[0, 0, 0] == 1
    with pytest.raises(ValueError, match="does not match these images"):
        ImageCache.open(before.folder, paths, pipeline)


def test_training_with_the_cache_is_bit_identical_to_decoding(synth_small, tmp_path, capsys):
    from safetensors.torch import load_file

    from training import stage3

    def run(name, cache):
        out = tmp_path / name
        assert stage3.main(["--data", f"fashioniq={synth_small / 'fashioniq'}", "--out", str(out), "--epochs", "1",
                            "--batch-size", "16", "--max-steps", "3", "--no-eval", "--model", "cti-tiny",
                            "--no-progress", "--threads", "1", "--image-cache", cache]) == 0
        return load_file(str(out / "last" / "open_clip_model.safetensors")), capsys.readouterr().err

    decoded, _ = run("decoded", "none")
    cached, first = run("cached", str(tmp_path / "cache"))
    assert "decoding" in first and "images once into" in first
    assert all(torch.equal(decoded[k], cached[k]) for k in decoded)
    # A later run on the same images opens the cache instead of decoding them again.
    from cti_ir.index.pixel_cache import ImageCache

    (folder,) = (tmp_path / "cache").iterdir()
    messages = []
    paths = ImageCache.open(folder).paths
    ImageCache.open_or_build(tmp_path / "cache", paths, PixelPipeline.of(load_checkpoint(
        tmp_path / "cached" / "last").preprocess), log=messages.append)
    assert messages == [f"image cache: {len(paths)} images from {folder}"]
