"""Shared fixtures: tiny fake Fashion-IQ and Shoes folders (real layouts, a few 8x8 images).

Most tests run on these fakes or on the generated catalogue. The few that check the published protocol counts read
the real annotation files (no images), a folder with ``fashioniq/`` and ``shoes/`` in the published layouts:

- ``CTI_IR_BENCHMARKS=<folder>`` says where it is;
- otherwise ``<repository>/../shared/benchmarks`` (where our development machines and CI keep it).

Such a test is marked ``@needs_real_benchmarks("fashioniq")`` (or ``"shoes"``, or both). When its folder is not
there it is skipped with the path that was looked at, and the run ends with one line counting those skips.
``CTI_IR_REQUIRE_BENCHMARKS=1`` (set by ``.ci/run``) turns each such skip into a failure, so that a run where the
files should be found cannot pass while silently leaving those tests out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def find_real_benchmarks() -> Path:
    """The folder of the published annotation files: ``$CTI_IR_BENCHMARKS``, else ``<repo>/../shared/benchmarks``."""
    given = os.environ.get("CTI_IR_BENCHMARKS", "").strip()
    return Path(given).expanduser().resolve() if given else REPO.parent / "shared" / "benchmarks"


REAL_BENCHMARKS = find_real_benchmarks()
REQUIRE_ENV = "CTI_IR_REQUIRE_BENCHMARKS"


def needs_real_benchmarks(*datasets: str) -> pytest.MarkDecorator:
    """Mark a test that reads the published annotation files of ``datasets`` (``fashioniq``, ``shoes``)."""
    return pytest.mark.real_benchmarks(*(datasets or ("fashioniq", "shoes")))


def missing_real_benchmarks(datasets) -> list[Path]:
    return [REAL_BENCHMARKS / d for d in datasets if not (REAL_BENCHMARKS / d).is_dir()]


def _benchmarks_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


#: The node ids of the tests skipped for want of the annotation files (counted in the run's last lines).
_SKIPPED_REAL = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_benchmarks(*datasets): reads the published annotation files under "
                                       "$CTI_IR_BENCHMARKS or ../shared/benchmarks; skipped when they are absent")
    config.stash[_SKIPPED_REAL] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture: skip (or, when required, fail) a test whose annotation files are not there."""
    marker = item.get_closest_marker("real_benchmarks")
    if marker is None:
        return
    missing = missing_real_benchmarks(marker.args or ("fashioniq", "shoes"))
    if not missing:
        return
    why = (f"published annotation files not found: {', '.join(map(str, missing))} (set CTI_IR_BENCHMARKS to the "
           f"folder holding fashioniq/ and shoes/)")
    if _benchmarks_required():
        pytest.fail(f"{why}; {REQUIRE_ENV} is set, so this test may not be skipped", pytrace=False)
    pytest.skip(why)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    """Count the skips of tests that need the real files; when required, a skip of one (even by its own
    ``pytest.skip``) is reported as a failure."""
    report = yield
    if report.skipped and item.get_closest_marker("real_benchmarks") is not None:
        if _benchmarks_required():
            reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
            report.outcome = "failed"
            report.longrepr = (f"{item.nodeid} needs the published annotation files and was skipped ({reason}); "
                               f"{REQUIRE_ENV} is set, so it may not be skipped")
        else:
            item.config.stash[_SKIPPED_REAL].append(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    skipped = config.stash.get(_SKIPPED_REAL, [])
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} tests that need the published annotation files were skipped (looked for in "
            f"{REAL_BENCHMARKS}; set CTI_IR_BENCHMARKS=<folder with fashioniq/ and shoes/>, and "
            f"{REQUIRE_ENV}=1 to make such a skip a failure)", yellow=True)


def write_image(path: Path, color=(200, 30, 30)) -> Path:
    """Write an 8x8 image; the format follows the suffix (.jpg / .png)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def make_fake_fashioniq(root: Path) -> Path:
    """Fashion-IQ layout: per category 3 train, 4 val (one with an empty caption), 2 test triplets.

    Val galleries hold the triplet images plus 2 gallery-only images. Images alternate between .jpg and .png.
    """
    (root / "captions").mkdir(parents=True)
    (root / "image_splits").mkdir()
    n = 0
    for cat in ("dress", "shirt", "toptee"):
        for split, count in (("train", 3), ("val", 4), ("test", 2)):
            trips, pool = [], []
            for i in range(count):
                ref, tgt = f"{cat}-{split}-r{i}", f"{cat}-{split}-t{i}"
                caps = ["is red.", "Has long sleeves?"] if i else ["", "is shorter"]
                row = {"candidate": ref, "captions": caps}
                if split != "test":
                    row["target"] = tgt
                    pool.append(tgt)
                trips.append(row)
                pool.append(ref)
            pool += [f"{cat}-{split}-extra{j}" for j in range(2)]
            (root / "captions" / f"cap.{cat}.{split}.json").write_text(json.dumps(trips))
            (root / "image_splits" / f"split.{cat}.{split}.json").write_text(json.dumps(pool))
            for asin in pool:
                n += 1
                write_image(root / "images" / f"{asin}{'.jpg' if n % 2 else '.png'}", (n % 255, 0, 0))
    return root


#: Fake Shoes triplets (target, reference, caption). One has reference == target, one mixes train and eval images.
SHOES_TRAIN = [f"img_womens_boots_{i}.jpg" for i in range(6)]
SHOES_EVAL = [f"img_womens_pumps_{i}.jpg" for i in range(5)]
SHOES_TRIPLETS = [
    (SHOES_TRAIN[1], SHOES_TRAIN[0], "is taller"),
    (SHOES_TRAIN[2], SHOES_TRAIN[3], "is black"),
    (SHOES_TRAIN[4], SHOES_TRAIN[4], "is the same"),
    (SHOES_EVAL[1], SHOES_EVAL[0], " has a strap "),
    (SHOES_EVAL[2], SHOES_EVAL[3], "is red"),
    (SHOES_EVAL[4], SHOES_TRAIN[5], "mixed split, in neither"),
]


def make_fake_shoes(root: Path, in_dataset_dir: bool = True) -> Path:
    """Shoes layout: annotations in ROOT/dataset (or ROOT), images in womens_<type>/<0|1>/."""
    ann = root / "dataset" if in_dataset_dir else root
    ann.mkdir(parents=True, exist_ok=True)
    rows = [{"ImageName": t, "ReferenceImageName": r, "RelativeCaption": c} for t, r, c in SHOES_TRIPLETS]
    (ann / "relative_captions_shoes.json").write_text(json.dumps(rows))
    (ann / "train_im_names.txt").write_text("\n".join(SHOES_TRAIN) + "\n")
    (ann / "eval_im_names.txt").write_text("\n".join(SHOES_EVAL) + "\n")
    for i, name in enumerate(SHOES_TRAIN + SHOES_EVAL):
        kind = name.rsplit("_", 1)[0].removeprefix("img_")
        write_image(root / kind / str(i % 2) / name, (0, i * 20, 0))
    return root


@pytest.fixture
def fake_fiq(tmp_path: Path) -> Path:
    return make_fake_fashioniq(tmp_path / "fashioniq")


@pytest.fixture
def fake_shoes(tmp_path: Path) -> Path:
    return make_fake_shoes(tmp_path / "shoes")


# Session fixtures for the pipeline tests (generated catalogue, tiny checkpoint), shared by every test module.
from tests.pipeline_fixtures import synth_small, tiny_checkpoint  # noqa: E402,F401
# Label-free adaptation (Grappa): a tiny multi-view catalogue and an adapted tiny checkpoint.
from tests.adapt_fixtures import adapted, views  # noqa: E402,F401


@pytest.fixture(autouse=True, scope="session")
def image_cache_in_a_temporary_folder(tmp_path_factory):
    """Training runs in the tests (in-process and subprocesses, which inherit the variable) keep their image caches
    in a temporary folder, not in the user's ~/.cache."""
    import os

    folder = tmp_path_factory.mktemp("image_cache")
    before = os.environ.get("CTI_IR_IMAGE_CACHE")
    os.environ["CTI_IR_IMAGE_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("CTI_IR_IMAGE_CACHE", None)
    else:
        os.environ["CTI_IR_IMAGE_CACHE"] = before
