"""Tests of the offline catalogue generator (data_prep.synth): layouts, determinism, caption grounding.

One ``--size small`` output is generated per module (a few seconds on CPU) and shared by the tests. Caption
checks do not trust the generator: the caption texts are parsed here with this file's own vocabulary and
compared with the ground-truth attributes of the two products.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import synth
from data_prep.synth_attributes import COLOURS
from data_prep.synth_catalogue import SIZES, expected_image_count, plan_fashioniq, plan_open_domain, plan_shoes
from data_prep.synth_render import render_product
from data_prep.synth_writers import write_fashioniq, write_open_domain, write_shoes

SEED = 7
CATEGORIES = ("dress", "shirt", "toptee")
FIQ_SPLITS = ("train", "val", "test")
SHOE_FOLDERS = ("athletic_shoes", "pumps", "flats", "stiletto", "rain_boots", "high_heels", "clogs", "boots",
                "wedding_shoes", "sneakers")
ASIN = re.compile(r"^B[0-9A-Z]{9}$")
SHOE_NAME = re.compile(rf"^img_womens_({'|'.join(SHOE_FOLDERS)})_\d+\.jpg$")

# This test's own reading of caption words (independent of the generator's phrase tables).
COLOUR_WORDS = {
    "navy blue": "navy", "dark blue": "navy", "royal blue": "blue", "bright blue": "blue", "black": "black",
    "white": "white", "grey": "grey", "gray": "grey", "red": "red", "blue": "blue", "navy": "navy",
    "green": "green", "yellow": "yellow", "pink": "pink", "purple": "purple", "violet": "purple",
    "orange": "orange", "brown": "brown", "beige": "beige", "tan": "beige", "khaki": "beige",
    "burgundy": "burgundy", "maroon": "burgundy", "teal": "teal", "turquoise": "teal",
}
COLOURISH = r"darker|lighter|colou?r|shade"
ASPECT_KEYWORDS = {
    "color": COLOURISH,
    "pattern": r"stripe|dot|spot|plaid|check|floral|flower|graphic|logo|print|picture|pattern|solid|plain|busy|"
               r"busier|colorful",
    "sleeve": r"sleeve|arm",
    "neckline": r"neck|collar|cut",
    "length": r"short|long|length|mini|midi|maxi|knee|floor|ankle|calf|leg",
    "fit": r"fit|tight|loose|baggy|flow|relaxed|slim|snug|hugging",
    "type": r"sneaker|running|athletic|pump|flat|stiletto|boot|bootie|sandal|clog|wedding|bridal|bow|casual|"
            r"formal|dressier|elegant|sport",
    "heel": r"heel|flat",
    "finish": r"shin|gloss|patent|matte|dull",
    "closure": r"lace|strap|slip",
    "secondary_color": r"sole|trim|accent",  # shoes only; garments fold the pattern colour into "pattern"
}
SLEEVES = ["sleeveless", "short", "three_quarter", "long"]
NECK_DEPTH = ["collar", "crew", "scoop", "v_neck"]
LENGTHS = ["mini", "knee", "midi", "maxi"]
HEELS = ["flat", "low", "mid", "high"]


def _lum(colour: str) -> float:
    r, g, b = COLOURS[colour]
    return 0.299 * r + 0.587 * g + 0.114 * b


def colours_in(text: str) -> set[str]:
    """Canonical colours named in a caption (multi-word names first)."""
    found = set()
    text = text.lower()
    for phrase in sorted(COLOUR_WORDS, key=len, reverse=True):
        pattern = rf"\b{re.escape(phrase)}\b"
        if re.search(pattern, text):
            found.add(COLOUR_WORDS[phrase])
            text = re.sub(pattern, " ", text)
    return found


def aspect_of(attribute: str, category: str) -> str:
    return "pattern" if attribute == "secondary_color" and category != "shoes" else attribute


def check_caption(text: str, claims: list[str], c: dict, t: dict, category: str) -> None:
    """Assert that a caption is grounded: it names what it claims, and what it says is true of the pair."""
    low = text.lower()
    assert claims, f"caption {text!r} claims nothing"
    for attr in claims:
        assert c.get(attr) != t.get(attr), f"{text!r} claims {attr} but it is {c.get(attr)!r} in both"
        aspect = aspect_of(attr, category)
        if attr in ("color", "secondary_color") and colours_in(low):
            continue  # a colour word names a colour change
        assert re.search(ASPECT_KEYWORDS[aspect], low), f"{text!r} claims {attr} but names no {aspect}"
    # Every colour named must be one of the two products' colours.
    allowed = {c["color"], t["color"], c.get("secondary_color"), t.get("secondary_color")}
    assert colours_in(low) <= allowed, f"{text!r} names colours not in the pair: {allowed}"
    # Comparatives point the right way.
    if re.search(r"\bdarker\b", low):
        assert _lum(t["color"]) < _lum(c["color"]), text
    if re.search(r"\blighter\b", low):
        assert _lum(t["color"]) > _lum(c["color"]), text
    for word in re.findall(r"\b(shorter|longer) sleeves", low):
        step = SLEEVES.index(t["sleeve"]) - SLEEVES.index(c["sleeve"])
        assert (step < 0) if word == "shorter" else (step > 0), text
    if re.search(r"\bsleeveless\b|\bno sleeves\b|\bwithout sleeves\b", low):
        assert t["sleeve"] == "sleeveless", text
    if re.search(r"\blong sleeve", low):
        assert t["sleeve"] == "long", text
    if re.search(r"\bshort sleeve", low):
        assert t["sleeve"] == "short", text
    if re.search(r"\b(lower|deeper) neckline\b|\blower cut\b", low):
        assert NECK_DEPTH.index(t["neckline"]) > NECK_DEPTH.index(c["neckline"]), text
    if re.search(r"\bhigher neck", low):
        assert NECK_DEPTH.index(t["neckline"]) < NECK_DEPTH.index(c["neckline"]), text
    if re.search(r"\bno collar\b|\bwithout a collar\b|\bcollarless\b", low):
        assert c["neckline"] == "collar" != t["neckline"], text
    elif re.search(r"\bcollar", low):
        assert t["neckline"] == "collar", text
    if re.search(r"\bv[- ]neck", low):
        assert t["neckline"] == "v_neck", text
    if category == "dress" and "length" in claims:
        for word in re.findall(r"\b(shorter|longer)\b(?! sleeves)", low):
            step = LENGTHS.index(t["length"]) - LENGTHS.index(c["length"])
            assert (step < 0) if word == "shorter" else (step > 0), text
        if re.search(r"\bmaxi\b|\bfloor length\b", low):
            assert t["length"] == "maxi", text
        if re.search(r"\bmini\b|\babove the knee\b", low):
            assert t["length"] == "mini", text
    if "fit" in claims:
        for neg, word in re.findall(r"\b(less )?(tight|tighter|fitted|slim|snug|hugging|form fitting|loose|looser|"
                                    r"baggy|flowy|flowing|relaxed)\b", low):
            fitted = word in ("tight", "tighter", "fitted", "slim", "snug", "hugging", "form fitting")
            assert t["fit"] == ("fitted" if fitted != bool(neg) else "loose"), text
    if category == "shoes":
        for word in re.findall(r"\b(higher|taller|lower|shorter|smaller|more|less) heels?\b", low):
            step = HEELS.index(t["heel"]) - HEELS.index(c["heel"])
            assert (step > 0) if word in ("higher", "taller", "more") else (step < 0), text
        if re.search(r"\bno heel\b|\b(is|are) flat\b", low):
            assert t["heel"] == "flat", text
        if re.search(r"\b(kitten|low|small) heels?\b", low):
            assert t["heel"] == "low", text
        if re.search(r"\b(very )?high heels?\b", low):
            assert t["heel"] == "high", text
        if "finish" in claims:
            for neg, word in re.findall(r"\b(not |less )?(shiny|shinier|glossy|patent|shine|matte|duller)\b", low):
                shiny = word in ("shiny", "shinier", "glossy", "patent", "shine")
                assert t["finish"] == ("shiny" if shiny != bool(neg) else "matte"), text
        if "closure" in claims:
            if re.search(r"\bno laces\b|\bslip[- ]ons?\b", low):
                assert c["closure"] == "laces" or t["closure"] == "none", text
                assert t["closure"] != "laces", text
            elif re.search(r"\blace[- ]up\b|\blaces\b|\bshoelaces\b", low) and "instead of laces" not in low:
                assert t["closure"] == "laces", text
            if re.search(r"\bno (ankle )?straps?\b|\bstrapless\b", low):
                assert t["closure"] != "strap", text
            elif re.search(r"\bstraps?\b", low):
                assert t["closure"] == "strap", text


# The test's own reading of a stated value (absolute captions and mistakes), independent of the generator's tables.
VALUE_WORDS = {
    "sleeve": {"sleeveless": r"sleeveless|no sleeves|without sleeves", "short": r"short sleeve|short-sleeve",
               "three_quarter": r"three quarter|3/4|elbow length", "long": r"long sleeve|long-sleeve|full length sleeve"},
    "neckline": {"collar": r"collar", "crew": r"crew|(?<!wide )round neck", "scoop": r"scoop|wide round",
                 "v_neck": r"v[- ]?neck"},
    "length": {"mini": r"\bmini\b|very short|above the knee", "knee": r"knee", "midi": r"midi|calf",
               "maxi": r"maxi|floor|ankle length|full length(?! sleeve)"},
    "fit": {"fitted": r"fitted|form fitting|slim|tight", "loose": r"loose|baggy|flowy|relaxed"},
    "pattern": {"solid": r"solid|plain|no pattern", "stripes": r"stripe", "dots": r"dot|spot",
                "checks": r"plaid|check", "floral": r"floral|flower", "graphic": r"graphic|logo|print on|picture"},
    "type": {"sneaker": r"sneaker", "running_shoe": r"running|athletic", "pump": r"pump", "flat": r"ballet flat|flat shoe",
             "stiletto": r"stiletto", "rain_boot": r"rain boot|rubber boot", "sandal": r"sandal",
             "clog": r"clog", "boot": r"tall boot|knee high boot|\bboots?\b", "ankle_boot": r"ankle boot|bootie",
             "bridal": r"wedding|bridal"},
    "heel": {"flat": r"\bflat\b|no heel", "low": r"low heel|small heel|kitten heel",
             "mid": r"medium heel|mid heel|moderate heel", "high": r"high heel|tall heel"},
    "finish": {"shiny": r"shiny|glossy|patent", "matte": r"matte|not shiny"},
    "closure": {"laces": r"laces|lace up|lace-up|shoelaces", "strap": r"strap",
                "none": r"slip on|slip-on|no laces or straps"},
}
KINDS = ("relative", "partial", "absolute", "vague", "mistake")
# A vague caption must name nothing the catalogue varies: none of these words (nor a colour).
ATTRIBUTE_WORDS = r"sleeve|neck|collar|length|long|short|fit|tight|loose|stripe|dot|plaid|floral|flower|graphic|" \
                  r"logo|print|pattern|solid|plain|heel|lace|strap|slip|shiny|matte|sole|trim|boot|sneaker|pump|" \
                  r"sandal|clog|darker|lighter|casual|formal|elegant|dress|colou?r"


def names_value(text: str, attribute: str, value: str) -> bool:
    """Does ``text`` state ``value`` of ``attribute``? (colours by name, the rest by VALUE_WORDS)"""
    if attribute in ("color", "secondary_color"):
        return value in colours_in(text)
    return re.search(VALUE_WORDS[attribute][value], text.lower()) is not None


def check_kind(row: dict, captions: list[str], claims: list[list[str]], c: dict, t: dict, category: str) -> None:
    """Assert that a triplet's captions are what its kind promises, and grounded in the two products' attributes."""
    kind = row["kind"]
    differing = {aspect_of(k, category) for k in c if k != "category" and c[k] != t[k]}
    assert 1 <= len(differing) <= 3
    covered = {aspect_of(a, category) for cl in claims for a in cl}
    if kind in ("relative", "partial"):
        for text, cl in zip(captions, claims):
            check_caption(text, cl, c, t, category)
        if kind == "relative":
            assert covered == differing, (captions, differing)
        else:  # names some of the changes, never all, and records the rest
            assert covered and covered < differing, (captions, differing)
            assert set(row["unnamed"]) == differing - covered
    elif kind == "absolute":  # states every attribute of the target, each as the target has it
        every_aspect = {aspect_of(a, category) for a in t if a != "category" and t[a] is not None}
        assert covered == every_aspect, (captions, t)
        for text, cl in zip(captions, claims):
            assert colours_in(text) <= {t["color"], t.get("secondary_color")}, (text, t)
            for attr in cl:
                assert names_value(text, attr, t[attr]), (text, attr, t[attr])
    elif kind == "vague":
        for text, cl in zip(captions, claims):
            assert cl == [] and not colours_in(text), text
            assert not re.search(ATTRIBUTE_WORDS, text), text
    else:  # mistake: one caption states a value the target does not have; the other claims are true changes
        wrong = row["wrong"]
        attr, value = wrong["attribute"], wrong["value"]
        assert t[attr] != value and (attr != "color" or value != t.get("secondary_color")), (row, t)
        assert names_value(captions[wrong["caption"]], attr, value), (captions, wrong)
        for cl in claims:
            assert all(c[a] != t[a] for a in cl), (captions, cl)
        assert covered <= differing


# --- fixtures --------------------------------------------------------------------------------------------------------

def _generate(out: Path, *extra: str) -> int:
    return synth.main(["--out", str(out), "--size", "small", "--seed", str(SEED), "--quiet", *extra])


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "catalogue"
    assert _generate(root) == 0
    return root


@pytest.fixture(scope="module")
def info(out) -> dict:
    return json.loads((out / "synth_info.json").read_text())


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def fiq_desc(out) -> dict[str, dict]:
    return {r["image_id"]: r for r in _read_jsonl(out / "fashioniq" / "product_descriptions.jsonl")}


@pytest.fixture(scope="module")
def shoes_desc(out) -> dict[str, dict]:
    return {r["image_id"]: r for r in _read_jsonl(out / "shoes" / "product_descriptions.jsonl")}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


# --- CLI and run control ---------------------------------------------------------------------------------------------

def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        synth.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--out", "--seed", "--size", "--workers", "--force", "--quiet"):
        assert flag in text
    assert "small" in text and "large" in text


def test_complete_output_is_not_regenerated(out, capsys):
    before = (out / "synth_info.json").stat().st_mtime_ns
    assert _generate(out) == 0
    assert "already holds a complete" in capsys.readouterr().out
    assert (out / "synth_info.json").stat().st_mtime_ns == before


def test_synth_info_counts_match_files(out, info):
    assert info["seed"] == SEED and info["size"] == "small"
    assert info["images_per_s"] > 0 and info["elapsed_s"] > 0
    assert info["images_total"] == expected_image_count(SIZES["small"])
    assert info["images"]["fashioniq"] == len(list((out / "fashioniq" / "images").glob("*.png")))
    assert info["images"]["shoes"] == len(list((out / "shoes").rglob("*.jpg")))
    assert info["images"]["open_domain"] == len(list((out / "open_domain").rglob("*.png")))
    for cat in CATEGORIES:
        for split, n in zip(FIQ_SPLITS, SIZES["small"].fashioniq):
            assert info["counts"]["fashioniq"][cat][split]["triplets"] == n


def test_large_size_has_at_least_50k_images():
    assert expected_image_count(SIZES["large"]) >= 50_000
    assert expected_image_count(SIZES["small"]) < expected_image_count(SIZES["default"])


def test_deterministic_across_runs_and_workers_and_partial_output_is_replaced(out, info, tmp_path):
    again = tmp_path / "again"
    # Simulate an interrupted earlier run: stale image, truncated annotation file, no synth_info.json.
    (again / "fashioniq" / "images").mkdir(parents=True)
    (again / "fashioniq" / "images" / "B00STALE000.png").write_bytes(b"not an image")
    (again / "shoes").mkdir()
    (again / "shoes" / "relative_captions_shoes.json").write_text("[{\"ImageName\": ")
    (again / "notes.txt").write_text("user file")
    assert _generate(again, "--workers", "1") == 0
    assert not (again / "fashioniq" / "images" / "B00STALE000.png").exists()
    assert (again / "notes.txt").read_text() == "user file"  # only the generator's own parts are replaced
    for rel in info["annotation_files"]:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    images = sorted(p.relative_to(out) for p in out.rglob("*") if p.suffix in (".png", ".jpg"))
    assert images == sorted(p.relative_to(again) for p in again.rglob("*") if p.suffix in (".png", ".jpg"))
    for rel in images[::25]:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
        assert np.array_equal(_pixels(out / rel), _pixels(again / rel))

    # A missing image makes an output incomplete; the next run regenerates it.
    next((again / "shoes").rglob("*.jpg")).unlink()
    assert not synth.is_complete(again, SEED, "small")
    assert synth.is_complete(out, SEED, "small")


def test_different_seed_gives_different_catalogue(out, tmp_path):
    # Planning and writing are the whole of what a seed decides besides each image's own render seed, so
    # writing the annotation files for another seed (without rendering) is enough to compare them.
    spec = SIZES["small"]
    other = tmp_path / "other"
    fiq, shoes = plan_fashioniq(SEED + 1, spec), plan_shoes(SEED + 1, spec)
    write_fashioniq(other / "fashioniq", fiq)
    write_shoes(other / "shoes", shoes)
    write_open_domain(other / "open_domain", plan_open_domain(SEED + 1, spec))
    for rel in ("fashioniq/captions/cap.dress.train.json", "fashioniq/image_splits/split.shirt.val.json",
                "shoes/relative_captions_shoes.json", "open_domain/train/metadata.jsonl"):
        assert (out / rel).read_bytes() != (other / rel).read_bytes(), rel
    # Same attributes, other seed: other pixels.
    attrs = fiq.products[0].attributes
    a = np.asarray(render_product(attrs, fiq.products[0].render_seed), dtype=np.int16)
    b = np.asarray(render_product(attrs, fiq.products[0].render_seed + 1), dtype=np.int16)
    assert np.abs(a - b).mean() > 2.0


# --- Fashion-IQ layout ---------------------------------------------------------------------------------------------

def test_fashioniq_layout_is_exact(out, fiq_desc):
    root = out / "fashioniq"
    seen_pools: dict[str, str] = {}
    for cat in CATEGORIES:
        for split, n in zip(FIQ_SPLITS, SIZES["small"].fashioniq):
            triplets = json.loads((root / "captions" / f"cap.{cat}.{split}.json").read_text())
            pool = json.loads((root / "image_splits" / f"split.{cat}.{split}.json").read_text())
            assert len(triplets) == n
            keys = ["candidate", "captions"] if split == "test" else ["target", "candidate", "captions"]
            for t in triplets:
                assert list(t) == keys
                assert len(t["captions"]) == 2 and all(isinstance(x, str) and x.strip() for x in t["captions"])
            assert len(pool) == len(set(pool)) and all(ASIN.match(i) for i in pool)
            # The pool is this split's images only, and more of them than the triplets use.
            assert 1.5 * n <= len(pool) <= 2.0 * n
            used = {t["candidate"] for t in triplets} | {t["target"] for t in triplets if "target" in t}
            assert used <= set(pool)
            if split != "test":
                assert len({t["target"] for t in triplets}) == n
                assert all(t["target"] != t["candidate"] for t in triplets)
            for image_id in pool:
                assert image_id not in seen_pools, f"{image_id} in {seen_pools.get(image_id)} and {cat}/{split}"
                seen_pools[image_id] = f"{cat}/{split}"
                assert fiq_desc[image_id]["split"] == split and fiq_desc[image_id]["category"] == cat
    assert set(seen_pools) == set(fiq_desc)
    files = {p.name for p in (root / "images").iterdir()}
    assert files == {f"{i}.png" for i in seen_pools}
    with Image.open(root / "images" / f"{next(iter(seen_pools))}.png") as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (128, 128)


def test_fashioniq_test_targets_are_in_the_test_pool(out):
    rows = [r for r in _read_jsonl(out / "fashioniq" / "caption_provenance.jsonl") if r["split"] == "test"]
    for cat in CATEGORIES:
        pool = set(json.loads((out / "fashioniq" / "image_splits" / f"split.{cat}.test.json").read_text()))
        assert {r["target"] for r in rows if r["category"] == cat} <= pool


# --- Shoes layout --------------------------------------------------------------------------------------------------

def test_shoes_layout_is_exact(out, shoes_desc):
    root = out / "shoes"
    triplets = json.loads((root / "relative_captions_shoes.json").read_text())
    train = (root / "train_im_names.txt").read_text().splitlines()
    evals = (root / "eval_im_names.txt").read_text().splitlines()
    assert not set(train) & set(evals)
    assert len(train) == len(set(train)) and len(evals) == len(set(evals))
    on_disk = {p.name: p.relative_to(root) for p in root.rglob("*.jpg")}
    assert set(on_disk) == set(train) | set(evals) == set(shoes_desc)
    for name, rel in on_disk.items():
        assert SHOE_NAME.match(name), name
        folder, sub, file = rel.parts
        assert folder == "womens_" + SHOE_NAME.match(name).group(1) and sub in ("0", "1") and file == name
        assert shoes_desc[name]["file_name"] == str(rel)
    n_train = n_test = 0
    for t in triplets:
        assert list(t) == ["ImageName", "ReferenceImageName", "RelativeCaption"]
        assert t["ImageName"] != t["ReferenceImageName"] and t["RelativeCaption"].strip()
        in_train = {t["ImageName"], t["ReferenceImageName"]} <= set(train)
        in_eval = {t["ImageName"], t["ReferenceImageName"]} <= set(evals)
        assert in_train != in_eval, t  # both images in exactly one list
        n_train += in_train
        n_test += in_eval
    assert (n_train, n_test) == SIZES["small"].shoes
    single = json.loads((root / "captions_shoes.json").read_text())
    assert single and all(list(s) == ["ImageName", "Caption"] and s["ImageName"] in on_disk for s in single)
    assert len(single) < len(on_disk)
    with Image.open(root / next(iter(on_disk.values()))) as im:
        assert im.format == "JPEG" and im.size == (128, 128)


# --- descriptions, attributes, images ------------------------------------------------------------------------------

def test_product_descriptions_name_the_attributes(fiq_desc, shoes_desc):
    for row in list(fiq_desc.values()) + list(shoes_desc.values()):
        assert set(row) == {"file_name", "image_id", "category", "text", "attributes", "split"}
        a, text = row["attributes"], row["text"]
        assert a["color"] in text, text
        if a.get("secondary_color"):
            assert a["secondary_color"] in text, text
        if row["category"] == "dress":
            assert a["length"] in text.replace("knee-length", "knee"), text
    texts = [r["text"] for r in fiq_desc.values()]
    assert len(set(texts)) > 0.9 * len(texts)
    # Varied word order: descriptions do not all start with the colour.
    starts = {t.split()[0] for t in texts}
    assert len(starts) > 10


def test_identical_attributes_give_different_images(out, fiq_desc, shoes_desc):
    groups = defaultdict(list)
    for root, desc in ((out / "fashioniq", fiq_desc), (out / "shoes", shoes_desc)):
        for row in desc.values():
            key = (row["category"], json.dumps(row["attributes"], sort_keys=True))
            groups[key].append(root / row["file_name"])
    clones = [paths for paths in groups.values() if len(paths) > 1]
    assert len(clones) >= 4
    for paths in clones:
        a, b = _pixels(paths[0]), _pixels(paths[1])
        assert np.abs(a - b).mean() > 2.0


def test_each_attribute_visibly_changes_the_image():
    dress = {"category": "dress", "color": "red", "secondary_color": None, "pattern": "solid", "sleeve": "short",
             "neckline": "crew", "length": "knee", "fit": "fitted"}
    shoe = {"category": "shoes", "type": "pump", "color": "black", "secondary_color": "white", "heel": "mid",
            "finish": "matte", "closure": "none"}
    changes = [
        (dress, {"color": "blue"}), (dress, {"pattern": "stripes", "secondary_color": "white"}),
        (dress, {"sleeve": "long"}), (dress, {"sleeve": "sleeveless"}), (dress, {"neckline": "v_neck"}),
        (dress, {"neckline": "collar"}), (dress, {"length": "maxi"}), (dress, {"fit": "loose"}),
        (shoe, {"heel": "high"}), (shoe, {"finish": "shiny"}), (shoe, {"closure": "strap"}),
        (shoe, {"type": "boot", "heel": "mid"}), (shoe, {"secondary_color": "red"}), (shoe, {"color": "red"}),
    ]
    for base, change in changes:
        a = np.asarray(render_product(base, 123), dtype=np.int16)
        b = np.asarray(render_product({**base, **change}, 123), dtype=np.int16)
        changed = (np.abs(a - b).max(axis=2) > 40).mean()
        assert changed > 0.003, (change, changed)  # at least ~50 of the 16,384 pixels change clearly


# --- captions ------------------------------------------------------------------------------------------------------

def test_every_fashioniq_caption_names_a_real_difference(out, fiq_desc):
    rows = _read_jsonl(out / "fashioniq" / "caption_provenance.jsonl")
    by_file = defaultdict(list)
    for r in rows:
        by_file[(r["category"], r["split"])].append(r)
    for (cat, split), prov in by_file.items():
        # The provenance describes exactly the triplets of the caption files, in order.
        triplets = json.loads((out / "fashioniq" / "captions" / f"cap.{cat}.{split}.json").read_text())
        assert [(t["candidate"], t["captions"]) for t in triplets] == [(r["candidate"], r["captions"]) for r in prov]
        if split != "test":
            assert [t["target"] for t in triplets] == [r["target"] for r in prov]
    assert {r["kind"] for r in rows} == set(KINDS)  # the default mix has every kind
    for r in rows:
        c = fiq_desc[r["candidate"]]["attributes"]
        t = fiq_desc[r["target"]]["attributes"]
        check_kind(r, r["captions"], r["claims"], c, t, r["category"])


def test_every_shoes_caption_names_a_real_difference(out, shoes_desc):
    rows = _read_jsonl(out / "shoes" / "caption_provenance.jsonl")
    triplets = json.loads((out / "shoes" / "relative_captions_shoes.json").read_text())
    assert [(t["ImageName"], t["ReferenceImageName"], t["RelativeCaption"]) for t in triplets] == \
        [(r["target"], r["candidate"], r["caption"]) for r in rows]
    assert {r["kind"] for r in rows} == set(KINDS)
    for r in rows:
        c = shoes_desc[r["candidate"]]["attributes"]
        t = shoes_desc[r["target"]]["attributes"]
        check_kind(r, [r["caption"]], [r["claims"]], c, t, "shoes")


def test_captions_read_like_real_annotations(out):
    fiq = [x for cat in CATEGORIES for split in FIQ_SPLITS
           for t in json.loads((out / "fashioniq" / "captions" / f"cap.{cat}.{split}.json").read_text())
           for x in t["captions"]]
    shoes = [t["RelativeCaption"] for t in json.loads((out / "shoes" / "relative_captions_shoes.json").read_text())]
    for captions in (fiq, shoes):
        assert all(c == c.lower() and c == c.strip() for c in captions)
        words = [len(c.split()) for c in captions]
        assert 3.0 <= sum(words) / len(words) <= 7.5
        assert len(set(captions)) > 0.5 * len(captions)  # many templates and synonyms, not one fixed sentence
        openings = {c.split()[0] for c in captions}
        assert {"is", "has"} <= openings or {"are", "have"} <= openings
        assert len({" ".join(c.split()[:2]) for c in captions}) > 40
    assert {"is", "has"} <= {c.split()[0] for c in fiq}
    assert {"are", "have"} <= {c.split()[0] for c in shoes}
    comparatives = ("darker", "lighter", "shorter", "longer", "looser", "tighter", "higher")
    assert sum(any(w in c for w in comparatives) for c in fiq + shoes) > 0.1 * len(fiq + shoes)
    synonyms = ("gray", "dark blue", "navy blue", "tan", "khaki", "maroon", "violet", "turquoise")
    assert any(s in c.split() or s in c for c in fiq + shoes for s in synonyms)


# --- open domain ---------------------------------------------------------------------------------------------------

def test_open_domain_loads_as_imagefolder(out, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    ds = datasets.load_dataset("imagefolder", data_dir=str(out / "open_domain"), cache_dir=str(tmp_path / "hf"))
    n_train, n_val = SIZES["small"].open_domain
    assert set(ds) == {"train", "validation"}
    assert len(ds["train"]) == n_train and len(ds["validation"]) == n_val
    assert set(ds["train"].column_names) == {"image", "text"}
    meta = {json.loads(line)["text"] for line in (out / "open_domain/train/metadata.jsonl").read_text().splitlines()}
    example = ds["train"][0]
    assert example["image"].size == (128, 128) and example["text"] in meta
    texts = ds["train"]["text"]
    assert len(set(texts)) > 0.8 * len(texts)
    assert any(re.search(r"\b(two|three|four)\b", t) for t in texts)
    assert any(re.search(r"\b(left|right|top|bottom|centre|center|middle)\b", t) for t in texts)
