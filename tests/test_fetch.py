"""python -m data_prep.fetch fashioniq: against a local image host with dead links of every kind, resumed, killed.

The Fashion-IQ folder is made of the first triplets of annotation files in the published formats (generated ones,
and for the main test also the real ones when they are there); the URL lists, in their published format, are moved
to a local server that gives each URL a behaviour (good JPEG / PNG, redirect, a server that fails twice, 404, HTML
page, empty, truncated, dropped connection, no answer, redirect loop, 1x1 GIF, WebP).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep import check
from data_prep.fetch import main
from data_prep.fetch_http import FetchError, HostRateLimiter, HttpResponse, RetryPolicy, fetch_with_retries
from data_prep.fetch_images import VerifyOptions, verify_image_bytes
from tests.conftest import needs_real_benchmarks
from tests.fetch_fixtures import (
    DEAD_KINDS,
    GENERATED,
    GIF_PIXEL,
    GOOD_KINDS,
    HTML_PAGE,
    PUBLISHED,
    ImageHost,
    make_small_fashioniq,
    product_image,
    url_path,
    write_url_lists,
)

REPO = Path(__file__).resolve().parents[1]
#: Fast settings: the "no answer" URL (only in the tests that need one) costs two 0.5 s timeouts; retries wait 10 ms.
FAST = ["--timeout", "0.5", "--retries", "1", "--backoff", "0.01", "--workers", "8", "--rate", "1000", "--quiet"]
#: The dead kinds without the one that costs a real timeout.
QUICK_DEAD_KINDS = tuple(k for k in DEAD_KINDS if k != "timeout")


@pytest.fixture
def host():
    server = ImageHost().start()
    yield server
    server.stop()


def needed_ids(root: Path) -> dict[tuple[str, str], set[str]]:
    """What each (category, split) needs, read straight from the files (independently of the fetcher)."""
    out = {}
    for cap in (root / "captions").glob("cap.*.json"):
        _, cat, split, _ = cap.name.split(".")
        ids = set(json.loads((root / "image_splits" / f"split.{cat}.{split}.json").read_text()))
        ids |= {i for t in json.loads(cap.read_text()) for i in (t["candidate"], t.get("target")) if i}
        out[(cat, split)] = ids
    return out


def assign_kinds(ids: list[str], dead_kinds=tuple(DEAD_KINDS)) -> tuple[dict[str, str], str]:
    """One ASIN per dead kind, one left out of the lists, the rest good (cycling over the good kinds)."""
    ids = sorted(ids)
    kinds = {}
    dead = list(dead_kinds)
    # Spread the dead ones over the sorted list so that they fall in different categories and splits.
    step = len(ids) // (len(dead) + 1)
    for n, kind in enumerate(dead):
        kinds[ids[(n + 1) * step]] = kind
    left_out = ids[step // 2]
    good = [i for i in ids if i not in kinds and i != left_out]
    for n, asin in enumerate(good):
        kinds[asin] = GOOD_KINDS[n % len(GOOD_KINDS)]
    kinds[left_out] = "jpeg"
    return kinds, left_out


def make_fiq(tmp_path: Path, host: ImageHost, dead_kinds=QUICK_DEAD_KINDS, source: str = GENERATED):
    root = make_small_fashioniq(tmp_path / "fiq", {"train": 2, "val": 4, "test": 2}, source=source)
    all_ids = sorted(set().union(*needed_ids(root).values()))
    kinds, left_out = assign_kinds(all_ids, dead_kinds)
    lists = write_url_lists(root, host, kinds, leave_out=(left_out,), source=source)
    return root, lists, kinds, left_out


@pytest.fixture
def fiq(tmp_path, host):
    """The small Fashion-IQ folder with every kind of dead link but the timeout."""
    return make_fiq(tmp_path, host)


@pytest.fixture(params=[GENERATED, pytest.param(PUBLISHED, marks=needs_real_benchmarks("fashioniq"))])
def fiq_with_timeout(request, tmp_path, host):
    """The same with every kind of dead link, including a URL that never answers; on generated annotations and on
    the first triplets of the published ones (real ASINs, captions and URL lists)."""
    return make_fiq(tmp_path, host, tuple(DEAD_KINDS), source=request.param)


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_fetch_gets_every_good_image_and_reports_every_bad_one(fiq_with_timeout, host, capsys):
    root, lists, kinds, left_out = fiq_with_timeout
    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", *FAST)
    assert code == 1  # some images are dead
    assert report["complete"] and report["lists"] == str(lists)  # found ROOT/image_url by itself
    images = root / "images"
    for asin, kind in kinds.items():
        if asin == left_out:
            continue
        path = url_path(lists, asin)
        if kind in GOOD_KINDS:
            ext = ".png" if kind == "png" else ".jpg"
            # stored byte for byte, under the extension of the format the server sent
            assert (images / f"{asin}{ext}").read_bytes() == host.body_for(path, "png" if kind == "png" else "jpeg")
        else:
            assert not any(images.glob(f"{asin}.*")), (asin, kind)
    assert not [p for p in images.iterdir() if p.name.startswith(".")]  # no temporary files left

    dead = {d["asin"]: d for d in report["dead"]}
    expected_dead = {a for a, k in kinds.items() if k in DEAD_KINDS} | {left_out}
    assert set(dead) == expected_dead
    for asin in expected_dead - {left_out}:
        assert DEAD_KINDS[kinds[asin]] in dead[asin]["reason"], (kinds[asin], dead[asin])
        assert dead[asin]["url"].endswith(url_path(lists, asin))
    assert dead[left_out]["url"] is None and "no URL for this ASIN" in dead[left_out]["reason"]
    # transient failures were retried (1 retry), permanent ones were not
    by_kind = {k: host.hits[url_path(lists, a)] for a, k in kinds.items() if a != left_out}
    assert by_kind["timeout"] == 2 and by_kind["short"] == 2 and by_kind["flaky"] == 2
    assert by_kind["404"] == 1 and by_kind["html"] == 1 and by_kind["truncated"] == 1
    # every other image was asked for once, also one that two categories' lists name (the generated annotations
    # have one in shirt's and toptee's)
    for asin, kind in kinds.items():
        if asin != left_out and kind in ("jpeg", "png", "redirect"):
            assert host.hits[url_path(lists, asin)] == 1, (asin, kind)

    needed = needed_ids(root)
    rows = {(r["category"], r["split"]): r for r in report["splits"]}
    assert set(rows) == set(needed)
    for key, ids in needed.items():
        assert rows[key]["needed"] == len(ids)
        assert rows[key]["dead"] == len(ids & expected_dead)
        assert rows[key]["fetched"] == len(ids - expected_dead)
    on_disk = json.loads((root / "fetch_report.json").read_text())
    assert on_disk["totals"] == report["totals"] and on_disk["totals"]["dead"] == len(expected_dead)


def test_transient_failures_are_retried_by_the_next_run(fiq, host, capsys):
    root, lists, kinds, _ = fiq
    flaky = [a for a, k in kinds.items() if k == "flaky"]
    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", *FAST, "--retries", "0")
    dead = {d["asin"]: d for d in report["dead"]}
    assert flaky and all(dead[a]["reason"] == "HTTP 503 Service Unavailable" and dead[a]["transient"] for a in flaky)
    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", *FAST, "--retries", "0")
    assert all((root / "images" / f"{a}.jpg").is_file() for a in flaky)  # busy once, then answered
    assert all(host.hits[url_path(lists, a)] == 2 for a in flaky)


def test_rerun_downloads_nothing_twice_and_check_reports_the_reduced_protocol(fiq, host, capsys):
    root, lists, kinds, left_out = fiq
    main(["fashioniq", "--root", str(root), "--json", *FAST])
    first = json.loads(capsys.readouterr().out)
    hits_after_first = dict(host.hits)

    code, second = run_json(capsys, "fashioniq", "--root", str(root), "--json", *FAST)
    assert code == 1
    for asin, kind in kinds.items():
        if asin == left_out:
            continue
        path = url_path(lists, asin)
        again = host.hits[path] - hits_after_first.get(path, 0)
        # only the transient failures are tried again; good files and permanently dead links are not requested
        assert again == (2 if kind == "short" else 0), (kind, again)
    assert second["totals"]["downloaded_this_run"] == 0
    assert second["totals"]["already_present"] == first["totals"]["fetched"]
    assert {d["asin"] for d in second["dead"]} == {d["asin"] for d in first["dead"]}

    # data_prep.check then reports exactly what is left of the protocol
    dead = {d["asin"] for d in second["dead"]}
    code = check.main(["--dataset", "fashioniq", "--root", str(root), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 1 and res["images"]["missing"] == len(dead)
    rp = res["images"]["reduced_protocol"]
    assert rp["reduced"]
    for row in rp["eval"]:
        cat = row["category"]
        trips = json.loads((root / "captions" / f"cap.{cat}.val.json").read_text())
        pool = list(dict.fromkeys(json.loads((root / "image_splits" / f"split.{cat}.val.json").read_text())))
        assert row["queries_published"] == len(trips) and row["gallery_published"] == len(pool)
        assert row["queries_kept"] == sum(t["candidate"] not in dead and t["target"] not in dead for t in trips)
        assert row["gallery_kept"] == sum(a not in dead for a in pool)
    assert any(r["queries_kept"] < r["queries_published"] for r in rp["eval"])
    for row in rp["triplets"]:
        trips = json.loads((root / "captions" / f"cap.{row['category']}.{row['split']}.json").read_text())
        assert row["published"] == len(trips)
        assert row["kept"] == sum(all(i not in dead for i in (t["candidate"], t.get("target")) if i) for t in trips)


def test_retry_dead_asks_again_and_an_unreadable_file_on_disk_is_replaced(fiq, host, capsys):
    root, lists, kinds, left_out = fiq
    main(["fashioniq", "--root", str(root), "--json", *FAST])
    capsys.readouterr()
    good = sorted(a for a, k in kinds.items() if k == "jpeg" and a != left_out)[0]
    (root / "images" / f"{good}.jpg").write_bytes(b"\xff\xd8\xff truncated")   # a broken file, as others leave them
    before = dict(host.hits)
    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", "--retry-dead", *FAST)
    assert (root / "images" / f"{good}.jpg").read_bytes() == host.body_for(url_path(lists, good), "jpeg")
    assert report["replaced_unreadable"][0]["asin"] == good
    assert Path(report["replaced_unreadable"][0]["moved_to"]).read_bytes() == b"\xff\xd8\xff truncated"
    four04 = url_path(lists, next(a for a, k in kinds.items() if k == "404"))
    assert host.hits[four04] == before[four04] + 1  # --retry-dead asked again


def test_convert_other_formats_is_explicit(fiq, host, capsys):
    root, lists, kinds, _ = fiq
    webp = next(a for a, k in kinds.items() if k == "webp")
    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", "--convert-other-formats", *FAST)
    from PIL import Image

    with Image.open(root / "images" / f"{webp}.png") as img:
        assert img.format == "PNG"
    assert report["converted"] == [{"asin": webp, "file": str(root / "images" / f"{webp}.png"), "from": "WEBP"}]


def test_killed_run_resumes_without_downloading_again(tmp_path, host, capsys):
    root = make_small_fashioniq(tmp_path / "fiq", {"train": 1, "val": 2, "test": 1}, extra_pool=1)
    ids = sorted(set().union(*needed_ids(root).values()))
    kinds = {a: "jpeg" for a in ids}
    kinds[ids[-1]] = "hang"  # the last download (one worker, sorted order) never answers until released
    lists = write_url_lists(root, host, kinds)
    (root / "images").mkdir()
    (root / "images" / f".{ids[0]}.jpg.x1y2.tmp").write_bytes(b"half")  # a partial file from an older kill
    proc = subprocess.Popen([sys.executable, "-m", "data_prep.fetch", "fashioniq", "--root", str(root),
                             "--workers", "1", "--rate", "0", "--timeout", "30", "--quiet"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert host.hang_seen.wait(60), "the fetcher never reached the last image"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (root / "fetch_report.json").exists()  # killed: no report, only the journal and the files
    done_before = {p.stem for p in (root / "images").glob("*.jpg")}
    assert done_before == set(ids[:-1])
    host.release.set()

    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", "--workers", "2", "--quiet")
    assert code == 0 and report["totals"]["dead"] == 0
    assert report["totals"]["downloaded_this_run"] == 1 and report["totals"]["already_present"] == len(ids) - 1
    for asin in ids[:-1]:
        assert host.hits[url_path(lists, asin)] == 1  # downloaded once, by the killed run
    assert host.hits[url_path(lists, ids[-1])] == 2
    assert not [p for p in (root / "images").iterdir() if p.name.startswith(".")]


def test_interrupt_writes_a_partial_report_and_resumes(fiq, host, capsys, monkeypatch):
    from data_prep import fetch_fashioniq
    from data_prep.fetch_http import UrllibDownloader

    root, lists, kinds, left_out = fiq
    real = UrllibDownloader()
    calls = []

    def interrupted(url, timeout):
        calls.append(url)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(url, timeout)

    monkeypatch.setattr(fetch_fashioniq, "UrllibDownloader", lambda: interrupted)
    assert main(["fashioniq", "--root", str(root), *FAST]) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    partial = json.loads((root / "fetch_report.json").read_text())
    assert partial["complete"] is False and partial["totals"]["not_attempted"] > 0
    monkeypatch.undo()
    on_disk = {p.stem for p in (root / "images").iterdir() if p.suffix in (".jpg", ".png")}
    assert on_disk  # some images were stored before the interrupt
    before = dict(host.hits)
    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", *FAST)
    assert report["complete"] and report["totals"]["not_attempted"] == 0
    assert report["totals"]["already_present"] == len(on_disk)
    for asin in on_disk:
        assert host.hits[url_path(lists, asin)] == before[url_path(lists, asin)]  # not downloaded again


def test_setup_errors_are_one_line(tmp_path, capsys):
    assert main(["fashioniq", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "captions/" in err and "Traceback" not in err
    root = make_small_fashioniq(tmp_path / "fiq", {"train": 1, "val": 1, "test": 1}, splits=("val",))
    assert main(["fashioniq", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "asin2url.dress.txt" in err and "fashion-iq-metadata" in err and "--lists" in err
    with pytest.raises(SystemExit) as info:
        main(["fashioniq", "--root", str(root), "--timeout", "0"])
    assert info.value.code == 2 and "must be > 0" in capsys.readouterr().err


def test_absent_test_split_is_reported_and_skipped(tmp_path, host, capsys):
    root = make_small_fashioniq(tmp_path / "fiq", {"train": 1, "val": 2, "test": 1}, splits=("train", "val"))
    ids = sorted(set().union(*needed_ids(root).values()))
    write_url_lists(root, host, {a: "jpeg" for a in ids})
    code, report = run_json(capsys, "fashioniq", "--root", str(root), "--json", *FAST)
    assert code == 0 and report["totals"]["fetched"] == len(ids)
    assert {(a["category"], a["split"]) for a in report["absent_splits"]} == {
        (c, "test") for c in ("dress", "shirt", "toptee")}


# ------------------------------------------------------------------------------------------------ the parts
def test_rate_limit_spaces_requests_per_host():
    clock = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)

    limiter = HostRateLimiter(4.0, clock=lambda: clock[0], sleep=sleep)
    waits = [limiter.wait("http://a.example/x") for _ in range(3)]
    assert waits == [0.0, 0.25, 0.5]          # slots 1/4 s apart on one host
    assert limiter.wait("http://b.example/y") == 0.0   # another host does not wait for the first
    clock[0] = 10.0
    assert limiter.wait("http://A.example/z") == 0.0   # idle long enough: no wait (host names are case-blind)
    assert HostRateLimiter(0).wait("http://a.example/") == 0.0


def test_retries_back_off_and_respect_retry_after():
    answers = [FetchError("HTTP 503", transient=True), FetchError("HTTP 429", transient=True, retry_after=7),
               HttpResponse("u", "u", 200, "image/jpeg", b"ok")]
    slept = []

    def downloader(url, timeout):
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    out = fetch_with_retries("http://h/u", downloader, lambda r: r.body, timeout=1, limiter=HostRateLimiter(0),
                             policy=RetryPolicy(retries=3, backoff=0.5, max_delay=60), sleep=slept.append)
    assert out.value == b"ok" and out.attempts == 3 and out.error is None
    assert slept == [0.5, 7]                  # 0.5 * 2**0, then the server's Retry-After (above 0.5 * 2**1)

    calls = []
    out = fetch_with_retries("http://h/u", lambda u, t: calls.append(u) or (_ for _ in ()).throw(
        FetchError("HTTP 404 Not Found", transient=False)), lambda r: r, timeout=1, limiter=HostRateLimiter(0),
        policy=RetryPolicy(retries=3), sleep=slept.append)
    assert len(calls) == 1 and out.error.reason == "HTTP 404 Not Found"   # a permanent failure is not retried
    assert RetryPolicy(backoff=1, max_delay=5).delay(10) == 5


@pytest.mark.parametrize("body, ctype, words", [
    (b"", "image/jpeg", "empty response"),
    (HTML_PAGE, "text/html", "a web page instead of an image"),
    (b"  <html><body>gone</body></html>", "image/jpeg", "a web page instead of an image"),
    (product_image("t", size=(120, 160))[:700], "image/jpeg", "truncated or corrupt image data"),
    (b"GIF89a not really", "image/gif", "not an image"),
    (GIF_PIXEL, "image/gif", "1x1 GIF image, smaller than --min-side 16"),
])
def test_bad_bodies_are_refused_with_a_reason(body, ctype, words):
    with pytest.raises(FetchError) as info:
        verify_image_bytes(body, ctype, VerifyOptions())
    assert words in info.value.reason and not info.value.transient


def test_good_bodies_are_kept_byte_for_byte():
    jpeg, png = product_image("a"), product_image("b", "PNG")
    assert verify_image_bytes(jpeg, "image/jpeg", VerifyOptions()).data == jpeg
    got = verify_image_bytes(png, "application/octet-stream", VerifyOptions())
    assert got.data == png and got.extension == ".png" and got.converted_from is None
