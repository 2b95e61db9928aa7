"""Requests to exchange a product: a heading before a colon, "replace it with", and what the shopper received.

A shopper sending a product back names what they want after a heading ("exchange: black"), after a verb of
replacing ("exchange it for a blue one", "replace with a v-neck") or as the contrast to what came ("it is white and
not black" of the white one received). The request reader reads each as the value wanted, and a usual contrast
("black, not white" on a white one) as before.
"""

from __future__ import annotations

import pytest

from cti_ir.index.category_intent import asked_category
from cti_ir.index.facets import mentions, read_request
from cti_ir.index.request_reading import read_request_text

DRESS = {"colour": "white", "pattern": "solid", "sleeves": "sleeveless", "neckline": "crew", "length": "maxi",
         "fit": "fitted"}
SHOE = {"colour": "black", "shoe_type": "pump", "heel": "high", "finish": "shiny", "closure": "strap",
        "accent_colour": "white"}


@pytest.mark.parametrize("text, reading", [
    ("Exchange: black, loose-fitting, three-quarter-sleeved", "is black, has three quarter sleeves and is looser"),
    ("swap details: a v-neck, red", "is red and has a v-neck"),
    ("exchange details: mini, not maxi-length; without the sleeves; black, not blue",
     "is black, sleeveless and mini length"),
])
def test_a_heading_before_a_colon_does_not_negate_what_follows(text, reading):
    read = read_request_text(text, DRESS, "dress")
    assert read.canonical == reading and read.text.startswith(reading), read


@pytest.mark.parametrize("text, reading", [
    ("refund or exchange for scoop-necked, blue", "is blue and has a scoop neck"),
    ("return and replace with a v-neck in black", "is black and has a v-neck"),
    ("could you swap it for a red one", "is red"),
    ("trade it for long sleeves please", "has long sleeves"),
])
def test_the_replacement_named_after_with_or_for_is_asked_for(text, reading):
    read = read_request_text(text, DRESS, "dress")
    assert read.text.startswith(reading) and read.canonical == reading, read


@pytest.mark.parametrize("text, negated", [
    ("replace the white with black", {"white": True, "black": False}),
    ("swap the red for blue", {"red": True, "blue": False}),
    ("no need for stripes", {"stripes": True}),
    ("not in black", {"black": True}),
])
def test_a_replacing_verb_still_negates_what_it_replaces(text, negated):
    found, words = mentions(text)
    assert {" ".join(words[m.start:m.end]): m.negated for m in found} == negated


def test_a_category_after_exchange_for_is_the_one_asked():
    assert asked_category("can i exchange these for sandals", ["sandals", "boots"], "boots") == "sandals"
    assert asked_category("no sandals please", ["sandals", "boots"], "boots") is None


@pytest.mark.parametrize("text, reading", [
    ("Returning it because it is white and not black; it is sleeveless and not short-sleeved",
     "is black and has short sleeves"),
    ("it came plain, not grey striped", "has grey stripes"),
])
def test_the_reference_s_own_value_set_against_another_asks_for_the_other(text, reading):
    # what the shopper received (the reference's values) against what they wanted (negated): read as the latter
    read = read_request_text(text, DRESS, "dress")
    assert read.canonical == reading, read


def test_a_received_contrast_reads_for_shoes_and_their_soles():
    text = "returning them because they are pumps and not sneakers; they are white-soled and not red-soled"
    assert read_request_text(text, SHOE, "shoes").canonical == "are sneakers and have red soles"


@pytest.mark.parametrize("text", [
    "is black, not white, and sleeveless not short-sleeved",  # a usual contrast beside it: the other stays unread
    "black, not white",
    "white and not black but in red",  # another colour asked for
])
def test_no_inversion_beside_a_usual_contrast_or_a_new_value(text):
    asked = read_request(text, DRESS)
    read = read_request_text(text, DRESS, "dress")
    assert "short sleeves" not in (read.canonical or "")
    assert read.canonical is None or "black" not in read.canonical or asked["colour"].allowed == {"black"}


def test_without_the_reference_s_facets_nothing_is_inverted():
    read = read_request_text("it is white and not black", {}, "dress")
    assert read.canonical is None or "black" not in read.canonical


@pytest.mark.parametrize("text, reading", [
    ("I ordered the wrong one, please send a replacement that is red", "is red"),
    ("this is going back for a refund. could you send me one that is sleeveless and navy?", "is navy and sleeveless"),
])
def test_the_words_of_buying_and_returning_carry_no_facet(text, reading):
    read = read_request_text(text, {**DRESS, "sleeves": "long"}, "dress")
    assert read.understood and read.text == reading, read


def test_back_is_a_place_on_the_product_unless_the_product_is_sent_back():
    assert read_request_text("i have sent the dress back; the replacement should be red", DRESS, "dress").text \
        == "is red"
    read = read_request_text("red with a graphic on the back", DRESS, "dress")
    assert read.unknown == ("back",) and read.text.endswith("on the back"), read
