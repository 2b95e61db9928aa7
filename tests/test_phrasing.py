"""The shopper's own words: the phrasing engine, its sets, the generator's --phrasing and stage-3 augmentation.

Neither the held-apart set nor the blind, stranger, newcomer, passerby, latecomer, traveller, caller, gifter,
returner, texter, reviewer and comparer sets (written without seeing the request reader) may reach a training
catalogue: checked by template ids (disjoint sets, provenance) and by surface strings (every held-apart, blind,
stranger, newcomer, passerby, latecomer, traveller, caller, gifter, returner, texter, reviewer or comparer phrasing
carries a marker of its set, no phrasing of another set and no training-catalogue caption does). The benchmark's
report on a tiny catalogue is in test_phrasing_bench.py.
"""

from __future__ import annotations

import json
import random
import re
from typing import Callable

import pytest

from data_prep.phrasing import PHRASING_SETS, STYLES, heldout_markers, paraphrase, template_ids
from data_prep.phrasing.blind import BLIND, blind_markers
from data_prep.phrasing.caller import CALLER, caller_markers
from data_prep.phrasing.catalogue import PHRASING_MODES, phrasing_share
from data_prep.phrasing.comparer import COMPARER, comparer_markers
from data_prep.phrasing.latecomer import LATECOMER, latecomer_markers
from data_prep.phrasing.changes import describe_changes
from data_prep.phrasing.gifter import GIFTER, gifter_markers
from data_prep.phrasing.lexicon import LEXICONS
from data_prep.phrasing.newcomer import NEWCOMER, newcomer_markers
from data_prep.phrasing.passerby import PASSERBY, passerby_markers
from data_prep.phrasing.returner import RETURNER, returner_markers
from data_prep.phrasing.reviewer import REVIEWER, reviewer_markers
from data_prep.phrasing.stranger import STRANGER, stranger_markers
from data_prep.phrasing.texter import TEXTER, texter_markers
from data_prep.phrasing.traveller import TRAVELLER, traveller_markers
from data_prep.phrasing.styles import TEMPLATES, Context
from data_prep.synth_attributes import (
    COLOURS,
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

def _whole_word(word: str) -> str:
    return rf"(?<![a-z']){re.escape(word)}(?![a-z'])"


def _marker_re(markers) -> re.Pattern:
    return re.compile("|".join(_whole_word(m) for m in sorted(markers, key=len, reverse=True)))


# The sets kept apart from training, each with its own markers (its own module for blind, stranger, newcomer,
# passerby, latecomer, traveller, caller, gifter, returner, texter, reviewer and comparer).
EVALUATION_SETS = ("heldout", "blind", "stranger", "newcomer", "passerby", "latecomer", "traveller", "caller",
                   "gifter", "returner", "texter", "reviewer", "comparer")
APART_SETS = ("blind", "stranger", "newcomer", "passerby", "latecomer", "traveller", "caller", "gifter", "returner",
              "texter", "reviewer", "comparer")
OWN_LEXICONS = {"blind": BLIND, "stranger": STRANGER, "newcomer": NEWCOMER, "passerby": PASSERBY,
                "latecomer": LATECOMER, "traveller": TRAVELLER, "caller": CALLER, "gifter": GIFTER,
                "returner": RETURNER, "texter": TEXTER, "reviewer": REVIEWER,
                "comparer": COMPARER}


def _marker_finder(markers) -> Callable[[str], str | None]:
    """A function giving the first of ``markers`` in a text (whole words, any case), or None."""
    pattern = _marker_re(markers)

    def first_marker(text: str) -> str | None:
        found = pattern.search(text.lower())
        return found.group(0) if found else None

    return first_marker


# One finder a set kept apart from training, built once: each module's own markers, the held-apart set's in lexicon.
held_out_marker = _marker_finder(heldout_markers())
MARKER = {"heldout": held_out_marker, "blind": _marker_finder(blind_markers()),
          "stranger": _marker_finder(stranger_markers()), "newcomer": _marker_finder(newcomer_markers()),
          "passerby": _marker_finder(passerby_markers()), "latecomer": _marker_finder(latecomer_markers()),
          "traveller": _marker_finder(traveller_markers()), "caller": _marker_finder(caller_markers()),
          "gifter": _marker_finder(gifter_markers()), "returner": _marker_finder(returner_markers()),
          "texter": _marker_finder(texter_markers()), "reviewer": _marker_finder(reviewer_markers()),
          "comparer": _marker_finder(comparer_markers())}


def pairs(n: int, seed: int = 0):
    """``n`` (reference, target) attribute pairs over every category, as the generator makes them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        reference = sample_product(CATEGORIES[i % len(CATEGORIES)], rng)
        out.append((reference, mutate(reference, rng)))
    return out


def test_the_sets_have_every_style_and_disjoint_templates():
    assert PHRASING_SETS == ("train", "heldout", "blind", "stranger", "newcomer", "passerby", "latecomer",
                            "traveller", "caller", "gifter", "returner", "texter", "reviewer",
                            "comparer")
    ids = {s: set(template_ids(s)) for s in PHRASING_SETS}
    for i, a in enumerate(PHRASING_SETS):
        assert all(t.startswith(f"{a}.") for t in ids[a])
        for b in PHRASING_SETS[i + 1:]:
            assert not ids[a] & ids[b], (a, b)
    for phrasing_set in PHRASING_SETS:
        assert set(TEMPLATES[phrasing_set]) == set(STYLES)
        assert LEXICONS[phrasing_set].name == phrasing_set
    for own in APART_SETS:
        assert all(2 <= len(TEMPLATES[own][style]) <= 4 for style in STYLES), own
        assert all(tid.split(".")[1] == style for style in STYLES for tid, _ in TEMPLATES[own][style])
    with pytest.raises(ValueError, match="unknown phrasing set"):
        template_ids("test")


def test_every_evaluation_template_writes_its_sets_marker_and_no_other_template_does():
    seen = {s: set() for s in PHRASING_SETS}
    for i, (reference, target) in enumerate(pairs(400)):
        for phrasing_set in PHRASING_SETS:
            for style in STYLES:
                p = paraphrase(reference, target, random.Random(f"{i}/{phrasing_set}/{style}"), phrasing_set, style)
                seen[phrasing_set].add(p.template)
                for marked in EVALUATION_SETS:
                    marker = MARKER[marked](p.text)
                    if phrasing_set == marked:
                        assert marker, (marked, p.template, p.text)
                    else:
                        assert marker is None, (marked, p.template, p.text, marker)
    for phrasing_set in PHRASING_SETS:
        assert seen[phrasing_set] == set(template_ids(phrasing_set))


def test_every_style_says_the_same_changes_grounded_in_the_attributes():
    for i, (reference, target) in enumerate(pairs(120, seed=1)):
        differing = set(differing_attributes(reference, target))
        aspects = set(differing_aspects(reference, target))
        for phrasing_set in EVALUATION_SETS:
            for style in STYLES:
                p = paraphrase(reference, target, random.Random(i), phrasing_set, style)
                assert set(p.claims) <= differing
                assert {aspect_of(a, target["category"]) for a in p.claims} == aspects, (style, p.text)
                if style not in ("misspelled", "synonyms") and "color" in p.claims:
                    colour = target["color"]
                    assert re.search(colour if colour != "grey" else "gr[ea]y", p.text.lower()), (style, p.text)


def context(reference, target, seed, phrasing_set) -> tuple[Context, tuple[str, ...]]:
    """The Context (and claims) paraphrase() builds from ``random.Random(seed)``, before it draws a template."""
    rng = random.Random(seed)
    category = str(target["category"])
    plural = category == "shoes" and rng.random() < 0.6
    changes = describe_changes(reference, target, rng, None, plural)
    claims = tuple(dict.fromkeys(a for c in changes for a in c.claims))
    colours = [str(target[a]) for a in ("color", "secondary_color") if a in claims and target.get(a)]
    return Context(changes, rng, LEXICONS[phrasing_set], plural, category, colours), claims


def canonical(text: str, lex) -> str:
    """``text`` with the colour synonyms and misspellings of ``lex`` put back to the canonical words."""
    for word, synonyms in lex.colour_synonyms.items():
        for synonym in synonyms:
            text = re.sub(_whole_word(synonym), word, text)
    for word, typos in lex.misspellings.items():
        for typo in typos:
            text = re.sub(_whole_word(typo), word, text)
    return text


_NEW_FORMS = ("pred", "mod", "noun", "value", "removed")
_OLD_FORMS = ("old_pred", "old_noun", "old_value", "removed")


def _names(text: str, change, forms) -> bool:
    return any(getattr(change, f) and getattr(change, f) in text for f in forms)


@pytest.mark.parametrize("own", APART_SETS)
def test_every_template_of_a_set_apart_names_every_change_and_claims_what_the_training_set_claims(own):
    for i, (reference, target) in enumerate(pairs(80, seed=3)):
        for style in STYLES:
            train = paraphrase(reference, target, random.Random(i), "train", style)
            assert paraphrase(reference, target, random.Random(i), own, style).claims == train.claims
            for tid, template in TEMPLATES[own][style]:
                ctx, claims = context(reference, target, i, own)
                assert claims == train.claims
                text = canonical(template(ctx), OWN_LEXICONS[own])
                missing = [c.aspect for c in ctx.changes if not _names(text, c, _NEW_FORMS)]
                # A procedural typo (where no listed misspelling fits) may hide one change's word.
                assert len(missing) <= (1 if style == "misspelled" else 0), (tid, text, missing)
                if style in ("contrastive", "negation"):  # the reference's value is named too
                    assert all(_names(text, c, _OLD_FORMS) for c in ctx.changes), (tid, text)


def test_no_other_template_writes_a_text_of_a_set_written_apart():
    for i, (reference, target) in enumerate(pairs(150, seed=4)):
        # Same random draws for every template: same changes, same synonyms and typos where a template draws them.
        texts = {phrasing_set: {template(context(reference, target, i, phrasing_set)[0]).lower()
                                for style in STYLES for _, template in TEMPLATES[phrasing_set][style]}
                 for phrasing_set in PHRASING_SETS}
        for own in APART_SETS:
            others = set().union(*(texts[s] for s in PHRASING_SETS if s != own))
            assert not texts[own] & others, (own, texts[own] & others)


@pytest.mark.parametrize("own", APART_SETS)
def test_the_lexicon_of_a_set_apart_is_its_own(own):
    def words(lex):
        return {"adverbs": {a.strip() for a in lex.strong_adverbs + lex.mild_adverbs},
                "colours": {w for ws in lex.colour_synonyms.values() for w in ws},
                "nouns": {w for ws in lex.garment_nouns.values() for w in ws},
                "typos": {w for ws in lex.misspellings.values() for w in ws}}

    lex = OWN_LEXICONS[own]
    assert set(lex.colour_synonyms) == set(COLOURS)
    assert all(len(set(v)) == 2 for v in lex.colour_synonyms.values())
    assert set(lex.garment_nouns) == set(CATEGORIES)
    mine = set().union(*words(lex).values())
    for other in (s for s in PHRASING_SETS if s != own):
        assert not mine & set().union(*words(LEXICONS[other]).values()), other
        assert not words(lex)["typos"] & set(LEXICONS[other].misspellings)
    assert all(typo != word for word, typos in lex.misspellings.items() for typo in typos)


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


def test_a_training_catalogue_holds_no_held_apart_phrasing_nor_one_of_a_set_written_apart(
        plans, tmp_path):
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
        for marked in EVALUATION_SETS:
            assert MARKER[marked](text) is None, (marked, path.name, MARKER[marked](text))
    assert len(templates) > 200 and all(t.startswith("train.") for t in templates)
    assert {t.split(".")[1] for t in templates} == set(STYLES)


@pytest.mark.parametrize("own", APART_SETS)
def test_no_catalogue_carries_a_phrasing_of_a_set_written_apart(plans, own):
    # The generator cannot write these sets (not among its modes), whatever the split.
    assert own not in PHRASING_MODES
    with pytest.raises(ValueError, match="unknown phrasing"):
        phrasing_share(own, None)
    for fiq, shoes in plans.values():
        for triplet in (*fiq.triplets, *shoes.triplets):
            assert not any(t and t.startswith(f"{own}.") for t in triplet.details.get("phrasing", []))
            assert all(MARKER[own](c) is None for c in triplet.captions), triplet.captions


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
    for own in APART_SETS:
        with pytest.raises(SystemExit):
            synth.parse_args(["--out", str(tmp_path), "--phrasing", own])
        assert f"invalid choice: '{own}'" in capsys.readouterr().err
    args = synth.parse_args(["--out", str(tmp_path), "--phrasing", "heldout"])
    assert (args.phrasing, args.phrasing_share) == ("heldout", 1.0)
    assert synth.parse_args(["--out", str(tmp_path)]).phrasing == "none"


def test_stage3_augmentation_phrases_with_the_training_set_only():
    from training.phrasing_augment import PHRASING_SET

    assert PHRASING_SET == "train"
