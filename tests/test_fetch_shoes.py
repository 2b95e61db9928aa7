"""data_prep.fetch shoes: a local Attribute Discovery archive, unpacked safely and checked; hostile archives refused."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from cti_ir.data import Shoes
from data_prep import check
from data_prep.fetch import main
from data_prep.fetch_shoes import ArchiveEntry, unsafe_reason
from tests.conftest import SHOES_EVAL, SHOES_TRAIN, make_fake_shoes
from tests.fetch_fixtures import product_image

MISSING = SHOES_EVAL[3]      # not in the archive (the reference of a test query)
CORRUPT = SHOES_TRAIN[3]     # truncated in the archive


def image_member(name: str, part: str = "0") -> str:
    kind = name.rsplit("_", 1)[0].removeprefix("img_")
    return f"attributedata/{kind}/{part}/{name}"


def archive_files() -> dict[str, bytes]:
    """The archive's regular files: the needed shoes (one missing, one truncated), plus what the captions do not use."""
    files = {}
    for i, name in enumerate(SHOES_TRAIN + SHOES_EVAL):
        if name == MISSING:
            continue
        data = product_image(name, size=(60, 40))
        files[image_member(name, str(i % 2))] = data[: len(data) // 2] if name == CORRUPT else data
    files["attributedata/bags_backpack/0/img_bags_backpack_1.jpg"] = product_image("bag")
    files["attributedata/womens_boots/0/descr_womens_boots_0.txt"] = b"leather boots"
    files["attributedata/womens_boots/0/img_womens_boots_99.jpg"] = product_image("unused shoe")
    return files


@pytest.fixture
def captions(tmp_path) -> Path:
    """The Shoes caption files (from the shared fake), without any image."""
    src = make_fake_shoes(tmp_path / "fake_shoes")
    return src / "dataset"


def write_tar(path: Path, files: dict[str, bytes], extra=()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"evil" if info.isreg() else b""))
    return path


def test_unpacks_what_the_captions_need_and_reports_what_is_missing(tmp_path, captions, capsys):
    archive = write_tar(tmp_path / "attributedata.tar.gz", archive_files(),
                        extra=[_link("attributedata/womens_boots/1/inside_link.jpg", "img_womens_boots_1.jpg")])
    root = tmp_path / "shoes"
    code = main(["shoes", "--archive", str(archive), "--captions", str(captions), "--root", str(root), "--quiet",
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    for i, name in enumerate(SHOES_TRAIN + SHOES_EVAL):
        path = root / image_member(name, str(i % 2)).removeprefix("attributedata/")
        assert path.is_file() == (name != MISSING)
        if name not in (MISSING, CORRUPT):
            assert path.read_bytes() == product_image(name, size=(60, 40))  # byte for byte
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}
    expected = {image_member(n, str(i % 2)).removeprefix("attributedata/")
                for i, n in enumerate(SHOES_TRAIN + SHOES_EVAL) if n != MISSING}
    # only the needed images, the caption files and the report: no bag, description, unused shoe or link
    assert written == expected | {"dataset/relative_captions_shoes.json", "dataset/train_im_names.txt",
                                  "dataset/eval_im_names.txt", "fetch_report.json"}
    for name in ("relative_captions_shoes.json", "train_im_names.txt", "eval_im_names.txt"):
        assert (root / "dataset" / name).read_bytes() == (captions / name).read_bytes()
    problems = {p["image"]: p for p in report["problems"]}
    assert set(problems) == {MISSING, CORRUPT}
    assert problems[MISSING]["reason"] == "not in the archive" and problems[MISSING]["needed_by"] == ["test",
                                                                                                      "triplets"]
    assert problems[CORRUPT]["reason"].startswith("unreadable: ") and "runcated" in problems[CORRUPT]["reason"]
    # the bag, the description and the shoe no caption uses
    assert report["totals"]["other_archive_files_left_out"] == 3 and report["totals"]["links_skipped"] == 0
    assert json.loads((root / "fetch_report.json").read_text())["problems"] == report["problems"]

    # the result is a Shoes root the readers and the check accept; the check shows the reduced protocol
    assert Shoes(root).image_path(SHOES_EVAL[0]).is_file()
    assert check.main(["--dataset", "shoes", "--root", str(root), "--json"]) == 1
    rp = json.loads(capsys.readouterr().out)["images"]["reduced_protocol"]
    assert rp["eval"] == [{"split": "test", "category": "shoes", "queries_kept": 1, "queries_published": 2,
                           "gallery_kept": 4, "gallery_published": 5}]

    # a rerun extracts nothing again
    assert main(["shoes", "--archive", str(archive), "--captions", str(captions), "--root", str(root), "--quiet",
                 "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["totals"]["extracted_this_run"] == 0 and again["totals"]["already_present"] == 10


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 4
    return info


HOSTILE = {
    "dotdot": lambda out: [_file("attributedata/../../escaped.jpg")],
    "absolute": lambda out: [_file(str(out / "absolute.jpg"))],
    "symlink-out": lambda out: [_link("attributedata/womens_boots/0/img_womens_boots_0.jpg", "/etc/passwd")],
    "symlink-dotdot": lambda out: [_link("attributedata/womens_boots", "../../.."),
                                   _file("attributedata/womens_boots/escaped.jpg")],
    "hardlink-out": lambda out: [_link("attributedata/h.jpg", "../outside.jpg", hard=True)],
    "device": lambda out: [_special("attributedata/womens_boots/0/dev", tarfile.CHRTYPE)],
    "fifo": lambda out: [_special("attributedata/womens_boots/0/fifo", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_is_written(kind, tmp_path, captions, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = write_tar(tmp_path / "a.tar.gz", archive_files(), extra=HOSTILE[kind](outside))
    root = tmp_path / "deep" / "shoes"
    code = main(["shoes", "--archive", str(archive), "--captions", str(captions), "--root", str(root), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "refused, nothing was extracted" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not root.exists()                   # nothing at all, not even the caption files
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "fake_shoes", "outside"]


def test_zip_archives_work_and_hostile_zips_are_refused(tmp_path, captions, capsys):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as z:
        for name, data in archive_files().items():
            z.writestr(name, data)
    root = tmp_path / "shoes"
    assert main(["shoes", "--archive", str(good), "--captions", str(captions), "--root", str(root), "--quiet"]) == 1
    assert "9 of 11 images the captions need are present" in capsys.readouterr().out
    bad = tmp_path / "bad.zip"
    shutil.copy(good, bad)
    with zipfile.ZipFile(bad, "a") as z:
        z.writestr("../escaped.jpg", b"evil")
    assert main(["shoes", "--archive", str(bad), "--captions", str(captions), "--root", str(tmp_path / "r2")]) == 2
    assert "path with '..'" in capsys.readouterr().err and not (tmp_path / "escaped.jpg").exists()


def test_a_symlink_already_in_the_root_cannot_redirect_writes(tmp_path, captions, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "shoes"
    root.mkdir()
    (root / "womens_boots").symlink_to(outside)
    archive = write_tar(tmp_path / "a.tar.gz", archive_files())
    argv = ["shoes", "--archive", str(archive), "--captions", str(captions), "--root", str(root), "--quiet"]
    assert main(argv) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert list(outside.rglob("*")) == []


def test_unsafe_reason_rules():
    assert unsafe_reason(ArchiveEntry("a/b/c.jpg", "file", 1)) is None
    assert unsafe_reason(ArchiveEntry("./a/..b/c.jpg", "file", 1)) is None      # '..b' is a name, not a step up
    assert unsafe_reason(ArchiveEntry("a/b/link", "symlink", 0, "../c.jpg")) is None   # stays inside
    assert unsafe_reason(ArchiveEntry("a/link", "symlink", 0, "../../c")) == \
        "symlink pointing out of the archive (../../c)"
    assert unsafe_reason(ArchiveEntry("C:/x.jpg", "file", 1)) == "absolute path"
    assert unsafe_reason(ArchiveEntry("a\\..\\..\\x.jpg", "file", 1)) == "path with '..'"


def test_bad_inputs_are_clear_errors(tmp_path, captions, capsys):
    assert main(["shoes", "--archive", str(tmp_path / "none.tar.gz"), "--captions", str(captions), "--root",
                 str(tmp_path / "r")]) == 2
    assert "tamaraberg.com/attributesDataset" in capsys.readouterr().err
    not_archive = tmp_path / "x.tar.gz"
    not_archive.write_text("hello")
    assert main(["shoes", "--archive", str(not_archive), "--captions", str(captions), "--root",
                 str(tmp_path / "r")]) == 2
    assert "neither a tar nor a zip archive" in capsys.readouterr().err
    archive = write_tar(tmp_path / "a.tar.gz", archive_files())
    assert main(["shoes", "--archive", str(archive), "--captions", str(tmp_path), "--root", str(tmp_path / "r")]) == 2
    assert "fashion-retrieval" in capsys.readouterr().err
