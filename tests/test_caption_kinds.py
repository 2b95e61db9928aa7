"""Caption kinds: the generator's mix (planning only, no rendering) and the measurement of real captions.

The grounding of every kind against the attributes is checked on a written catalogue in test_synth.py; here:
the relative-only mix reproduces the earlier catalogue byte for byte, a mix changes nothing but captions, the
shares follow the mix, and the word-level reading of real captions gives the figures the README quotes.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from data_prep import caption_kinds as real
from data_prep import synth
from data_prep.synth_caption_kinds import CAPTION_MIXES, draw_kinds, parse_caption_mix
from data_prep.synth_catalogue import SIZES, plan_fashioniq, plan_shoes
from data_prep.synth_writers import write_fashioniq, write_shoes
from tests.conftest import REAL_BENCHMARKS, needs_real_benchmarks

SEED = 7

# SHA-256 of the annotation files of `python -m data_prep.synth --size small --seed 7` as written before caption
# kinds existed (commit a9f49cc): `--caption-mix relative` must reproduce them, so that catalogues and results
# made with earlier versions can be regenerated.
EARLIER_SMALL_SEED7 = {
    "fashioniq/caption_provenance.jsonl": "67e1a02dc342eb056e5ee6fbb4f93112744e37611db76bb12d77eff0b0cf0fd3",
    "fashioniq/captions/cap.dress.train.json": "10015275666cb76adbe56c363a03550e1355351fb37860b7346aeb7d02b982e2",
    "fashioniq/captions/cap.dress.val.json": "0fb35a13c6c0283a2cece54fdc2f98ee00bcf435ee6ee6f834b12e65a11d70b8",
    "fashioniq/captions/cap.toptee.test.json": "8be8e66a466606d6602d5a349be2bb741ac0fa5798c7032acdf9d17ae3a341d8",
    "fashioniq/image_splits/split.shirt.val.json": "701dd714fc39ecc30e8525e917ed21b70aab333113fe79d0755ea045a9d34055",
    "fashioniq/product_descriptions.jsonl": "6c6829e13931f1b42a37eb43de109d6d683465452680803789d80385dbb85c68",
    "shoes/caption_provenance.jsonl": "7500b80abe22ca950058f08734863ad2b51ac543241f6809da1fab9b6355b2ab",
    "shoes/relative_captions_shoes.json": "032bbc3206e1b73a02688d27b968aa7d343734bbafd4b23f82752799f3830dba",
    "shoes/captions_shoes.json": "2a6ae0a14027dea766f256f60285cdbf22fcb6e662cd99688c5bdc4a644bcafc",
    "shoes/product_descriptions.jsonl": "761708e05769f53ff0af89dd82e6be1c20355866ebcdfa2d6580561dcd8c1d2e",
}


@pytest.fixture(scope="module")
def plans():
    spec = SIZES["small"]
    mixed = dict(CAPTION_MIXES["mixed"])
    return {"relative": (plan_fashioniq(SEED, spec, parse_caption_mix("relative")),
                         plan_shoes(SEED, spec, parse_caption_mix("relative"))),
            "mixed": (plan_fashioniq(SEED, spec, mixed), plan_shoes(SEED, spec, mixed))}


def test_relative_mix_writes_the_earlier_catalogue_byte_for_byte(plans, tmp_path):
    fiq, shoes = plans["relative"]
    write_fashioniq(tmp_path / "fashioniq", fiq)
    write_shoes(tmp_path / "shoes", shoes)
    for rel, digest in EARLIER_SMALL_SEED7.items():
        assert hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() == digest, rel


def test_a_mix_changes_captions_only(plans):
    for rel_data, mix_data in zip(plans["relative"], plans["mixed"]):
        # Same products (ids, attributes, render seeds, descriptions: same images) and pools.
        assert [(p.image_id, p.attributes, p.render_seed, p.description) for p in rel_data.products] == \
            [(p.image_id, p.attributes, p.render_seed, p.description) for p in mix_data.products]
        assert rel_data.pools == mix_data.pools
        assert [(t.candidate, t.target, t.split) for t in rel_data.triplets] == \
            [(t.candidate, t.target, t.split) for t in mix_data.triplets]
        kinds = Counter(t.kind for t in mix_data.triplets)
        assert set(kinds) == set(CAPTION_MIXES["mixed"])
        for r, m in zip(rel_data.triplets, mix_data.triplets):
            assert r.kind is None
            if m.kind == "relative":
                assert (m.captions, m.claims) == (r.captions, r.claims)
        changed = sum(r.captions != m.captions for r, m in zip(rel_data.triplets, mix_data.triplets))
        assert changed >= 0.4 * len(mix_data.triplets)


def test_kind_shares_follow_the_mix(plans):
    triplets = plans["mixed"][0].triplets + plans["mixed"][1].triplets
    shares = Counter(t.kind for t in triplets)
    for kind, share in CAPTION_MIXES["mixed"].items():
        assert shares[kind] / len(triplets) == pytest.approx(share, abs=0.04), kind


def test_partial_goes_only_to_pairs_that_differ_in_two_aspects_and_keeps_its_share():
    import random

    eligible = [i % 2 == 0 for i in range(20000)]  # half the pairs can be partial
    kinds = draw_kinds(eligible, {"relative": 0.7, "partial": 0.3}, random.Random(0))
    assert all(k == "relative" for k, e in zip(kinds, eligible) if not e)
    assert Counter(kinds)["partial"] / len(kinds) == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("text,message", [
    ("relative=0.5", "add up to 0.5"), ("bogus=1", "kind=share pairs"), ("relative=x", "not a number"),
    ("relative=1.2,vague=-0.2", "negative")])
def test_bad_caption_mix_is_refused_with_a_sentence(text, message, capsys):
    with pytest.raises(SystemExit) as exc:
        synth.parse_args(["--out", "x", "--caption-mix", text])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert parse_caption_mix("relative=0.25,vague=0.75") == {"relative": 0.25, "vague": 0.75}


# --- real captions ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,kind", [
    ("is a white strapless dress", "absolute"), ("knee length dress", "absolute"), ("are black with laces", "absolute"),
    ("is darker", "relative"), ("has thinner straps", "relative"), ("is red instead of blue", "relative"),
    ("more contemporary less sexy", "vague"), ("looks nicer", "vague"), ("is the same", "vague"), ("", "vague")])
def test_real_caption_reading(text, kind):
    assert real.classify_caption(text) == kind


def test_two_annotator_proxies():
    assert real.contradicts("is darker", "is lighter and shorter")
    assert not real.contradicts("is darker", "is darker and shorter")
    stats = real.pair_statistics([("is red", "has long sleeves"), ("is red", "is red"), ("looks nicer", "is fun")])
    assert stats["joined_query"]["vague"]["count"] == 1
    assert stats["partial_proxy"] == {"captions": 4, "count": 2, "share": 0.5}


@needs_real_benchmarks("fashioniq", "shoes")
def test_real_files_give_the_figures_the_readme_quotes(tmp_path, capsys):
    fiq, shoes = REAL_BENCHMARKS / "fashioniq", REAL_BENCHMARKS / "shoes"
    assert real.main(["--fashioniq", str(fiq), "--shoes", str(shoes), "--output", str(tmp_path / "k.json")]) == 0
    out = capsys.readouterr().out
    assert ("fashioniq: 60268 captions: relative 44.4 % (26753), absolute 53.1 % (32030), vague 2.5 % (1485); "
            "absolute naming 3+ aspects 8.1 % (4869)") in out
    assert "shoes: 10751 captions: relative 32.1 % (3453), absolute 66.7 % (7168), vague 1.2 % (130)" in out
    assert "vague 0.2 % (73); pairs with exactly one vague caption 4.4 % (1339)" in out
    assert "53.0 % (27946 of 52716)" in out and "0.61 % (183 of 30134)" in out
    assert (tmp_path / "k.json").is_file()
    # The "real" preset keeps the measured vague share (between the two datasets' shares).
    assert 0.012 <= CAPTION_MIXES["real"]["vague"] <= 0.025


def test_measuring_needs_a_folder(capsys):
    assert real.main([]) == 2
    assert "give --fashioniq DIR" in capsys.readouterr().err


@needs_real_benchmarks("fashioniq", "shoes")
def test_real_vague_captions_replace_the_generated_ones_on_the_evaluation_splits(synth_small, tmp_path):
    import json

    from cti_ir.data import open_benchmark
    from data_prep import swap_real_captions

    out = tmp_path / "swapped"
    assert swap_real_captions.main(["--catalogue", str(synth_small), "--real", str(REAL_BENCHMARKS),
                                    "--out", str(out)]) == 0
    pools = swap_real_captions.real_vague_captions(REAL_BENCHMARKS)
    for name, caption_key in (("fashioniq", "captions"), ("shoes", "caption")):
        before = [json.loads(x) for x in (synth_small / name / "caption_provenance.jsonl").read_text().splitlines()]
        after = [json.loads(x) for x in (out / name / "caption_provenance.jsonl").read_text().splitlines()]
        assert [(r["candidate"], r["target"], r["kind"]) for r in before] == \
            [(r["candidate"], r["target"], r["kind"]) for r in after]
        swapped = 0
        for b, a in zip(before, after):
            texts = a[caption_key] if name == "fashioniq" else [a[caption_key]]
            if b["kind"] == "vague" and b["split"] in swap_real_captions.EVAL_SPLITS[name]:
                assert a["real_caption"] and all(t in pools[name] for t in texts)
                assert all(real.classify_caption(t) == "vague" for t in texts)
                swapped += 1
            else:
                assert a == b  # training triplets and the other kinds are untouched
        assert swapped > 0
    # The copy reads as a benchmark and its evaluation queries carry the new captions.
    queries = {(q.reference, q.target): q.text for s in open_benchmark("shoes", out / "shoes").eval_splits()
               for q in s.queries}
    vague = [r for r in (json.loads(x) for x in (out / "shoes" / "caption_provenance.jsonl").read_text().splitlines())
             if r.get("real_caption")]
    assert all(queries[(r["candidate"], r["target"])] == r["caption"] for r in vague)
