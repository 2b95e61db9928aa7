"""The request reader (`cti_ir.index.request_reading`): one canonical wording for a request understood fully,
the shopper's own text otherwise; the engine's ``read_requests`` option and the evaluation's flag.
"""

from __future__ import annotations

import json
import random

import pytest

from cti_ir.index.catalogue import items_from_folder
from cti_ir.index.catalogue_index import build_index
from cti_ir.index import english_words
from cti_ir.index.facets import correct, read_description, read_request, tokens
from cti_ir.index.request_reading import read_request_text
from cti_ir.index.spelling import edit_distance, letter_mask, missing_letters, sound_key
from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.serve.engine import SearchEngine
from data_prep.phrasing import STYLES, paraphrase
from data_prep.synth_descriptions import describe_product
from tests.conftest import find_real_benchmarks, needs_real_benchmarks
from tests.test_index import draw_catalogue, save_tiny_checkpoint

REFERENCE = {"category": "dress", "color": "white", "secondary_color": None, "pattern": "solid", "sleeve": "short",
             "neckline": "crew", "length": "knee", "fit": "loose"}
TARGET = {**REFERENCE, "color": "black", "sleeve": "sleeveless"}


def reference_facets() -> dict:
    return read_description(describe_product(REFERENCE, random.Random(0)))


def test_phrasings_of_one_request_read_the_same():
    texts = ["make it black and lose the sleeves", "I'd like this in black without sleeves, please!",
             "black instead of white, no sleeves", "is sleeveless and black", "same but black + sleeveless"]
    readings = [read_request_text(t, reference_facets(), "dress") for t in texts]
    assert all(r.understood for r in readings), [r.unknown for r in readings]
    assert {r.text for r in readings} == {"is black and sleeveless"}
    assert readings[0].note == 'request read as "is black and sleeveless"'


def test_the_generators_training_phrasings_of_one_change_read_the_same():
    rng = random.Random(0)
    phrased = [paraphrase(REFERENCE, TARGET, rng, "train", style).text for style in STYLES for _ in range(3)]
    readings = [read_request_text(t, reference_facets(), "dress") for t in phrased]
    understood = {r.text for r in readings if r.understood}
    assert sum(r.understood for r in readings) >= len(STYLES)  # most styles are read
    assert understood == {"is black and sleeveless"}, understood
    asked = read_request("is black and sleeveless", reference_facets())
    assert asked["colour"].accepts("black") and not asked["colour"].accepts("white")
    assert asked["sleeves"].accepts("sleeveless") and not asked["sleeves"].accepts("short")


@pytest.mark.parametrize("text", ["has a darker colour", "looks more elegant", "not red", "a puff sleeved one"])
def test_a_request_with_nothing_the_reader_can_say_passes_unchanged(text):
    # "darker" has no colour, "not red" no value, "puff sleeved" names the sleeves without a value the wording has
    reading = read_request_text(text, reference_facets(), "dress")
    assert not reading.understood and not reading.in_part and reading.text == text and reading.note is None


@pytest.mark.parametrize("text, canonical, unknown, says_all", [
    ("is black and more summery", "is black", ("summery",), True),
    ("no sleeves, comfy", "is sleeveless", ("comfy",), True),
    ("make it black and sleeveless for the beach", "is black and sleeveless", ("beach",), True),
    # what the wording can say of a request that also asks what it cannot ("puff" sleeves, no more collar)
    ("make it crimson with puff sleeves", "is red", ("puff",), False),
])
def test_a_request_understood_in_part_keeps_every_word_after_the_canonical_wording(text, canonical, unknown,
                                                                                  says_all):
    reading = read_request_text(text, reference_facets(), "dress")
    assert reading.in_part and not reading.understood and reading.unknown == unknown
    assert reading.text == f"{canonical}, {text}"
    assert reading.note == f'request read in part as "{canonical}" (your own words kept: {", ".join(unknown)})'
    # a joined text the text tower would cut off is not made: when the wording says every change the reader read,
    # the words it did not know go after it on their own; else the shopper's words go alone
    joined = f"{canonical}, {text}"
    cut = read_request_text(text, reference_facets(), "dress", fits=lambda t: len(t) < len(joined))
    if says_all:
        assert cut.text == f"{canonical}, {' '.join(unknown)}" and cut.in_part and cut.canonical == canonical
    else:
        assert cut.text == text and not cut.in_part and cut.note is None
    nothing_fits = read_request_text(text, reference_facets(), "dress", fits=lambda t: False)
    assert nothing_fits.text == text and not nothing_fits.in_part and nothing_fits.note is None


def test_a_long_request_keeps_the_unknown_words_the_model_learned_and_sets_the_others_aside():
    text = "i would love a black one for the beach party and honestly it should be sleeveless if you have it"
    reading = read_request_text(text, reference_facets(), "dress", fits=lambda t: len(t.split()) <= 8,
                                learned=lambda w: w != "honestly")
    assert reading.text == "is black and sleeveless, beach party" and reading.in_part
    assert reading.set_aside == () or "beach" not in reading.set_aside
    assert "beach, party" in reading.note
    # every unknown word one the model never learned: the wording goes alone, the words named as set aside
    alone = read_request_text(text, reference_facets(), "dress", fits=lambda t: len(t.split()) <= 8,
                              learned=lambda w: False)
    assert alone.text == "is black and sleeveless" and alone.understood and "beach" in alone.set_aside


def test_a_garment_reads_no_shoe_facet_and_less_is_not_more():
    # real Fashion-IQ captions: a dress's straps are not a shoe's closure, "less fitted" is not "more fitted"
    strapless = read_request_text("is a white strapless dress", {"colour": "black"}, "dress")
    assert strapless.canonical == "is white" and strapless.in_part  # "strapless" kept in the shopper's words
    assert read_request_text("is strapless", {"closure": "laces"}, "shoes").text == "are slip on"
    # a shop's own shoe category is not a garment: its reference's facets say what it is
    assert read_request_text("is strapless", {"closure": "laces"}, "boots").text == "are slip on"
    assert read_request_text("is strapless", {"sleeves": "long"}, "tops").text == "is strapless"
    for text in ("has short sleeves and is less fitted", "is less fitted"):
        reading = read_request_text(text, {"fit": "fitted", "sleeves": "long"}, "dress")
        assert "fitted" not in (reading.canonical or ""), reading
    assert read_request_text("less red, more blue", {"colour": "red"}, "dress").text == "is blue"
    assert read_request_text("has less heel", {"heel": "high"}, "shoes").text == "has less heel"  # lower, not flat


def test_a_request_read_whole_but_not_all_sayable_is_read_in_part():
    reading = read_request_text("remove the collar and make it black", {"neckline": "collar", "colour": "white"})
    assert reading.in_part and reading.unknown == ()
    assert reading.text == "is black, remove the collar and make it black"
    assert reading.note == 'request read in part as "is black" (your own words kept)'


def test_the_models_context_decides_what_fits(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint)
    context = model.tokenize([""]).shape[1]
    assert model.fits_context("is black and sleeveless")
    assert not model.fits_context(" ".join(["black"] * context))  # cut off by the text tower
    long = "make it black and sleeveless,"
    while model.fits_context(long + " summery"):  # the longest such request the text tower still reads whole
        long += " summery"
    assert "summery" in long
    # joined, it would be cut off: the words the reader did not know go after the wording on their own
    read = read_request_text(long, reference_facets(), "dress", model.fits_context)
    assert read.text == "is black and sleeveless, summery"
    assert read_request_text(long, reference_facets(), "dress").in_part  # without a limit it is read in part


def test_colour_names_read_as_their_base_colour_and_common_words_stay_words():
    # Shades are read as the base colour the vocabulary (and a generated catalogue) knows, in requests and in
    # descriptions; product nouns carry no facet.
    assert read_request_text("make the tunic crimson", reference_facets(), "dress").text == "is red"
    assert read_request_text("in charcoal instead of white", reference_facets(), "dress").text == "is grey"
    assert read_request_text("the footwear in a clog style please", None, "shoes").text == "are clogs"
    assert read_description("ivory maxi gown with an olive floral print")["colour"] == "white"
    # Names matched only as written: no misspelt word becomes one, and words near them stay words.
    for text in ("is plush and alive", "for the beach, in a better state"):
        assert "colour" not in read_request(text, reference_facets()), text
    assert read_request("make it blakc", reference_facets())["colour"].accepts("black")  # core words still corrected
    unknown = read_request_text("for the beach, in red", reference_facets(), "dress")
    assert not unknown.understood and unknown.unknown == ("beach",)


def test_short_misspellings_are_corrected_only_when_they_are_not_english():
    # Three or four letters one edit from a single value, and not an English word: a misspelling.
    reading = read_request_text("like this but maxy and pinc", reference_facets(), "dress")
    assert reading.text == "is pink and floor length"
    assert read_request("kne-length", {})["length"].allowed == {"knee"}
    assert read_request_text("make it nvy", reference_facets(), "dress").text == "is navy"
    assert read_request_text("make it gry", reference_facets(), "dress").text == "is grey"  # grey and gray: one value
    # English words near a value stay words ("bed" / "red", "knew" / "knee", "glue" / "blue"), and so does a word one
    # edit from two values ("mibi": midi or mini).
    for text in ("for my bed, in glue", "i knew it", "make it mibi"):
        assert not read_request(text, reference_facets()), text
    # The words that carry a request's logic are never a correction's result.
    assert correct("nto") == "nto" and correct("mroe") == "mroe"
    # Two edits for long words, and for short ones where the word sounds like the value; between two values, the
    # one it sounds like. British spellings are English too ("colour" is two edits from "collar").
    assert correct("purepl") == "purple" and correct("sleveles") == "sleeveless"
    assert correct("bloo") == "blue" and correct("blk") == "black" and correct("teel") == "teal"
    assert correct("colour") == "colour" and correct("favourite") == "favourite"


def test_slips_by_ear_are_read_as_the_value_they_sound_like():
    # Spelt as said, three edits away: silent letters and letter pairs that write one sound are heard, not counted.
    assert correct("whight") == "white" and correct("burgandie") == "burgundy" and correct("stilletoes") == "stilettos"
    assert read_request_text("make it burgandie please", reference_facets(), "dress").text == "is burgundy"
    # English words said like a value stay words ("wheat" / white), and so does a word said like two values at the
    # same distance ("luse": loose or lace).
    assert correct("wheat") == "wheat" and correct("luse") == "luse"
    # Slips from real Fashion-IQ captions that only a key merging b/p, d/t, m/n or vowels apart would misread:
    # "beachy" is not baggy, "bottome" not button, "flaily" not flowy, "thats" not dots.
    for word in ("beachy", "bottome", "flaily", "thats", "scouped", "sheild", "simle", "mutua"):
        assert correct(word) == word, word
    # A slip of a word a request says often is read as that word when it is nearer to it than to a value: "colur" is
    # colour, not collar; one as near to both stays the value ("colar").
    assert correct("colur") == "colour" and correct("kolour") == "colour" and correct("colar") == "collar"
    assert read_request("a different colur", reference_facets()) == {}
    assert read_request("a different colar", reference_facets())["neckline"].allowed == {"collar"}


def test_shade_names_that_are_everyday_words_are_colours_only_where_a_colour_stands():
    assert read_request_text("i want it in sage", reference_facets(), "dress").text == "is green"
    assert read_request_text("need this pair in raven, with a strap", None, "shoes").text == "are black and have straps"
    assert read_request("with sage soles", {})["accent_colour"].allowed == {"green"}
    assert read_request("a sage-coloured one", {})["colour"].allowed == {"green"}
    assert read_request("with mint flowers", {})["accent_colour"].allowed == {"green"}  # a pattern's colour
    # Shade names that name nothing else are read anywhere, as the base colour they are nearest to.
    assert read_request("a garnet dress", {})["colour"].allowed == {"burgundy"}
    assert read_description("primrose midi dress with porcelain stripes") == {
        "colour": "yellow", "length": "midi", "pattern": "stripes", "accent_colour": "white"}
    for text in ("a pearl necklace", "with a gold buckle", "in rose print", "sage advice", "going to the sky bar"):
        assert "colour" not in read_request(text, {}) and "accent_colour" not in read_request(text, {}), text


def test_a_shade_alone_in_its_clause_is_a_colour_and_a_shade_of_a_part_or_a_kind_is_not():
    white = {"colour": "white", "sleeves": "long"}
    assert read_request_text("make it sage", white, "dress").text == "is green"
    assert read_request_text("sage instead of white, with no sleeves", white, "dress").text == "is green and sleeveless"
    assert read_request_text("a gold pair please", None, "shoes").text == "are yellow"
    assert read_request_text("would love a mint version and lose the sleeves", white, "dress").text == (
        "is green and sleeveless")
    assert read_request("dusty sage, short sleeves", {})["colour"].allowed == {"green"}  # after a colour modifier
    # A word beside it that says something else: the shade may not be a colour at all.
    assert "colour" not in read_request("sage advice and long sleeves", {})
    assert "colour" not in read_request("mint condition", {})
    # The colour of a part or of a print's motif, a kind of shoe, a way of addressing someone.
    for text in ("with a gold strap", "a rose print", "snow boots", "straw sandals"):
        assert "colour" not in read_request(text, {}), text
    assert read_request("honey, make it red", white)["colour"].allowed == {"red"}


def test_the_first_word_of_a_two_word_shade_said_alone_is_that_shade_where_a_colour_stands():
    white = {"colour": "white", "sleeves": "long"}
    assert read_request_text("make it flint", white, "dress").text == "is grey"  # "flint grey"
    assert read_request_text("in admiral, with no sleeves", white, "dress").text == "is navy and sleeveless"
    assert read_request_text("coconut instead of red", {"colour": "red"}, "dress").text == "is white"
    # things known for one colour likewise: "make it caviar", "in concrete"
    assert read_request_text("make it caviar", white, "dress").text == "is black"
    assert read_request_text("make it caviar and sleeveless", white, "dress").text == "is black and sleeveless"
    assert read_request_text("in concrete, with short sleeves", white, "dress").text == "is grey and has short sleeves"
    assert read_request("a marshmallow-coloured one", {})["colour"].allowed == {"white"}
    # but not the thing itself nor a print's motif, as the real captions have them
    for text in ("with a panther on it", "has wolf and long sleeves", "a tuxedo design shirt",
                 "a lobster print", "a lighter colored bear", "with a fox logo"):
        assert "colour" not in read_request(text, {}) and "accent_colour" not in read_request(text, {}), text
    # motifs of the real captions are not among them: "a bottle logo", "an elephant on it"
    for text in ("a bottle logo", "with an elephant on it", "a cardinal print"):
        assert "colour" not in read_request(text, {}) and "accent_colour" not in read_request(text, {}), text


def test_a_common_english_word_is_read_as_the_fashion_word_next_to_it_only_where_it_stands_as_that_word():
    # One letter from "orange", "shoes", "soles", "spots": words a shopper means as written.
    question = read_request("Is there one with black flowers in your range?", {})
    assert "colour" not in question and question["pattern"].allowed == {"floral"}
    for text in ("sports shoes", "it shows in the sales", "places to go"):
        assert read_request(text, {}) == {}, text
    # Where the fashion word would stand, completing its phrase: "high heals" is a heel.
    assert read_request("with high heals", {})["heel"].allowed == {"high"}
    # A rare word one letter from a fashion word is a slip of the finger, wherever it stands.
    assert correct("lather") == "leather" and correct("range") == "range"

def test_a_colour_made_vague_and_shade_names_of_colour_surveys_read_as_their_base_colour():
    for text, colour in (("reddish", "red"), ("a bluish one", "blue"), ("pinky", "pink"), ("in a greyish tone", "grey"),
                         ("auburn", "brown"), ("celadon", "green"), ("terra cotta", "orange"), ("goldenrod", "yellow"),
                         ("rose gold", "pink"), ("grey marl", "grey")):
        assert read_request(text, {})["colour"].allowed == {colour}, text


def test_without_the_english_word_list_short_words_are_left_as_written(monkeypatch):
    monkeypatch.setattr(english_words, "_english_words", lambda: None)
    correct.cache_clear()
    try:
        assert correct("pinc") == "pinc"
        assert correct("blakc") == "black"  # longer words do not need the list
        assert correct("range") == "orange"  # nor, as before the list, do English words of five letters or more
    finally:
        correct.cache_clear()


def test_comparatives_need_the_reference_and_shoes_speak_in_the_plural():
    assert read_request_text("with longer sleeves", {"sleeves": "short"}, "dress").text == "has longer sleeves"
    assert not read_request_text("with longer sleeves", None, "dress").understood
    shoes = read_request_text("turn them into clogs with a lower heel", {"heel": "high"}, "shoes")
    assert shoes.text == "are clogs and have lower heels"


DOTTED = {**REFERENCE, "pattern": "dots", "secondary_color": "black"}
SNEAKER = {"category": "shoes", "color": "black", "secondary_color": "white", "type": "sneaker", "heel": "flat",
           "finish": "matte", "closure": "laces"}


@pytest.mark.parametrize("product, text, canonical", [
    # a bare value read beside its slot noun, in the clause it is said in
    (REFERENCE, "sleeves to long please", "has long sleeves"),
    (REFERENCE, "the sleeves should go from short to none", "is sleeveless"),
    (REFERENCE, "fit: slim", "is more fitted"),
    (SNEAKER, "with a heel from flat to high", "have high heels"),
    # negative contractions negate
    (REFERENCE, "i'd like it in black, doesn't need sleeves", "is black and sleeveless"),
    (REFERENCE, "it shouldn't have sleeves", "is sleeveless"),
    # removing the reference's pattern or closure asks for a plain or slip-on one
    (DOTTED, "without the dots", "is solid"),
    (DOTTED, "lose the polka dots and make it red", "is red and solid"),
    (SNEAKER, "don't want laces, make them red", "are red and slip on"),
    # a colour before a pattern is the pattern's; "in" after it gives the product's (the catalogue's captions' way)
    (REFERENCE, "blue polka-dotted in red", "is red and has blue polka dots"),
    (REFERENCE, "pattern: stripes in red", "has red stripes"),
    (SNEAKER, "navy-soled and black", "have navy soles"),  # black is the reference's: nothing new to ask
    # the old value after an accent colour is the accent's old value
    (DOTTED, "red dots instead of black ones", "has red polka dots"),
    (SNEAKER, "red soles instead of white", "have red soles"),
    # "ones" takes the slot noun of the clause before; "take away" removes
    (REFERENCE, "instead of the short sleeves, long ones", "has long sleeves"),
    (REFERENCE, "take away the sleeves", "is sleeveless"),
    # a colour after its pattern, joined by "going from ... to", and a bare value eight words from its noun
    (DOTTED, "the colour of the dots going from black to red", "has red polka dots"),
    (REFERENCE, "the sleeve length going from short to long", "has long sleeves"),
    # dropped letters of the commonest words, and "bright" before a base colour
    (REFERENCE, "in grene", "is green"),
    (REFERENCE, "in bright red", "is red"),
])
def test_phrasings_written_for_the_tests_read_as_meant(product, text, canonical):
    facets = read_description(describe_product(product, random.Random(0)))
    reading = read_request_text(text, facets, product["category"])
    assert reading.understood and reading.text == canonical, (reading.text, reading.unknown)


@pytest.mark.parametrize("text", ["black or navy", "a darker one", "sleeveless or long-sleeved"])
def test_what_would_be_lost_in_a_rewrite_passes_unchanged(text):
    # two values for one slot (which to keep?), a direction with no value, words not read: the shopper's own text
    reading = read_request_text(text, reference_facets(), "dress")
    assert not reading.understood and reading.text == text


def test_the_coverage_report_counts_rewrites_that_keep_every_change(synth_small, tmp_path):
    from benchmarks.phrasing import reader_coverage

    out = tmp_path / "coverage"
    assert reader_coverage.main(["--data", str(synth_small), "--out", str(out), "--pairs", "60"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    for layout in ("fashioniq", "shoes"):
        rows = result["layouts"][layout]
        assert set(rows) == set(STYLES)
        texts = sum(r["texts"] for r in rows.values())
        rewritten = sum(r["rewritten"] for r in rows.values())
        kept = sum(r["kept"] for r in rows.values())
        # the reader was written on the training phrasings: nearly all are rewritten, and rewrites keep the changes
        assert texts >= 60 * len(STYLES) * 0.9 and rewritten >= 0.9 * texts and kept >= 0.98 * rewritten
    assert "| misspelled |" in out.with_suffix(".md").read_text()
    assert reader_coverage.main(["--data", str(tmp_path), "--out", str(out)]) == 2  # not a generated catalogue


@needs_real_benchmarks("fashioniq")
def test_real_captions_are_rewritten_only_when_read_and_never_lose_a_named_value():
    path = find_real_benchmarks() / "fashioniq" / "captions" / "cap.dress.val.json"
    rows = json.loads(path.read_text())[:300]
    captions = [c for row in rows for c in row["captions"]]
    readings = [read_request_text(c, None, "dress") for c in captions]
    for reading in readings:
        if reading.in_part:  # the shopper's words, whole, after the canonical wording of what was read
            assert reading.text == f"{reading.canonical}, {reading.original}"
        elif not reading.understood:
            assert reading.text == reading.original
        else:  # every slot the shopper asked a value of is asked the same value by the rewrite
            before, after = read_request(reading.original), read_request(reading.text)
            for slot, c in before.items():
                if c.allowed is not None and slot != "accent_colour":
                    assert after[slot].allowed == c.allowed, (reading.original, reading.text)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> SearchEngine:
    work = tmp_path_factory.mktemp("reading")
    checkpoint = save_tiny_checkpoint(work / "ckpt")
    catalogue = draw_catalogue(work / "catalogue", per_category=4)
    build_index(load_checkpoint(checkpoint), items_from_folder(catalogue), work / "index", chunk_size=64,
                progress=False)
    return SearchEngine(checkpoint, work / "index")  # reads requests by default


def test_the_engine_option_round_trip(engine):
    said = "could you make it black and without sleeves please"
    read = engine.search(text=said, k=5)
    assert read.text == "is black and sleeveless"
    assert 'request read as "is black and sleeveless"' in read.notes
    canonical = engine.search(text="is black and sleeveless", k=5)
    assert [h.image_id for h in read.hits] == [h.image_id for h in canonical.hits]
    off = engine.submit(engine.prepare(text=said, k=5, read_requests=False))
    assert off.text == said and not any("read as" in n for n in off.notes)
    unknown = engine.search(text="make it more boho", k=5)
    assert unknown.text == "make it more boho" and not any("read as" in n for n in unknown.notes)


def test_the_engine_reads_each_request_once_per_reference_and_category(engine):
    said = "could you make it red please"
    hits, misses = engine.readings.hits, engine.readings.misses
    first, again = engine.search(text=said, k=5), engine.search(text=said, k=5)
    assert (engine.readings.hits, engine.readings.misses) == (hits + 1, misses + 1)
    assert first.text == again.text == "is red" and first.notes == again.notes
    reference = engine.index.items[0]["image_id"]  # a catalogue reference: its description is part of the key
    engine.submit(engine.prepare(text=said, k=5, reference_id=reference))
    assert engine.readings.misses == misses + 2


def test_the_reading_cache_is_bounded_and_forgets_the_least_recently_used():
    from cti_ir.serve.reading_cache import RequestReadingCache

    cache, calls = RequestReadingCache(capacity=2), []

    def read(key):
        return cache.read(key, lambda: calls.append(key) or (f"read {key}", None))

    for key in (("a",), ("b",), ("a",), ("c",), ("b",)):  # "b" was the least recently used when "c" came
        read(key)
    assert calls == [("a",), ("b",), ("c",), ("b",)] and len(cache) == 2 and read(("c",)) == ("read ('c',)", None)
    nothing = RequestReadingCache(capacity=0)
    assert nothing.read(("a",), lambda: ("x", None)) == ("x", None) and len(nothing) == 0
    with pytest.raises(ValueError, match="must not be negative"):
        RequestReadingCache(capacity=-1)


def test_the_evaluation_flag_reads_requests_first(tiny_checkpoint, fake_fiq):
    from cti_ir.evaluate.cli import main, read_requests_first

    model = load_checkpoint(tiny_checkpoint)
    seen = []
    model.encode_texts = lambda texts, *a, **k: seen.extend(texts)
    read_requests_first(model, None)
    model.encode_texts(["make it black and sleeveless please", "make it more boho"])
    assert seen == ["is black and sleeveless", "make it more boho"]
    assert main(["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(fake_fiq),
                 "--read-requests", "on", "--device", "cpu"]) == 0



def test_the_benchmark_measures_with_and_without_the_reader(synth_small, tiny_checkpoint, tmp_path):
    from benchmarks.phrasing import bench_paraphrase

    out = tmp_path / "report"
    assert bench_paraphrase.main(["--data", str(synth_small), "--out", str(out), "--permutations", "5",
                                  "--layouts", "shoes", "--styles", "negation", "imperative", "comparative",
                                  "--checkpoint", f"tiny={tiny_checkpoint}", "--read-requests", "both"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    plain, read = result["checkpoints"]["tiny"], result["checkpoints"]["tiny+reader"]
    assert (plain["read_requests"], read["read_requests"]) == (False, True)
    examples = plain["shoes"]["examples"], read["shoes"]["examples"]
    # Held-apart degree adverbs ("marginally lower") are words the reader does not know: the shopper's text is kept
    # whole after the canonical wording of what was read, or, where that would be cut off, the words it did not know
    def keeps_the_words(a: str, b: str) -> bool:
        return b == a or b.endswith(f", {a}") or set(b.rsplit(", ", 1)[-1].split()) <= set(tokens(a))

    assert all(keeps_the_words(a, b) for a, b in zip(examples[0]["comparative"], examples[1]["comparative"]))
    assert any(a != b for a, b in zip(examples[0]["imperative"], examples[1]["imperative"]))
    for text in examples[1]["imperative"]:  # a rewrite is the canonical wording: read again, it stays
        assert read_request_text(text, None, "shoes").text == text


def test_edit_distance_and_sound_key():
    assert edit_distance("purepl", "purple", 2) == 2 and edit_distance("bleu", "blue", 2) == 1  # a swap is one edit
    assert edit_distance("sneakers", "red", 2) == 3  # anything beyond the limit reads as limit + 1
    assert sound_key("bloo") == sound_key("blue") != sound_key("boot")
    assert sound_key("fitd") == sound_key("fitted") and sound_key("orange")[0] == "0"
    # the letter-set test never rules out a pair within reach: letters missing on either side each cost an edit
    assert missing_letters(letter_mask("bleu"), letter_mask("blue")) == 0
    assert missing_letters(letter_mask("purepl"), letter_mask("purple")) == 0
    assert missing_letters(letter_mask("sneakers"), letter_mask("red")) == 4  # s, n, a, k
