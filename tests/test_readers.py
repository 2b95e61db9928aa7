"""Benchmark readers on the real published annotation files, image checks on tiny fake folders, image-text corpora."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from cti_ir.data import (
    DatasetLayoutError,
    EvalSplit,
    FashionIQ,
    ImageLoadError,
    LabelsHiddenError,
    MissingImagesError,
    Query,
    Shoes,
    Triplet,
    join_captions,
    open_benchmark,
    open_image_text,
)
from tests.conftest import (
    REAL_BENCHMARKS,
    SHOES_EVAL,
    make_fake_shoes,
    needs_real_benchmarks,
    write_image,
)

FIQ_ROOT = REAL_BENCHMARKS / "fashioniq"
SHOES_ROOT = REAL_BENCHMARKS / "shoes"
real_fiq = needs_real_benchmarks("fashioniq")
real_shoes = needs_real_benchmarks("shoes")


@pytest.fixture(scope="module")
def fiq() -> FashionIQ:
    return FashionIQ(FIQ_ROOT)


@pytest.fixture(scope="module")
def shoes() -> Shoes:
    return Shoes(SHOES_ROOT)


def _counts(splits: list[EvalSplit]) -> dict[str, tuple[int, int]]:
    return {s.name: (len(s.queries), len(s.gallery)) for s in splits}


# -- Fashion-IQ, real annotations ------------------------------------------------------------------------------------


@real_fiq
def test_fiq_standard_protocol_counts(fiq: FashionIQ) -> None:
    splits = fiq.eval_splits("val", "standard", check=False)
    assert _counts(splits) == {"dress": (2017, 3817), "shirt": (2038, 6346), "toptee": (1961, 5373)}
    dress = splits[0]
    # gallery = split.dress.val.json in file order; the reference stays in the gallery
    assert dress.gallery == json.loads((FIQ_ROOT / "image_splits" / "split.dress.val.json").read_text())
    gallery = set(dress.gallery)
    assert all(q.reference in gallery and q.target in gallery for q in dress.queries)
    assert dress.queries[0] == Query(
        "B005X4PL1G", "Is shiny and silver with shorter sleeves and fit and flare", "B0084Y8XIU"
    )
    assert dress.dropped_queries == 0 and dress.image_report is None


@real_fiq
def test_fiq_default_split_is_val(fiq: FashionIQ) -> None:
    assert _counts(fiq.eval_splits(check=False)) == _counts(fiq.eval_splits("val", check=False))


@real_fiq
def test_fiq_val_protocol_counts(fiq: FashionIQ) -> None:
    splits = fiq.eval_splits("val", protocol="val", check=False)
    assert _counts(splits) == {"dress": (4034, 2628), "shirt": (4075, 3089), "toptee": (3920, 2902)}
    assert all(q.text for s in splits for q in s.queries)
    assert splits[0].queries[:2] == [
        Query("B005X4PL1G", "is shiny and silver with shorter sleeves", "B0084Y8XIU"),
        Query("B005X4PL1G", "fit and flare", "B0084Y8XIU"),
    ]


@real_fiq
def test_fiq_triplet_and_pool_counts(fiq: FashionIQ) -> None:
    expected = {
        ("train", "dress"): (5985, 11452), ("val", "dress"): (2017, 3817), ("test", "dress"): (2024, 3818),
        ("train", "shirt"): (5988, 19036), ("val", "shirt"): (2038, 6346), ("test", "shirt"): (2038, 6346),
        ("train", "toptee"): (6027, 16121), ("val", "toptee"): (1961, 5373), ("test", "toptee"): (2056, 5374),
    }
    for (split, cat), (n_trip, n_pool) in expected.items():
        assert len(fiq.triplets(split, cat)) == n_trip, (split, cat)
        assert len(fiq.split_images(split, cat)) == n_pool, (split, cat)
    assert len(fiq.triplets("train")) == 18000
    assert fiq.categories == ("dress", "shirt", "toptee")
    all_ids = {i for s in fiq.SPLITS for i in fiq.split_images(s)}
    assert len(all_ids) == 74381
    shirt = {i for s in fiq.SPLITS for i in fiq.split_images(s, "shirt")}
    toptee = {i for s in fiq.SPLITS for i in fiq.split_images(s, "toptee")}
    assert len(shirt & toptee) == 3302


@real_fiq
def test_fiq_test_split_has_no_targets(fiq: FashionIQ) -> None:
    test = fiq.triplets("test")
    assert len(test) == 6118 and all(t.target is None for t in test)
    assert all(t.target is not None for t in fiq.triplets("val"))
    with pytest.raises(LabelsHiddenError, match="hidden.*val"):
        fiq.eval_splits("test", check=False)


@real_fiq
def test_fiq_empty_captions(fiq: FashionIQ) -> None:
    def empty(split: str) -> int:
        return sum(1 for t in fiq.triplets(split) for c in t.captions if c == "")

    # README/STATS: 15 empty captions in the labelled (train + val) files, 12 + 3; the test files hold one more.
    assert empty("train") + empty("val") == 15
    assert (empty("train"), empty("val"), empty("test")) == (12, 3, 1)
    first = json.loads((FIQ_ROOT / "captions" / "cap.dress.train.json").read_text())[0]
    assert fiq.triplets("train", "dress")[0] == Triplet(first["candidate"], first["target"], tuple(first["captions"]),
                                                        "dress")


@real_fiq
def test_fiq_categories_subset_and_errors(fiq: FashionIQ) -> None:
    dress = FashionIQ(FIQ_ROOT, categories=["dress"])
    assert dress.categories == ("dress",)
    assert _counts(dress.eval_splits(check=False)) == {"dress": (2017, 3817)}
    with pytest.raises(ValueError, match="available: dress, shirt, toptee"):
        FashionIQ(FIQ_ROOT, categories=["skirt"])
    with pytest.raises(ValueError, match="unknown Fashion-IQ split"):
        fiq.triplets("dev")
    with pytest.raises(ValueError, match="unknown protocol"):
        fiq.eval_splits(protocol="vall", check=False)


def test_join_captions_like_clip4cir() -> None:
    assert join_captions(["is red.", "has long sleeves?"]) == "Is red and has long sleeves"
    assert join_captions([" Is BLUE, ", "shorter"]) == "Is blue and shorter"  # capitalize() lowers the rest
    assert join_captions(["is red", ""]) == "Is red and "  # empty captions kept, as CLIP4Cir does
    assert join_captions([]) == ""


# -- Shoes, real annotations -----------------------------------------------------------------------------------------


@real_shoes
def test_shoes_counts(shoes: Shoes) -> None:
    assert len(shoes.triplets("train")) == 8990
    assert len(shoes.triplets("test")) == 1761
    [ev] = shoes.eval_splits(check=False)
    assert (ev.name, len(ev.queries), len(ev.gallery)) == ("shoes", 1761, 4658)
    assert ev.gallery == (SHOES_ROOT / "dataset" / "eval_im_names.txt").read_text().split()
    assert len(shoes.split_images("train")) == 10000
    assert shoes.categories == ("shoes",)
    assert shoes.annotation_dir == SHOES_ROOT / "dataset"
    q = ev.queries[0]
    assert q.text == q.text.strip() and q.reference.endswith(".jpg")


@real_shoes
def test_shoes_reference_equals_target_kept(shoes: Shoes) -> None:
    raw = shoes.all_triplets()
    assert len(raw) == 10751
    same = [t for t in raw if t.reference == t.target]
    assert len(same) == 27
    kept = [t for s in ("train", "test") for t in shoes.triplets(s) if t.reference == t.target]
    assert len(kept) == 27  # every triplet lies within one split, odd ones included


@real_shoes
def test_shoes_split_aliases_and_errors(shoes: Shoes) -> None:
    for alias in ("eval", "val", "test"):
        assert len(shoes.triplets(alias)) == 1761
        assert _counts(shoes.eval_splits(alias, check=False)) == {"shoes": (1761, 4658)}
    assert len(shoes.triplets("train", "shoes")) == 8990
    with pytest.raises(ValueError, match="only category is 'shoes'"):
        shoes.triplets("train", "dress")
    with pytest.raises(ValueError, match="unknown Shoes split"):
        shoes.triplets("dev")
    with pytest.raises(ValueError, match="protocol"):
        shoes.eval_splits(protocol="val", check=False)


def test_open_benchmark_reads_the_named_dataset(fake_fiq: Path, fake_shoes: Path) -> None:
    for name in ("fashioniq", "Fashion-IQ", "fashion_iq", "FIQ"):
        bench = open_benchmark(name, fake_fiq)
        assert bench.categories == ("dress", "shirt", "toptee")
        assert bench.triplets("val") == FashionIQ(fake_fiq).triplets("val") and len(bench.triplets("val")) == 12
    shirt = open_benchmark("Fashion-IQ", fake_fiq, categories=["shirt"])  # keyword arguments reach the reader
    assert shirt.categories == ("shirt",) and {t.category for t in shirt.triplets("train")} == {"shirt"}
    shoes = open_benchmark("shoes", fake_shoes)
    assert shoes.triplets("train") == Shoes(fake_shoes).triplets("train") and shoes.categories == ("shoes",)
    with pytest.raises(DatasetLayoutError):  # a folder of the other dataset is refused, not misread
        open_benchmark("shoes", fake_fiq)
    with pytest.raises(ValueError, match="unknown benchmark"):
        open_benchmark("cirr", fake_fiq)


@real_fiq
def test_eval_splits_need_images_by_default(fiq: FashionIQ) -> None:
    with pytest.raises(MissingImagesError, match=r"15,415 of 15,415 .*images does not exist"):
        fiq.eval_splits()


def test_layout_errors_say_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="captions/.*expected a Fashion-IQ root"):
        FashionIQ(tmp_path)
    with pytest.raises(DatasetLayoutError, match="relative_captions_shoes.json not found"):
        Shoes(tmp_path)
    (tmp_path / "relative_captions_shoes.json").write_text("[]")
    with pytest.raises(DatasetLayoutError, match="train_im_names.txt"):
        Shoes(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        Shoes(tmp_path / "nope")


# -- image checks on fake folders ------------------------------------------------------------------------------------


def test_fake_fiq_all_present(fake_fiq: Path) -> None:
    ds = FashionIQ(fake_fiq)
    splits = ds.eval_splits()  # checks images by default
    assert _counts(splits) == {c: (4, 10) for c in ("dress", "shirt", "toptee")}
    assert splits[0].image_report is not None and splits[0].image_report.ok
    assert _counts(ds.eval_splits(protocol="val")) == {c: (7, 8) for c in ("dress", "shirt", "toptee")}
    assert splits[0].queries[0].text == " and is shorter"  # empty first caption, joined like CLIP4Cir


def test_jpg_and_png_both_resolved(fake_fiq: Path) -> None:
    ds = FashionIQ(fake_fiq)
    suffixes = {ds.image_path(i).suffix for i in ds.split_images("val")}
    assert suffixes == {".jpg", ".png"}
    assert all(ds.image_path(i).is_file() for i in ds.split_images("train"))
    assert ds.image_path("unknown") == fake_fiq / "images" / "unknown.jpg"
    upper = ds.image_path("dress-val-r0").rename(fake_fiq / "images" / "dress-val-r0.JPG")
    assert FashionIQ(fake_fiq).image_path("dress-val-r0") == upper


def test_missing_image_error_names_file_and_count(fake_fiq: Path) -> None:
    ds = FashionIQ(fake_fiq)
    gone = ds.image_path("dress-val-t1")
    gone.unlink()
    with pytest.raises(MissingImagesError) as info:
        FashionIQ(fake_fiq).eval_splits()
    msg = str(info.value)
    assert "1 of 30" in msg and "dress-val-t1.jpg" in msg and "skip_missing=True" in msg
    assert info.value.report.missing == ["dress-val-t1"]


def test_skip_missing_drops_and_reports(fake_fiq: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = FashionIQ(fake_fiq)
    ds.image_path("dress-val-t1").unlink()  # a target: its query and its gallery entry go
    ds.image_path("dress-val-extra0").unlink()  # gallery-only image
    with caplog.at_level(logging.WARNING, logger="cti_ir.data"):
        splits = FashionIQ(fake_fiq).eval_splits(skip_missing=True)
    dress = splits[0]
    assert (len(dress.queries), len(dress.gallery)) == (3, 8)
    assert (dress.dropped_queries, dress.dropped_gallery) == (1, 2)
    assert "dress-val-t1" not in dress.gallery and all(q.target != "dress-val-t1" for q in dress.queries)
    assert sorted(dress.image_report.missing) == ["dress-val-extra0", "dress-val-t1"]
    assert (splits[1].dropped_queries, splits[1].dropped_gallery) == (0, 0)
    assert "dropped 1 of 4 queries and 2 of 10 gallery images" in caplog.text


def test_corrupt_image_found_with_verify(fake_fiq: Path) -> None:
    ds = FashionIQ(fake_fiq)
    bad = ds.image_path("shirt-val-r2")
    bad.write_bytes(b"not really an image")
    assert len(FashionIQ(fake_fiq).eval_splits()) == 3  # existence check alone does not decode
    with pytest.raises(MissingImagesError, match=r"1 unreadable: .*shirt-val-r2\.(jpg|png) \(not an image"):
        FashionIQ(fake_fiq).eval_splits(verify=True)
    splits = FashionIQ(fake_fiq).eval_splits(verify=True, skip_missing=True)
    assert splits[1].dropped_queries == 1 and splits[1].dropped_gallery == 1
    with pytest.raises(ImageLoadError, match="shirt-val-r2"):
        from cti_ir.model.images import load_image

        load_image(ds.image_path("shirt-val-r2"))


def test_triplets_check_and_skip(fake_fiq: Path) -> None:
    ds = FashionIQ(fake_fiq)
    assert len(ds.triplets("train", "toptee", check=True)) == 3
    ds.image_path("toptee-train-r0").unlink()
    ds = FashionIQ(fake_fiq)
    assert len(ds.triplets("train", "toptee")) == 3  # annotation only by default
    with pytest.raises(MissingImagesError, match="toptee-train-r0"):
        ds.triplets("train", "toptee", check=True)
    assert len(ds.triplets("train", "toptee", skip_missing=True)) == 2
    assert len(ds.triplets("test", "toptee", check=True)) == 2  # hidden targets are not looked for


def test_fake_shoes_nested_images(fake_shoes: Path) -> None:
    ds = Shoes(fake_shoes)
    assert len(ds.triplets("train")) == 3 and len(ds.triplets("test")) == 2  # the mixed triplet is in neither
    assert len(ds.all_triplets()) == 6
    [ev] = ds.eval_splits()
    assert (len(ev.queries), len(ev.gallery)) == (2, 5)
    assert ev.queries[0] == Query(SHOES_EVAL[0], "has a strap", SHOES_EVAL[1])
    path = ds.image_path(SHOES_EVAL[1])
    assert path.is_file() and path.parent.parent.name == "womens_pumps"


def test_fake_shoes_missing_and_png(fake_shoes: Path) -> None:
    ds = Shoes(fake_shoes)
    old = ds.image_path(SHOES_EVAL[2])
    write_image(old.with_suffix(".png"))
    old.unlink()
    ds.image_path(SHOES_EVAL[3]).unlink()
    ds = Shoes(fake_shoes)
    assert ds.image_path(SHOES_EVAL[2]).suffix == ".png"  # a name listed as .jpg is found as .png too
    with pytest.raises(MissingImagesError, match=rf"1 of 5 .*{SHOES_EVAL[3]}"):
        ds.eval_splits()
    [ev] = ds.eval_splits(skip_missing=True)
    assert (len(ev.queries), ev.dropped_queries, len(ev.gallery), ev.dropped_gallery) == (1, 1, 4, 1)


def test_shoes_listing_is_cached_per_instance(fake_shoes: Path) -> None:
    ds = Shoes(fake_shoes)
    name = SHOES_EVAL[0]
    path = ds.image_path(name)
    moved = fake_shoes / "elsewhere" / name
    moved.parent.mkdir()
    path.rename(moved)
    assert ds.image_path(name) == path  # walked once: the cached listing still answers
    assert Shoes(fake_shoes).image_path(name) == moved


def test_shoes_annotations_in_root(tmp_path: Path) -> None:
    root = make_fake_shoes(tmp_path / "s", in_dataset_dir=False)
    ds = open_benchmark("shoes", root)
    assert ds.annotation_dir == root and len(ds.triplets("test", check=True)) == 2


# -- image-text corpora ----------------------------------------------------------------------------------------------


def _imagefolder(root: Path, splits: dict[str, int]) -> Path:
    for split, n in splits.items():
        folder = root / split if split else root
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "metadata.jsonl", "w") as f:
            for i in range(n):
                write_image(folder / f"{i}.png", (i * 40, 0, 0))
                f.write(json.dumps({"file_name": f"{i}.png", "text": f"{split} caption {i}"}) + "\n")
    return root


def test_image_text_imagefolder_splits(tmp_path: Path) -> None:
    root = _imagefolder(tmp_path / "open", {"train": 3, "validation": 2})
    train = open_image_text(root)
    assert len(train) == 3
    img, text = train[1]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and text == "train caption 1"
    assert img.getpixel((0, 0))[0] == 40
    val = open_image_text(root, "validation")
    assert [t for _, t in val] == ["validation caption 0", "validation caption 1"]
    assert len(open_image_text(root, "val")) == 2
    with pytest.raises(ValueError, match="no split 'test'.*train, validation"):
        open_image_text(root, "test")


def test_image_text_single_folder(tmp_path: Path) -> None:
    root = _imagefolder(tmp_path / "flat", {"": 2})
    ds = open_image_text(root)
    assert len(ds) == 2 and ds.text(0) == " caption 0"


def test_image_text_jsonl_relative_paths(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs" / "a.jpg")
    write_image(tmp_path / "imgs" / "b.png")
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        json.dumps({"image": "imgs/a.jpg", "caption": "a red dress"}) + "\n\n"
        + json.dumps({"image": "imgs/b.png", "caption": ["", "blue shoes", "x"]}) + "\n"
    )
    ds = open_image_text(path)
    assert len(ds) == 2
    assert ds[0][1] == "a red dress" and ds[1][1] == "blue shoes"
    assert ds[1][0].size == (8, 8)


def test_image_text_csv_and_explicit_columns(tmp_path: Path) -> None:
    write_image(tmp_path / "x.jpg")
    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filepath", "title", "other"])
        w.writerow(["x.jpg", "striped shirt", "desc"])
    ds = open_image_text(path)
    assert ds[0][1] == "striped shirt" and ds[0][0].mode == "RGB"
    assert open_image_text(path, text_column="other")[0][1] == "desc"
    with pytest.raises(ValueError, match="no text column 'nope'"):
        open_image_text(path, text_column="nope")
    odd = tmp_path / "odd.csv"
    odd.write_text("pic,words\nx.jpg,hello\n")
    with pytest.raises(ValueError, match="cannot find the image column.*image_column="):
        open_image_text(odd)
    assert open_image_text(odd, image_column="pic", text_column="words")[0][1] == "hello"


def test_image_text_missing_and_bad_images(tmp_path: Path) -> None:
    write_image(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"junk")
    path = tmp_path / "m.jsonl"
    rows = [("ok.png", "a"), ("gone.png", "b"), ("bad.png", "c")]
    path.write_text("".join(json.dumps({"file_name": f, "text": t}) + "\n" for f, t in rows))
    with pytest.raises(MissingImagesError, match=r"1 of 3 .*gone\.png"):
        open_image_text(path)
    ds = open_image_text(path, skip_missing=True)
    assert len(ds) == 2 and ds.dropped == 1
    with pytest.raises(ImageLoadError, match=r"bad\.png"):
        ds[1]


def test_image_text_via_datasets_imagefolder_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    root = _imagefolder(tmp_path / "open", {"train": 3, "validation": 2})
    cache = str(tmp_path / "cache")
    # the layout contract: `datasets` itself reads it
    dd = datasets.load_dataset("imagefolder", data_dir=str(root), cache_dir=cache)
    assert dd["train"].num_rows == 3 and set(dd["train"].column_names) == {"image", "text"}
    ds = open_image_text("imagefolder", "validation", data_dir=str(root), cache_dir=cache)
    assert len(ds) == 2
    img, text = ds[-1]
    assert img.mode == "RGB" and text == "validation caption 1"
    wrapped = open_image_text(dd, "train")
    assert len(wrapped) == 3 and wrapped.text(2) == "train caption 2"
    with pytest.raises(IndexError):
        wrapped[3]
    with pytest.raises(ValueError, match="cannot open image-text corpus"):
        open_image_text(str(tmp_path / "no_such_thing"), cache_dir=cache)
