"""The shopper's own words: the phrasing engine, its two sets, the generator's --phrasing and stage-3 augmentation.

The held-apart set must never reach a training catalogue: checked by template ids (disjoint sets, provenance) and
by surface strings (every held-apart phrasing carries a marker, no training phrasing or training-catalogue caption
does). The benchmark's report on a tiny catalogue is in test_phrasing_bench.py.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from data_prep.phrasing import PHRASING_SETS, STYLES, heldout_markers, paraphrase, template_ids
from data_prep.phrasing.catalogue import phrasing_share
from data_prep.phrasing.styles import TEMPLATES
from data_prep.synth_attributes import (
    GARMENT_CATEGORIES,
    SHOE_CATEGORY,
    aspect_of,
    differing_aspects,
    differing_attributes,
    mutate,
    sample_product,
)
from data_prep.synth_catalogue import SIZES, plan_fashioniq, plan_shoes
from data_prep.synth_writers import write_fashioniq, write_shoes

CATEGORIES = (*GARMENT_CATEGORIES, SHOE_CATEGORY)
_MARKER_RE = re.compile("|".join(rf"(?<![a-z']){re.escape(m)}(?![a-z'])" for m in
                                 sorted(heldout_markers(), key=len, reverse=True)))


def held_out_marker(text: str) -> str | None:
    """The first held-apart marker in ``text`` (whole words, any case), or None."""
    found = _MARKER_RE.search(text.lower())
    return found.group(0) if found else None


def pairs(n: int, seed: int = 0):
    """``n`` (reference, target) attribute pairs over every category, as the generator makes them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        reference = sample_product(CATEGORIES[i % len(CATEGORIES)], rng)
        out.append((reference, mutate(reference, rng)))
    return out


def test_the_two_sets_have_every_style_and_disjoint_templates():
    train, heldout = set(template_ids("train")), set(template_ids("heldout"))
    assert not train & heldout
    assert all(t.startswith("train.") for t in train) and all(t.startswith("heldout.") for t in heldout)
    for phrasing_set in PHRASING_SETS:
        assert set(TEMPLATES[phrasing_set]) == set(STYLES)
    with pytest.raises(ValueError, match="unknown phrasing set"):
        template_ids("test")


def test_every_held_apart_template_writes_a_marker_and_no_training_template_does():
    seen = {s: set() for s in PHRASING_SETS}
    for i, (reference, target) in enumerate(pairs(400)):
        for phrasing_set in PHRASING_SETS:
            for style in STYLES:
                p = paraphrase(reference, target, random.Random(f"{i}/{phrasing_set}/{style}"), phrasing_set, style)
                seen[phrasing_set].add(p.template)
                marker = held_out_marker(p.text)
                if phrasing_set == "heldout":
                    assert marker, (p.template, p.text)
                else:
                    assert marker is None, (p.template, p.text, marker)
    assert seen["train"] == set(template_ids("train"))
    assert seen["heldout"] == set(template_ids("heldout"))


def test_every_style_says_the_same_changes_grounded_in_the_attributes():
    for i, (reference, target) in enumerate(pairs(120, seed=1)):
        differing = set(differing_attributes(reference, target))
        aspects = set(differing_aspects(reference, target))
        for style in STYLES:
            p = paraphrase(reference, target, random.Random(i), "heldout", style)
            assert set(p.claims) <= differing
            assert {aspect_of(a, target["category"]) for a in p.claims} == aspects, (style, p.text)
            if style not in ("misspelled", "synonyms") and "color" in p.claims:
                colour = target["color"]
                assert re.search(colour if colour != "grey" else "gr[ea]y", p.text.lower()), (style, p.text)


def test_paraphrases_are_deterministic_and_vary():
    reference, target = pairs(1, seed=2)[0]
    a = [paraphrase(reference, target, random.Random(5), "train").text for _ in range(3)]
    assert len(set(a)) == 1
    texts = {paraphrase(reference, target, random.Random(seed), "train").text for seed in range(40)}
    assert len(texts) > 20


def test_unknown_style_and_share_are_refused():
    reference, target = pairs(1)[0]
    with pytest.raises(ValueError, match="unknown phrasing style"):
        paraphrase(reference, target, random.Random(0), "train", "shouting")
    with pytest.raises(ValueError, match="between 0 and 1"):
        phrasing_share("train", 1.5)
    assert phrasing_share("train", None) == 0.5 and phrasing_share("heldout", None) == 1.0
    assert phrasing_share("none", None) == 0.0


@pytest.fixture(scope="module")
def plans():
    spec, mix = SIZES["small"], {"relative": 0.5, "partial": 0.2, "absolute": 0.15, "vague": 0.1, "mistake": 0.05}
    return {mode: (plan_fashioniq(3, spec, mix, mode), plan_shoes(3, spec, mix, mode))
            for mode in ("none", "train", "heldout")}


def test_a_training_catalogue_holds_no_held_apart_phrasing(plans, tmp_path):
    fiq, shoes = plans["train"]
    write_fashioniq(tmp_path / "fashioniq", fiq)
    write_shoes(tmp_path / "shoes", shoes)
    templates = []
    for path in sorted(tmp_path.rglob("*.json*")):
        text = path.read_text(encoding="utf-8")
        if path.name == "caption_provenance.jsonl":  # its template ids name styles ("wish"): read the captions
            rows = [json.loads(line) for line in text.splitlines()]
            templates += [t for row in rows for t in row.get("phrasing", []) if t]
            text = json.dumps([row.get("captions", row.get("caption")) for row in rows])
        assert held_out_marker(text) is None, (path.name, held_out_marker(text))
    assert len(templates) > 200 and all(t.startswith("train.") for t in templates)
    assert {t.split(".")[1] for t in templates} == set(STYLES)


def test_phrasing_changes_relative_captions_only(plans):
    for none, train in zip(plans["none"], plans["train"]):
        assert [(p.image_id, p.attributes, p.description) for p in none.products] == \
            [(p.image_id, p.attributes, p.description) for p in train.products]
        assert none.pools == train.pools
        rewritten = 0
        for a, b in zip(none.triplets, train.triplets):
            assert (a.candidate, a.target) == (b.candidate, b.target)
            if a.kind != "relative":
                assert (a.captions, a.claims) == (b.captions, b.claims)
                continue
            for i, template in enumerate(b.details.get("phrasing", [None] * len(a.captions))):
                if template is None:
                    assert b.captions[i] == a.captions[i]
                else:
                    rewritten += 1
                    # Same aspects named as the caption it replaces.
                    category = "shoes" if b.category == SHOE_CATEGORY else b.category
                    assert {aspect_of(x, category) for x in b.claims[i]} == \
                        {aspect_of(x, category) for x in a.claims[i]}
        assert rewritten > 0.3 * sum(len(t.captions) for t in none.triplets if t.kind == "relative")


def test_held_apart_phrasings_reach_the_evaluation_splits_only(plans):
    for none, heldout in zip(plans["none"], plans["heldout"]):
        for a, b in zip(none.triplets, heldout.triplets):
            if a.split == "train" or a.kind != "relative":
                assert (a.captions, a.details) == (b.captions, b.details)
            else:
                assert all(t.startswith("heldout.") for t in b.details["phrasing"])
                assert all(held_out_marker(c) for c in b.captions), b.captions


def test_plans_are_deterministic(plans):
    again = plan_shoes(3, SIZES["small"], {"relative": 0.5, "partial": 0.2, "absolute": 0.15, "vague": 0.1,
                                           "mistake": 0.05}, "train")
    assert [(t.captions, t.details) for t in again.triplets] == \
        [(t.captions, t.details) for t in plans["train"][1].triplets]


def test_generator_flag(tmp_path, capsys):
    from data_prep import synth

    with pytest.raises(SystemExit):
        synth.parse_args(["--out", str(tmp_path), "--phrasing", "train", "--phrasing-share", "2"])
    assert "between 0 and 1" in capsys.readouterr().err
    args = synth.parse_args(["--out", str(tmp_path), "--phrasing", "heldout"])
    assert (args.phrasing, args.phrasing_share) == ("heldout", 1.0)
    assert synth.parse_args(["--out", str(tmp_path)]).phrasing == "none"
