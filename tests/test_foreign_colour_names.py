"""Colour words of other languages in a request (`cti_ir.index.foreign_colour_names`): read as the base colour
they name, with or without their accents; the ones English spells too only where nothing but a colour can stand.
"""

from __future__ import annotations

import json
import re

import pytest

from cti_ir.index import english_words
from cti_ir.index.facets import read_request, tokens
from cti_ir.index.foreign_colour_names import FOREIGN_COLOUR_NAMES, FOREIGN_SHADE_WORDS
from cti_ir.index.request_reading import read_request_text
from tests.conftest import find_real_benchmarks, needs_real_benchmarks

WHITE_DRESS = {"colour": "white", "sleeves": "short"}
BLACK_DRESS = {"colour": "black", "sleeves": "short"}


def colour_asked(text: str, reference=WHITE_DRESS) -> frozenset | None:
    asked = read_request(text, reference).get("colour")
    return asked.allowed if asked is not None else None


@pytest.mark.parametrize("text, colour", [
    ("make it rojo", "red"), ("in grün please", "green"), ("is noir with long sleeves", "black"),
    ("schwarze, bitte", "black"), ("the same in bleu marine", "navy"), ("azul marino instead of white", "navy"),
    ("i want it rosso and sleeveless", "red"), ("make them amarillos", "yellow"), ("paars", "purple"),
])
def test_a_colour_word_of_another_language_is_read_as_its_base_colour(text, colour):
    assert colour_asked(text) == {colour}


def test_accents_and_the_sharp_s_are_folded_so_a_word_reads_the_same_typed_either_way():
    assert tokens("Grün, weiß, AMARILLÓ") == ["grun", ",", "weiss", ",", "amarillo"]
    assert colour_asked("is weiß", BLACK_DRESS) == colour_asked("is weiss", BLACK_DRESS) == {"white"}
    assert colour_asked("make it türkis") == {"teal"}


def test_one_that_english_spells_too_is_a_colour_only_where_only_a_colour_stands():
    assert colour_asked("make it verde") == {"green"}
    assert colour_asked("gris instead of white") == {"grey"}
    assert colour_asked("viola coloured, please") == {"purple"}
    # an instrument, a name: no colour asked
    assert colour_asked("has a viola print and long sleeves") is None
    assert colour_asked("like the one celeste wore, with long sleeves") is None
    assert colour_asked("a gift for celeste with long sleeves") is None


def test_words_left_out_on_purpose_are_not_read_as_colours():
    # "rot" and "wit" are English words; "wit" is also a slip for "with" in the real captions
    assert colour_asked("make it rot") is None
    assert colour_asked("is black wit long sleeves") == {"black"}
    reading = read_request_text("make it rot", WHITE_DRESS, "dress")
    assert not reading.understood and reading.text == "make it rot"


def test_the_words_read_anywhere_are_not_english_and_the_others_are():
    if english_words._english_words() is None:
        pytest.skip("pyspellchecker is not installed")
    one_word = [name for names in FOREIGN_COLOUR_NAMES.values() for name in names if " " not in name]
    assert one_word and not [w for w in one_word if english_words.is_english_word(w)]
    assert all(english_words.is_english_word(w) for w in FOREIGN_SHADE_WORDS)
    assert not set(one_word) & set(FOREIGN_SHADE_WORDS)


@needs_real_benchmarks("fashioniq", "shoes")
def test_no_word_read_anywhere_occurs_in_the_real_captions():
    root = find_real_benchmarks()
    paths = sorted((root / "fashioniq" / "captions").glob("cap.*.json"))
    paths.append(root / "shoes" / "dataset" / "relative_captions_shoes.json")
    words = set()
    for path in paths:
        words.update(re.findall(r"[a-z]+", json.dumps(json.loads(path.read_text())).lower()))
    anywhere = {name for names in FOREIGN_COLOUR_NAMES.values() for name in names if " " not in name}
    assert len(words) > 1000 and not anywhere & words
