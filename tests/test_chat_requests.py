"""Requests typed in a chat's register: stretched words, chat shorthand, wanting a thing gone, a slot asked as a
question.

The request reader reads "pleeease make it black lol" as "is black", "the sleeves gotta go" as sleeveless and
"heel?? high" as a high heel; the same words where they mean something else stay as they were ("the neck has to go
collar" is a collar, "off the shoulder" negates nothing).
"""

from __future__ import annotations

import pytest

from cti_ir.index.chat_forms import chat_negations, plain_chat
from cti_ir.index.facets import read_request
from cti_ir.index.request_reading import read_request_text

DRESS = {"colour": "white", "pattern": "stripes", "accent_colour": "navy", "sleeves": "short", "neckline": "crew",
         "length": "maxi", "fit": "fitted"}
SHOE = {"colour": "black", "shoe_type": "pump", "heel": "low", "finish": "shiny", "closure": "strap"}


@pytest.mark.parametrize("typed, plain", [
    ("pleeease make it black", "please make it black"),
    ("sooo much looser", "so much looser"),
    ("waaay shorter", "way shorter"),
    ("a looooose one", "a loose one"),
    ("no colllar and flowers at the botttom", "no collar and flowers at the bottom"),
    ("sizes 1000 and 3000", "sizes 1000 and 3000"),  # digits are no stretched letters
    ("high-heeeld please", "high-heeeld please"),  # a slip of a fashion word is left to the reader's correction
    ("low-heeed", "low-heeed"),  # "heed" is English, but the correction reads heeled
])
def test_a_stretched_word_is_read_as_the_word_it_stretches(typed, plain):
    assert plain_chat(typed) == plain


@pytest.mark.parametrize("text, reading", [
    ("pleeease make it black lol", "is black"),
    ("ngl i want it navy tbh", "is navy"),
    ("omg smol bit looser, and black rn", "is black and looser"),
])
def test_chat_shorthand_carries_no_facet(text, reading):
    read = read_request_text(text, DRESS, "dress")
    assert read.understood and read.text.startswith(reading), read


@pytest.mark.parametrize("text, slot, value", [
    ("sleeves gotta go idk", "sleeves", "sleeveless"),
    ("the stripes have to go.", "pattern", "solid"),
    ("done with the stripes lol", "pattern", "solid"),
    ("im so over the stripes", "pattern", "solid"),
    ("sick of the sleeves, black tho", "sleeves", "sleeveless"),
    ("take off the stripes", "pattern", "solid"),
    ("nothing with sleeves thx", "sleeves", "sleeveless"),
    ("hate the stripes ngl", "pattern", "solid"),
])
def test_wanting_a_thing_gone_removes_it(text, slot, value):
    read = read_request_text(text, DRESS, "dress")
    assert read.canonical is not None and read_request(read.canonical, DRESS)[slot].allowed == {value}, read


def test_a_slot_asked_as_a_question_takes_the_answer():
    read = read_request_text("Sleeves?? long / colour?? burgundy / print?? plain rn", DRESS, "dress")
    assert read.text == "is burgundy, solid and has long sleeves", read
    assert read_request_text("heel?? high / closure?? slip-on", SHOE, "shoes").text == "have high heels and are slip on"


@pytest.mark.parametrize("text, kept", [
    ("the neck has to go collar and the colour has to go grey", "is grey and has a collar"),  # go = become
    ("the colour has to go to grey", "is grey"),
])
def test_has_to_go_before_a_value_is_become(text, kept):
    assert read_request_text(text, DRESS, "dress").text == kept


@pytest.mark.parametrize("text", ["an off the shoulder black dress", "is in an off blue color",
                                  "nothing but black please"])
def test_words_that_only_look_like_wanting_a_thing_gone(text):
    # "off" alone negates nothing; "nothing but" is "only"
    assert chat_negations(text) == text
    asked = read_request(text, {"colour": "white"})
    assert all(not c.excluded for c in asked.values()), asked


@pytest.mark.parametrize("text, slot, value", [
    ("the stripes: a nope from me; black, please", "pattern", "solid"),
    ("white? nobody asked. beige, please", "colour", "beige"),
    ("sleeves: no", "sleeves", "sleeveless"),
    ("docked a star. sleeves: got short, wanted long", "sleeves", "long"),
    ("bottom line: v-necked", "neckline", "v_neck"),
])
def test_a_request_written_as_a_review_reads_its_verdict(text, slot, value):
    read = read_request_text(text, DRESS, "dress")
    assert read.understood and read_request(read.canonical, DRESS)[slot].allowed == {value}, read


@pytest.mark.parametrize("text", ["make it black, no?", "is black with stars on it", "a top with five stars"])
def test_a_tag_question_and_a_print_of_stars_are_no_verdict(text):
    # "no?" asks for agreement; "stars" alone is a print ("five stars" as a rating is dropped, a print kept whole)
    read = read_request_text(text, DRESS, "dress")
    assert "black" not in text or read.canonical.startswith("is black"), read
    assert "stars" not in text or read.text.endswith(text), read
