"""The catalogue index (`cti_ir.index`): build, resume, add, compatibility checks, bad images, ANN factories.

A tiny random model (``cti-tiny``, 32-d) and a catalogue of PIL-drawn product images in three category folders keep
every test on the CPU and within seconds. One test kills a real ``python -m cti_ir.index build`` with SIGKILL and
resumes it; one builds from a generated Fashion-IQ folder (``data_prep.synth``).
"""

from __future__ import annotations

import hashlib
import os
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import cti_ir.index.catalogue_index as index_mod
import cti_ir.index.cli as index_cli
from cti_ir.index.catalogue import items_from_benchmark, items_from_folder
from cti_ir.model.checkpoint import load_checkpoint, save_checkpoint
from cti_ir.model.images import ImageLoadError, load_image
from cti_ir.index.catalogue_index import (EMBEDDINGS_DIR, INDEX_FILE, INFO_FILE, ITEMS_FILE, CatalogueIndex, IndexMismatchError,
                          add_to_index, build_index, check_compatible, read_index_info)
from cti_ir.index.factory import make_faiss_index
from cti_ir.model.cir_model import CIRModel

CATEGORIES = ("dresses", "shirts", "shoes")
PER_CATEGORY = 60          # 180 images: enough to train "IVF4,Flat" (39 points per list)
CHUNK = 32                 # 180 images -> 6 embedding chunks


# ------------------------------------------------------------------------------------------------------ helpers
def draw_product(path: Path, seed: int, size: int = 64) -> Path:
    """A distinct product-like picture: a coloured garment shape on a plain background, with a stripe."""
    rng = np.random.default_rng(seed)
    colour = lambda: tuple(int(c) for c in rng.integers(0, 256, 3))  # noqa: E731
    img = Image.new("RGB", (size, size), colour())
    draw = ImageDraw.Draw(img)
    a, b = sorted(rng.integers(4, size - 4, 2))
    box = (int(a) // 2, int(a) // 2, max(int(b), int(a) // 2 + 8), size - 4)
    [draw.ellipse, draw.rectangle, draw.pieslice][seed % 3](box, fill=colour(), **({"start": 0, "end": 270}
                                                                                   if seed % 3 == 2 else {}))
    y = int(rng.integers(0, size))
    draw.line((0, y, size, y), fill=colour(), width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def draw_catalogue(root: Path, per_category: int = PER_CATEGORY, categories=CATEGORIES, size: int = 64,
                   suffix: str = ".png", seed: int = 0) -> Path:
    """``root/<category>/<category>-NNN<suffix>`` images; the category is the first sub-folder."""
    n = seed
    for category in categories:
        for i in range(per_category):
            draw_product(root / category / f"{category}-{i:03d}{suffix}", n, size)
            n += 1
    return root


def save_tiny_checkpoint(path: Path, model_name: str = "cti-tiny", seed: int = 0) -> Path:
    """A random ``model_name`` model saved as a checkpoint folder (weights depend on ``seed``), without a record of
    the words it was trained on, so that the request reader treats it as a served model whose texts are unknown."""
    torch.manual_seed(seed)
    model = CIRModel.create(model_name)
    model.text_vocabulary = None
    save_checkpoint(model, path)
    return path


def read_items(folder: Path) -> list[dict]:
    with open(folder / ITEMS_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def stored_vectors(folder: Path) -> np.ndarray:
    """The vectors of an index folder's ``index.faiss``, row i = id i."""
    import faiss

    outer = index = faiss.read_index(str(folder / INDEX_FILE))
    n = index.ntotal
    order = np.arange(n)
    if isinstance(index, faiss.IndexIDMap):
        # IndexIDMap has no reconstruct (calling it aborts the process): the inner index's vectors are in
        # insertion order and id_map gives each one's id, which must be a position (0..N-1, each once). `outer`
        # stays referenced: it owns the inner index, which dies with it.
        order = faiss.vector_to_array(index.id_map)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        index = faiss.downcast_index(outer.index)
    try:
        faiss.extract_index_ivf(index).make_direct_map()  # IVF reconstructs by id only with a direct map
    except RuntimeError:
        pass
    vectors = np.empty((n, index.d), dtype=np.float32)
    vectors[order] = index.reconstruct_n(0, n)
    del outer
    return vectors


@torch.no_grad()
def reference_embeddings(model, paths) -> np.ndarray:
    """The model's own embeddings of image files, in one batch."""
    pixels = torch.stack([model.preprocess(load_image(p)) for p in paths])
    return model.encode_images(pixels).numpy()


def copy_categories(src: Path, dst: Path, categories) -> Path:
    for c in categories:
        shutil.copytree(src / c, dst / c, dirs_exist_ok=True)
    return dst


def write_truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in half: the header reads, the pixels do not (the usual broken download)."""
    draw_product(path.with_suffix(".full.jpg"), 999, 128)
    data = path.with_suffix(".full.jpg").read_bytes()
    path.with_suffix(".full.jpg").unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            digest.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="module")
def checkpoint(workdir) -> Path:
    return save_tiny_checkpoint(workdir / "ckpt")


@pytest.fixture(scope="module")
def model(checkpoint):
    return load_checkpoint(checkpoint)


@pytest.fixture(scope="module")
def catalogue(workdir) -> Path:
    return draw_catalogue(workdir / "catalogue")


@pytest.fixture(scope="module")
def built(model, catalogue, workdir) -> Path:
    """The catalogue indexed with the default exact factory, uninterrupted. Tests must not modify it."""
    build_index(model, items_from_folder(catalogue), workdir / "built", chunk_size=CHUNK, progress=False)
    return workdir / "built"


# -------------------------------------------------------------------------------------------------------- build
def test_build_writes_index_items_and_info(built, model, catalogue):
    import faiss

    n = len(CATEGORIES) * PER_CATEGORY
    for name in (INDEX_FILE, ITEMS_FILE, INFO_FILE):
        assert (built / name).is_file(), name
    info = read_index_info(built)
    assert info["count"] == n
    assert info["dim"] == model.embed_dim == 32
    assert info["model_fingerprint"] == model.fingerprint
    assert info["factory"] == "IDMap,Flat"
    assert info["normalized"] is True and info["complete"] is True
    assert info["skipped"] == 0
    assert info["parts"] == math.ceil(n / CHUNK) == len(list((built / EMBEDDINGS_DIR).glob("part-*.json")))

    items = read_items(built)
    expected = items_from_folder(catalogue)
    assert [it["image_id"] for it in items] == [it.image_id for it in expected]
    assert items[0]["image_id"] == "dresses/dresses-000" and items[0]["categories"] == ["dresses"]
    assert sorted({c for it in items for c in it["categories"]}) == list(CATEGORIES)

    index = faiss.read_index(str(built / INDEX_FILE))
    assert index.ntotal == n and index.d == 32


def test_stored_vectors_are_the_models_embeddings(built, model):
    items = read_items(built)
    vectors = stored_vectors(built)
    expected = reference_embeddings(model, [it["path"] for it in items])
    np.testing.assert_allclose(vectors, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Distinct images give distinct vectors: a bug that repeats a chunk or a batch would show here.
    assert len(np.unique(vectors.round(5), axis=0)) == len(vectors)


def test_build_interrupted_in_process_resumes_to_the_same_index(monkeypatch, model, catalogue, built, tmp_path):
    out = tmp_path / "resumed"
    real_embed = index_mod.embed_items
    calls = []

    def crash_after_two_chunks(*args, **kwargs):
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        calls.append(1)
        return real_embed(*args, **kwargs)

    monkeypatch.setattr(index_mod, "embed_items", crash_after_two_chunks)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(model, items_from_folder(catalogue), out, chunk_size=CHUNK, progress=False)
    assert sorted(p.name for p in (out / EMBEDDINGS_DIR).glob("part-*.json")) == ["part-00000.json",
                                                                                   "part-00001.json"]
    with pytest.raises(FileNotFoundError, match="run the same build command again"):
        read_index_info(out)

    def counting(*args, **kwargs):
        calls.append(1)
        return real_embed(*args, **kwargs)

    calls.clear()
    monkeypatch.setattr(index_mod, "embed_items", counting)
    info = build_index(model, items_from_folder(catalogue), out, chunk_size=CHUNK, progress=False)
    assert len(calls) == info["parts"] - 2  # only the missing chunks were encoded
    assert read_items(out) == read_items(built)
    np.testing.assert_array_equal(stored_vectors(out), stored_vectors(built))
    assert info["count"] == read_index_info(built)["count"]


def _parts(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / EMBEDDINGS_DIR).glob("part-*")}


@pytest.mark.slow  # a second interpreter and a real kill; the in-process interruption above is the fast check
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_build_killed_with_sigkill_resumes_to_the_same_index(checkpoint, model, tmp_path):
    # Bigger images and 4-image chunks stretch the build over 40 chunks (about a second on a laptop core), so
    # that the kill reliably lands after the first chunk is on disk and well before the index is written.
    images = draw_catalogue(tmp_path / "shop", per_category=80, categories=("tops", "skirts"), size=128,
                            suffix=".jpg", seed=500)
    n = 160
    reference = tmp_path / "uninterrupted"
    build_index(model, items_from_folder(images), reference, chunk_size=4, batch_size=4, progress=False)

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "cti_ir.index", "build", "--checkpoint", str(checkpoint), "--images", str(images),
           "--out", str(out), "--chunk-size", "4", "--batch-size", "4", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_part = out / EMBEDDINGS_DIR / "part-00000.json"
    deadline = time.monotonic() + 120
    while not first_part.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the build ended on its own before the kill: {stderr.decode()}"
    assert not (out / INFO_FILE).exists() and not (out / INDEX_FILE).exists()
    before = _parts(out)
    done = len([p for p in before if p.endswith(".json")])
    assert 1 <= done < n // 4, done

    with pytest.raises(FileNotFoundError, match="interrupted build"):
        CatalogueIndex(out)
    # The same command again, in this process (a second interpreter start would only cost time).
    assert index_cli.main(cmd[3:]) == 0
    after = _parts(out)
    # The chunks the killed run had finished were kept as they were, not encoded again.
    for name, stamp in before.items():
        if name.endswith(".json"):
            assert after[name] == stamp, name
    assert len([p for p in after if p.endswith(".json")]) == n // 4

    items = read_items(out)
    assert items == read_items(reference)
    assert len({it["image_id"] for it in items}) == n  # no duplicates, no losses
    # Other processes may use other kernels' summation order; the vectors agree to float32 rounding.
    np.testing.assert_allclose(stored_vectors(out), stored_vectors(reference), rtol=0, atol=1e-6)
    assert read_index_info(out)["count"] == n


# ---------------------------------------------------------------------------------------------------------- add
def test_add_indexes_only_new_images(model, catalogue, built, tmp_path):
    shop = copy_categories(catalogue, tmp_path / "shop", CATEGORIES[:2])
    out = tmp_path / "index"
    info = build_index(model, items_from_folder(shop), out, chunk_size=CHUNK, progress=False)
    assert info["count"] == 2 * PER_CATEGORY

    copy_categories(catalogue, shop, CATEGORIES[2:])
    info = add_to_index(model, items_from_folder(shop), out, chunk_size=CHUNK, progress=False)
    assert info["added"] == PER_CATEGORY
    assert info["already_indexed"] == 2 * PER_CATEGORY
    assert info["count"] == read_index_info(out)["count"] == 3 * PER_CATEGORY
    items = read_items(out)
    ids = [it["image_id"] for it in items]
    assert len(set(ids)) == len(ids) == 3 * PER_CATEGORY
    # Same pictures as the `built` catalogue: the same vectors, id by id.
    built_ids = [it["image_id"] for it in read_items(built)]
    by_id = dict(zip(built_ids, stored_vectors(built)))
    np.testing.assert_allclose(stored_vectors(out), np.stack([by_id[i] for i in ids]), rtol=0, atol=1e-5)
    assert CatalogueIndex(out).categories == list(CATEGORIES)

    digest = tree_digest(out)
    again = add_to_index(model, items_from_folder(shop), out, chunk_size=CHUNK, progress=False)
    assert again["added"] == 0 and again["already_indexed"] == 3 * PER_CATEGORY
    assert again["count"] == 3 * PER_CATEGORY
    assert tree_digest(out) == digest  # nothing rewritten


def test_add_cli_uses_the_recorded_checkpoint(checkpoint, catalogue, tmp_path, capsys):
    shop = copy_categories(catalogue, tmp_path / "shop", CATEGORIES[:1])
    out = tmp_path / "index"
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(shop), "--out", str(out),
                           "--no-progress"]) == 0
    copy_categories(catalogue, shop, CATEGORIES[1:2])
    capsys.readouterr()
    assert index_cli.main(["add", "--index", str(out), "--images", str(shop), "--no-progress"]) == 0
    printed = capsys.readouterr().out  # a short summary: what was added, how many in all, where the details are
    assert printed.startswith(f"added {PER_CATEGORY} images to {out} ({PER_CATEGORY} already indexed); now "
                              f"{2 * PER_CATEGORY} products")
    assert read_index_info(out)["count"] == 2 * PER_CATEGORY


def test_interrupted_add_resumes_and_an_add_of_other_images_leaves_no_duplicates(monkeypatch, model, catalogue,
                                                                                  tmp_path):
    shop = copy_categories(catalogue, tmp_path / "shop", CATEGORIES[:1])
    out = tmp_path / "index"
    build_index(model, items_from_folder(shop), out, chunk_size=16, progress=False)
    copy_categories(catalogue, shop, CATEGORIES[1:])
    real_embed = index_mod.embed_items
    calls = []

    def crash_after_two_chunks(*args, **kwargs):
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        calls.append(1)
        return real_embed(*args, **kwargs)

    monkeypatch.setattr(index_mod, "embed_items", crash_after_two_chunks)
    with pytest.raises(RuntimeError):
        add_to_index(model, items_from_folder(shop), out, chunk_size=16, progress=False)
    assert read_index_info(out)["count"] == PER_CATEGORY  # the index in use is untouched
    monkeypatch.setattr(index_mod, "embed_items", real_embed)

    # The shop removes a category meanwhile: the unfinished add's chunks (32 shirts) must not come back twice.
    shutil.rmtree(shop / CATEGORIES[2])
    info = add_to_index(model, items_from_folder(shop), out, chunk_size=16, progress=False)
    ids = [it["image_id"] for it in read_items(out)]
    assert info["added"] == PER_CATEGORY and len(ids) == len(set(ids)) == 2 * PER_CATEGORY

    # An interrupted add re-run with the same images resumes: only the missing chunks are encoded.
    copy_categories(catalogue, shop, CATEGORIES[2:])
    calls.clear()
    monkeypatch.setattr(index_mod, "embed_items", crash_after_two_chunks)
    with pytest.raises(RuntimeError):
        add_to_index(model, items_from_folder(shop), out, chunk_size=16, progress=False)
    calls.clear()
    monkeypatch.setattr(index_mod, "embed_items", lambda *a, **k: calls.append(1) or real_embed(*a, **k))
    info = add_to_index(model, items_from_folder(shop), out, chunk_size=16, progress=False)
    assert len(calls) == math.ceil(PER_CATEGORY / 16) - 2
    ids = [it["image_id"] for it in read_items(out)]
    assert info["added"] == PER_CATEGORY and len(ids) == len(set(ids)) == 3 * PER_CATEGORY
    np.testing.assert_allclose(stored_vectors(out), reference_embeddings(model, [it["path"] for it in
                                                                                  read_items(out)]), atol=1e-5)


# ------------------------------------------------------------------------------------------------ compatibility
def test_checkpoint_with_another_fingerprint_is_refused(built, catalogue, tmp_path, capsys):
    other_ckpt = save_tiny_checkpoint(tmp_path / "other", seed=1)
    other = load_checkpoint(other_ckpt)
    assert other.embed_dim == 32
    with pytest.raises(IndexMismatchError, match="rebuild the index") as err:
        add_to_index(other, items_from_folder(catalogue), built, progress=False)
    assert other.fingerprint in str(err.value) and read_index_info(built)["model_fingerprint"] in str(err.value)
    assert "Use the checkpoint the index was built with" in str(err.value)

    digest = tree_digest(built)
    assert index_cli.main(["add", "--index", str(built), "--checkpoint", str(other_ckpt), "--images",
                           str(catalogue), "--no-progress"]) == 2
    assert "rebuild the index" in capsys.readouterr().err
    assert tree_digest(built) == digest


def test_checkpoint_with_another_dimension_is_refused(built, tmp_path):
    small = load_checkpoint(save_tiny_checkpoint(tmp_path / "small", "cti-small"))
    assert small.embed_dim == 128
    with pytest.raises(IndexMismatchError, match="32-dimensional vectors but the checkpoint embeds into 128") as err:
        check_compatible(read_index_info(built), small)
    assert "rebuild the index" in str(err.value)


def test_rebuilding_into_a_folder_holding_another_build_is_refused(model, catalogue, built, tmp_path):
    out = tmp_path / "index"
    shutil.copytree(built, out)
    smaller = items_from_folder(copy_categories(catalogue, tmp_path / "smaller", CATEGORIES[:1]))
    with pytest.raises(IndexMismatchError, match="--overwrite"):
        build_index(model, smaller, out, chunk_size=CHUNK, progress=False)
    other = load_checkpoint(save_tiny_checkpoint(tmp_path / "other", seed=2))
    with pytest.raises(IndexMismatchError, match="another build"):
        build_index(other, items_from_folder(catalogue), out, chunk_size=CHUNK, progress=False)
    with pytest.raises(IndexMismatchError, match="another build"):  # chunking is part of the plan
        build_index(model, items_from_folder(catalogue), out, chunk_size=CHUNK + 1, progress=False)
    assert read_items(out) == read_items(built)  # nothing was touched

    # The same build again is a no-op resume; --overwrite replaces everything, leaving no stale chunks.
    assert build_index(model, items_from_folder(catalogue), out, chunk_size=CHUNK,
                       progress=False)["count"] == 3 * PER_CATEGORY
    info = build_index(model, smaller, out, chunk_size=CHUNK, overwrite=True, progress=False)
    assert info["count"] == PER_CATEGORY == len(read_items(out))
    assert info["parts"] == len(list((out / EMBEDDINGS_DIR).glob("part-*.json"))) == math.ceil(PER_CATEGORY / CHUNK)

    (out / "build_plan.json").unlink()  # an index without its plan (e.g. copied without it) is not overwritten
    with pytest.raises(IndexMismatchError, match="already holds an index"):
        build_index(model, smaller, out, chunk_size=CHUNK, progress=False)


# ------------------------------------------------------------------------------------------------- bad images
@pytest.fixture
def shop_with_broken_image(catalogue, tmp_path) -> tuple[Path, Path]:
    shop = copy_categories(catalogue, tmp_path / "shop", CATEGORIES[:1])
    return shop, write_truncated_jpeg(shop / CATEGORIES[0] / "dresses-030-broken.jpg")


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_image_stops_the_build_naming_the_file(model, shop_with_broken_image, tmp_path, workers):
    shop, broken = shop_with_broken_image
    out = tmp_path / "index"
    # With workers the error crosses a process boundary and must still be the one-line ImageLoadError.
    with pytest.raises(ImageLoadError, match="truncated or corrupt") as err:
        build_index(model, items_from_folder(shop), out, chunk_size=CHUNK, workers=workers, progress=False)
    assert err.value.path == str(broken)
    assert not (out / INFO_FILE).exists()


def test_corrupt_image_cli_error_is_one_line(checkpoint, shop_with_broken_image, tmp_path, capsys):
    shop, broken = shop_with_broken_image
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(shop), "--out",
                           str(tmp_path / "index"), "--workers", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot load image {broken}: truncated or corrupt")
    assert "Traceback" not in err and "--skip-bad" in err  # says how to go on


def test_skip_bad_leaves_out_and_counts_unreadable_images(model, shop_with_broken_image, tmp_path):
    shop, broken = shop_with_broken_image
    out = tmp_path / "index"
    info = build_index(model, items_from_folder(shop), out, chunk_size=CHUNK, skip_bad=True, progress=False)
    assert info["count"] == PER_CATEGORY and info["skipped"] == 1
    assert read_index_info(out)["skipped"] == 1
    assert read_index_info(out)["skipped_examples"][0]["path"] == str(broken)
    assert "truncated or corrupt" in info["skipped_examples"][0]["error"]
    assert str(broken) not in {it["path"] for it in read_items(out)}

    # `add` retries the file (it may have been fixed); still broken, it is neither added nor counted twice.
    again = add_to_index(model, items_from_folder(shop), out, chunk_size=CHUNK, skip_bad=True, progress=False)
    assert again["added"] == 0 and again["count"] == PER_CATEGORY and again["skipped"] == 1
    # Fixed meanwhile: now it is added and no longer counted as skipped.
    draw_product(broken, 7)
    fixed = add_to_index(model, items_from_folder(shop), out, chunk_size=CHUNK, skip_bad=True, progress=False)
    assert fixed["added"] == 1 and fixed["count"] == PER_CATEGORY + 1 and fixed["skipped"] == 0


# ----------------------------------------------------------------------------------------------- factories, ANN
@pytest.mark.parametrize("factory", ["IVF4,Flat", "HNSW16"])
def test_ann_factory_builds_and_searches(model, catalogue, built, tmp_path, factory):
    out = tmp_path / "ann"
    info = build_index(model, items_from_folder(catalogue), out, factory=factory, chunk_size=CHUNK,
                       progress=False)
    assert info["factory"] == factory and read_index_info(out)["factory"] == factory
    np.testing.assert_allclose(stored_vectors(out), stored_vectors(built), atol=1e-6)
    index = CatalogueIndex(out)
    queries = stored_vectors(built)[::9]
    scores, ids = index.search(queries, 5)
    # Each catalogue vector finds itself first (4 lists, nprobe 16: the IVF search is exhaustive here).
    np.testing.assert_array_equal(ids[:, 0], np.arange(0, len(index), 9))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    _, ids = index.search(queries, 10, category="shoes")
    assert all("shoes" in index.items[i]["categories"] for i in ids.ravel() if i >= 0)


def test_ivf_factory_with_too_few_vectors_is_a_clear_error(model, catalogue, tmp_path, checkpoint, capsys):
    with pytest.raises(ValueError, match=r"'IVF64,Flat' has 64 inverted lists and needs at least 2496 vectors "
                                         r"to train; the catalogue has 180\. Use fewer lists or 'IDMap,Flat'"):
        build_index(model, items_from_folder(catalogue), tmp_path / "ivf", factory="IVF64,Flat",
                    chunk_size=CHUNK, progress=False)
    with pytest.raises(ValueError, match="needs at least 39 vectors"):
        make_faiss_index(np.eye(32, dtype=np.float32)[:10], "IVF1,Flat")
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(catalogue), "--out",
                           str(tmp_path / "cli"), "--factory", "IVF64,Flat", "--no-progress"]) == 2
    assert "needs at least 2496 vectors" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- opening, search
def test_catalogue_index_is_memory_mapped_and_read_only(built, tmp_path):
    folder = tmp_path / "copy"  # a fresh path: no other test has this file mapped
    shutil.copytree(built, folder)
    digest = tree_digest(folder)
    index = CatalogueIndex(folder)
    maps = Path("/proc/self/maps")
    if maps.exists():
        assert str(folder / INDEX_FILE) in maps.read_text(), "index.faiss is not memory-mapped"
    vectors = stored_vectors(built)
    _, ids = index.search(vectors[:20], 3)
    np.testing.assert_array_equal(ids[:, 0], np.arange(20))
    del index
    assert tree_digest(folder) == digest

    in_memory = CatalogueIndex(folder, mmap=False)
    np.testing.assert_array_equal(in_memory.search(vectors[:20], 3)[1], ids)


def test_category_filter_returns_only_that_category(built):
    index = CatalogueIndex(built)
    assert index.categories == list(CATEGORIES) and len(index) == 3 * PER_CATEGORY
    query = stored_vectors(built)[:1]  # a dress: unfiltered, dresses come first
    for category in CATEGORIES:
        scores, ids = index.search(query, 200, category=category)  # k above the category's size
        found = ids[0][ids[0] >= 0]
        assert len(found) == PER_CATEGORY and len(set(found.tolist())) == PER_CATEGORY
        assert all(index.items[i]["categories"] == [category] for i in found)
        assert (np.diff(scores[0][ids[0] >= 0]) <= 1e-6).all()
        again = index.search(query, 200, category=category)  # the category's selector is reused: same answer
        np.testing.assert_array_equal(again[1], ids)
    with pytest.raises(ValueError, match="unknown category 'hats'; the index has dresses, shirts, shoes"):
        index.search(query, 5, category="hats")


def test_incomplete_index_folder_is_refused(built, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(built, folder)
    (folder / ITEMS_FILE).unlink()
    with pytest.raises(IndexMismatchError, match="items.jsonl is missing; rebuild it"):
        CatalogueIndex(folder)
    with pytest.raises(FileNotFoundError, match="index_info.json is missing"):
        CatalogueIndex(tmp_path / "nothing-here")


# ----------------------------------------------------------------------------------- generated benchmark folder
@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    synth = pytest.importorskip("data_prep.synth")
    root = tmp_path_factory.mktemp("synth")
    assert synth.main(["--out", str(root), "--size", "small", "--quiet"]) == 0
    return root


def test_build_from_generated_fashioniq_folder(synth_root, checkpoint, tmp_path, capsys):
    root = synth_root / "fashioniq"
    items = items_from_benchmark("fashioniq", root)
    listed = {i for f in (root / "image_splits").glob("split.*.json") for i in json.loads(f.read_text())}
    assert {it.image_id for it in items} == listed and len(items) == len(listed)
    for it in items:
        assert Path(it.path).is_file() and set(it.categories) <= {"dress", "shirt", "toptee"} and it.categories
    assert all(it.description for it in items)  # the generator writes product_descriptions.jsonl
    dresses = set(json.loads((root / "image_splits" / "split.dress.val.json").read_text()))
    assert all("dress" in it.categories for it in items if it.image_id in dresses)

    out = tmp_path / "fiq-index"
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--dataset", "fashioniq", "--root", str(root),
                           "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out.splitlines()  # a few lines, not the whole index_info.json
    assert printed[0] == f"built {out}: {len(items):,} products, embedded by the query model itself (symmetric index)"
    assert printed[1].startswith("  index type IDMap,Flat (exact:") and len(printed) <= 5
    # By default the build also fits the network that names an upload's category on the catalogue's photos.
    assert printed[-2].startswith("  photo category model: 3 categories,") and "held-out photos" in printed[-2]
    assert printed[-1] == f"  everything recorded: python -m cti_ir.index info --index {out}"
    info = read_index_info(out)
    assert info["photo_category"]["categories"] == 3 and info["version"] == 2  # the fit is the second version
    assert info["count"] == len(items) and info["source"]["dataset"] == "fashioniq"
    assert [it["image_id"] for it in read_items(out)] == [it.image_id for it in items]
    assert CatalogueIndex(out).categories == ["dress", "shirt", "toptee"]

    val = index_cli.main(["build", "--checkpoint", str(checkpoint), "--dataset", "fashioniq", "--root", str(root),
                          "--splits", "val", "--out", str(tmp_path / "val-index"), "--no-progress",
                          "--no-photo-category"])
    assert val == 0
    assert "photo category" not in capsys.readouterr().out
    assert "photo_category" not in read_index_info(tmp_path / "val-index")
    val_ids = {i for f in (root / "image_splits").glob("split.*.val.json") for i in json.loads(f.read_text())}
    assert {it["image_id"] for it in read_items(tmp_path / "val-index")} == val_ids


# ------------------------------------------------------------------------------ CLI: what a new user trips over
def test_build_checks_its_inputs_before_loading_the_model(checkpoint, catalogue, tmp_path, capsys, monkeypatch):
    import cti_ir.model.checkpoint

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr(cti_ir.model.checkpoint, "load_checkpoint", no_loading)
    out = str(tmp_path / "never")
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(tmp_path / "nope"),
                           "--out", out]) == 2
    assert index_cli.main(["build", "--checkpoint", str(tmp_path / "no_ckpt"), "--images", str(catalogue),
                           "--out", out]) == 2
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(catalogue), "--out", out,
                           "--chunk-size", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "image folder not found" in err[0] and "checkpoint folder not found" in err[1]
    assert "--chunk-size must be at least 1" in err[2]
    assert not Path(out).exists()


def test_skip_bad_on_an_all_corrupt_folder_gives_the_count_and_reasons_and_leaves_nothing(checkpoint, tmp_path,
                                                                                           capsys):
    shop = tmp_path / "broken_shop"
    for i in range(3):
        write_truncated_jpeg(shop / "dresses" / f"broken-{i}.jpg")
    (shop / "dresses" / "notes.png").write_text("not an image")
    out = tmp_path / "out"
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(shop), "--out", str(out),
                           "--skip-bad", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: none of the 4 catalogue images could be read, so there is nothing to index; "
                          "the first reasons: cannot load image ")
    assert "broken-0.jpg" in err and err.count("\n") == 1
    assert not out.exists()  # nothing useful was written, so no half-made folder is left behind


def test_failed_build_says_that_its_folder_is_the_resume_point(checkpoint, catalogue, tmp_path, capsys):
    shop = copy_categories(catalogue, tmp_path / "shop", ["dresses", "shirts"])
    write_truncated_jpeg(shop / "shirts" / "zz-broken.jpg")  # the last image: the chunks before it are written
    out = tmp_path / "out"
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(shop), "--out", str(out),
                           "--chunk-size", "32", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "zz-broken.jpg" in err and "pass --skip-bad" in err
    assert f"(96 images embedded so far are kept in {out}: run the same command again to resume" in err
    assert index_mod.embedded_count(out) == 96  # chunks 0-2 of 32 images each


def test_default_chunk_size_resumes_a_catalogue_of_a_few_hundred_images(checkpoint, tmp_path, capsys,
                                                                       monkeypatch):
    shop = tmp_path / "shop"
    for i in range(600):  # under the old default chunk (2048 images), which had no resume point at all
        path = shop / "tops" / f"top-{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i % 256, (i * 7) % 256, (i * 13) % 256)).save(path)
    out = tmp_path / "out"
    args = ["build", "--checkpoint", str(checkpoint), "--images", str(shop), "--out", str(out)]
    real_embed = index_mod.embed_items
    encoded: list[int] = []

    def crash_after_first_chunk(model, items, *rest, **kwargs):
        if encoded:
            raise KeyboardInterrupt  # as a user's Ctrl+C would
        encoded.append(len(items))
        return real_embed(model, items, *rest, **kwargs)

    monkeypatch.setattr(index_mod, "embed_items", crash_after_first_chunk)
    with pytest.raises(KeyboardInterrupt):
        index_cli.main(args)
    done = encoded[0]
    assert 0 < done < 600  # a resume point exists, and a kill loses at most one chunk's work
    capsys.readouterr()

    def counting(model, items, *rest, **kwargs):
        encoded.append(len(items))
        return real_embed(model, items, *rest, **kwargs)

    monkeypatch.setattr(index_mod, "embed_items", counting)
    assert index_cli.main(args) == 0
    assert f"resuming: {done} of 600 images already embedded" in capsys.readouterr().err
    assert sum(encoded[1:]) == 600 - done and read_index_info(out)["count"] == 600


# ------------------------------------------------------------------------------------------------ sharded build
@pytest.mark.slow  # two torchrun processes (gloo): about 13 CPU-seconds; CI runs the slow tests too
def test_two_process_sharded_build_equals_the_one_process_build(checkpoint, catalogue, built, tmp_path):
    """`torchrun --nproc_per_node 2 -m cti_ir.index build` (gloo, CPU) writes the one-process build's files."""
    out = tmp_path / "sharded"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "cti_ir.index", "build", "--checkpoint", str(checkpoint), "--images", str(catalogue),
           "--out", str(out), "--chunk-size", str(CHUNK), "--workers", "0"]
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Each process embedded its own half of the 6 chunks; only process 0 printed the summary of the index.
    assert "process 0 of 2: embedding 96 of the 180 images (3 of 6 chunks)" in proc.stderr
    assert "process 1 of 2: embedding 84 of the 180 images (3 of 6 chunks)" in proc.stderr
    assert proc.stdout.count(f"built {out}: 180 products") == 1, proc.stdout
    assert read_index_info(out)["count"] == 180

    assert read_items(out) == read_items(built)
    chunks = sorted(p.name for p in (built / EMBEDDINGS_DIR).iterdir())
    assert sorted(p.name for p in (out / EMBEDDINGS_DIR).iterdir()) == chunks
    for name in chunks:
        if name.endswith(".json"):
            assert (out / EMBEDDINGS_DIR / name).read_bytes() == (built / EMBEDDINGS_DIR / name).read_bytes(), name
    np.testing.assert_array_equal(stored_vectors(out), stored_vectors(built))
    assert (out / INDEX_FILE).read_bytes() == (built / INDEX_FILE).read_bytes()
    # The command also fits the upload-category network afterwards, in process 0 alone, as a second version
    # (the library build it is compared with does not): the rest of the record is the same.
    assert proc.stdout.count("photo category model:") == 1, proc.stdout
    ignore = {"built_at", "source", "version", "photo_category"}
    sharded_info, one_info = read_index_info(out), read_index_info(built)
    assert sharded_info["version"] == 2 and sharded_info["photo_category"]["categories"] == 3
    assert {k: v for k, v in sharded_info.items() if k not in ignore} == \
        {k: v for k, v in one_info.items() if k not in ignore}
