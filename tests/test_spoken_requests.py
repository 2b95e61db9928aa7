"""Requests dictated to a phone: spoken punctuation, fillers and degree words, and what a shoe's request cannot ask.

The request reader reads a dictated request like a typed one: "comma" and "full stop" part its clauses, fillers and
a voice assistant's name carry no facet, "a skosh" is a degree and no slip of "scoop", and a shoe has no neckline
however its request is misheard. Written phrases the same words name stay as they were ("a question mark graphic").
"""

from __future__ import annotations

import json

import pytest

from cti_ir.index.facets import correct
from cti_ir.index.request_reading import read_request_text
from tests.conftest import find_real_benchmarks, needs_real_benchmarks

SHOE = {"colour": "black", "shoe_type": "sneaker", "heel": "flat", "finish": "matte", "closure": "laces"}
DRESS = {"colour": "white", "pattern": "floral", "sleeves": "long", "neckline": "crew", "length": "maxi",
         "fit": "fitted"}


@pytest.mark.parametrize("text, reading", [
    ("the right one is v-necked comma orange full stop", "is orange and has a v-neck"),
    ("sleeveless comma loose comma plain comma beige full stop!", "is beige, solid, sleeveless and looser"),
    ("okay phone i like this full stop just make it black and loose-fitting", "is black and looser"),
    ("make it red period", "is red"),
    ("could it be red question mark", "is red"),
])
def test_dictated_punctuation_parts_the_clauses_like_written_marks(text, reading):
    read = read_request_text(text, DRESS, "dress")
    assert read.understood and read.text.startswith(reading), read
    assert "comma" not in read.text and "stop" not in read.text


@pytest.mark.parametrize("text", ["is green and has a question mark graphic", "a period dress please",
                                  "is a period piece", "has stylized lettering and exclamation point"])
def test_the_same_words_written_as_a_phrase_stay_words(text):
    # a mark's name ends a request only after a word that can end a phrase ("lettering and exclamation point" is a
    # print); "period" and "question mark" inside a request are words
    read = read_request_text(text, DRESS, "dress")
    assert read.text == text or read.text.endswith(f", {text}"), read


@pytest.mark.parametrize("text, reading", [
    ("um so uh make it a skosh shorter and black", "is black"),
    ("okay siri, show me this in red, itty bitty looser", "is red"),
    ("right, these two things: red and sleeveless", "is red and sleeveless"),
    ("the one on the left but in navy please", "is navy"),
])
def test_fillers_degree_words_and_an_assistants_name_carry_no_facet(text, reading):
    read = read_request_text(text, DRESS, "dress")
    assert read.text.startswith(reading) and not read.in_part, read


def test_a_word_that_carries_no_facet_is_no_misspelling():
    # before: "tshirt" was corrected to "short" (a sleeve length), "scooch" to "scoop" (a neckline)
    assert correct("tshirt") == "tshirt" and correct("scooch") == "scooch" and correct("skosh") == "skosh"
    assert correct("sleves") == "sleeves" and correct("whight") == "white"  # slips are still slips
    assert read_request_text("is a black tshirt", DRESS, "dress").text == "is black"


def test_a_shoe_reads_no_garment_facet():
    # "a scooch lighter like pink" once read a scoop neckline into a shoe's request, and a misheard "shiny" a knee
    # length; a shoe has neither, so neither is asked nor keeps the request from being read whole
    read = read_request_text("a scoop of pink and make them knee high boots with laces", SHOE, "shoes")
    assert read.canonical is not None
    assert "neck" not in read.text.split(",")[0] and "knee length" not in read.text.split(",")[0]
    assert read_request_text("are pink with a v-neck strap", SHOE, "shoes").text.startswith("are pink")
    # a garment still reads its own
    assert read_request_text("make it knee length with a scoop neck", DRESS, "dress").text == \
        "has a scoop neck and is knee length"


@needs_real_benchmarks
def test_real_captions_that_name_a_mark_keep_it():
    # the real captions hold "a question mark graphic" and "lettering and exclamation point": prints, not marks
    root = find_real_benchmarks()
    captions = [c for f in sorted((root / "fashioniq" / "captions").glob("cap.*.json"))
                for row in json.loads(f.read_text()) for c in row["captions"]]
    named = [c for c in captions if "question mark" in c or "exclamation point" in c]
    assert named
    for caption in named:
        assert "mark" in read_request_text(caption).text or "point" in read_request_text(caption).text


def test_a_long_request_with_a_negation_far_from_its_value_is_not_shortened():
    # "not keen on the stripes" on a striped reference: the words between the negation and the value may be what
    # asks the change, so the request is not cut down to the words the reader did not know
    striped = {**DRESS, "pattern": "stripes"}
    text = "honestly not keen at all on the stripes of this one, but make it navy and sleeveless"
    read = read_request_text(text, striped, "dress", fits=lambda t: len(t) <= len(text), learned=lambda w: True)
    assert read.text == text and not read.in_part
