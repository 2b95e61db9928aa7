"""The words a model was trained on: recorded by training and by its command, carried by checkpoints, and used by the
request reader to set aside words the model never learned."""

from __future__ import annotations

import json
import shutil

import pytest

from cti_ir.index.request_reading import read_request_text
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cti_ir.model.cir_model import CIRModel
from cti_ir.model.text_vocabulary import VOCABULARY_FILE, read_text_vocabulary, text_words
from training.common import record_training_words
from training import text_vocabulary as vocabulary_cli

DRESS = {"colour": "white", "sleeves": "long"}


def test_a_request_whose_unread_words_the_model_never_learned_goes_as_its_canonical_wording():
    learned = {"summery", "is", "black"}.__contains__
    # "beach" was never in a training text: it cannot steer the query, so the canonical wording goes alone
    reading = read_request_text("make it black and sleeveless for the beach", DRESS, "dress", learned=learned)
    assert reading.text == "is black and sleeveless" and reading.understood and not reading.in_part
    assert reading.set_aside == ("beach",)
    assert reading.note == 'request read as "is black and sleeveless" (words this model has not learned, ' \
                           'set aside: beach)'
    # a word the model did learn is kept, after the canonical wording, as before
    kept = read_request_text("is black and more summery", DRESS, "dress", learned=learned)
    assert kept.in_part and kept.text == "is black, is black and more summery" and kept.set_aside == ()
    # no record (learned=None) keeps every word
    assert read_request_text("make it black and sleeveless for the beach", DRESS, "dress").in_part


def test_words_are_not_set_aside_when_a_negation_stands_too_far_before_a_value_read_as_unchanged():
    # the reader takes "stripes" on a striped dress as asking nothing new, out of the negation's reach; "keen" may
    # be what asks to remove them
    striped = {"colour": "white", "pattern": "stripes"}
    reading = read_request_text("not keen on white, black would be better; not keen on the stripes", striped,
                                "dress", learned=lambda word: False)
    assert reading.in_part and reading.set_aside == () and reading.text.endswith("not keen on the stripes")
    # the old value of a slot the request changes is no such case: "instead of white" is read
    swapped = read_request_text("black instead of white, cheerio", striped, "dress", learned=lambda word: False)
    assert swapped.text == "is black" and swapped.set_aside == ("cheerio",)
    # a value the reference already has, restated without a negation, asks nothing new: the rest is read
    restated = read_request_text("one that's black and striped", striped, "dress", learned=lambda word: False)
    assert restated.text == "is black" and restated.set_aside == ("that's",)
    # without the reference's own value named, the same unknown words are set aside
    plain = read_request_text("not keen on white, black would be better", striped, "dress",
                              learned=lambda word: False)
    assert plain.text == "is black" and plain.set_aside == ("keen", "better")
    # a negation that belongs to another facet phrase is no such case: "no pattern" says the stripes go, and the
    # "don't" of "if you don't mind" stands before a pattern the request names beside a new colour
    checked = {"colour": "white", "pattern": "checks", "accent_colour": "green"}
    removed = read_request_text("black in place of white; no pattern in place of a green check pattern", checked,
                                "dress", learned=lambda word: False)
    assert removed.text == "is black and solid" and removed.understood and removed.set_aside == ("place",)
    polite = read_request_text("cheerio, if you don't mind i'd want this navy striped and black", striped, "dress",
                               learned=lambda word: False)
    assert polite.text == "is black and has navy stripes" and polite.understood and polite.set_aside == ("cheerio",)


def test_words_are_never_set_aside_when_the_wording_cannot_say_everything_asked():
    # "remove the collar" is asked but not sayable; "puff" names sleeves the wording has no value for
    for text in ("remove the collar and make it black", "make it crimson with puff sleeves"):
        reading = read_request_text(text, {"neckline": "collar", "colour": "white"}, "dress",
                                    learned=lambda word: False)
        assert reading.in_part and reading.set_aside == () and reading.text.endswith(text)


def test_a_new_model_has_learned_nothing_and_its_record_travels_with_its_checkpoint(tmp_path):
    model = CIRModel.create("cti-tiny")
    assert model.text_vocabulary == {} and not model.learned_word("black")
    model.text_vocabulary = {"black": 3, "dress": 1}
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "ckpt"))
    assert loaded.text_vocabulary == {"black": 3, "dress": 1}
    assert loaded.learned_word("black") and not loaded.learned_word("pls")
    # the record is not one of the weight files: the fingerprint is the weights' alone
    model.text_vocabulary = None
    assert loaded.fingerprint == load_checkpoint(save_checkpoint(model, tmp_path / "bare")).fingerprint
    assert not (tmp_path / "bare" / VOCABULARY_FILE).exists()
    (tmp_path / "ckpt" / VOCABULARY_FILE).unlink()  # a checkpoint without a record: every word counts as learned
    assert load_checkpoint(tmp_path / "ckpt").learned_word("pls")


@pytest.mark.parametrize("content, says", [
    ("{not json", "cannot read"),
    (json.dumps({"format": "other", "words": {}}), "not a text vocabulary"),
    (json.dumps({"format": "cti-ir-text-vocabulary", "format_version": 9, "words": {}}), "format version 9"),
    (json.dumps({"format": "cti-ir-text-vocabulary", "format_version": 1, "words": ["a"]}), "map each word"),
])
def test_a_broken_record_is_refused_with_what_to_do(tmp_path, content, says):
    folder = save_checkpoint(CIRModel.create("cti-tiny"), tmp_path / "ckpt")
    (folder / VOCABULARY_FILE).write_text(content)
    with pytest.raises(CheckpointError, match=says):
        load_checkpoint(folder)


class _Task:
    def __init__(self, texts):
        self.texts = texts

    def training_texts(self):
        return iter(self.texts)


def test_training_adds_the_words_of_its_texts_and_unknown_stays_unknown():
    model = CIRModel.create("cti-tiny")
    model.text_vocabulary = {"black": 1}
    record_training_words(model, _Task(["Is black", "has a V-neck"]))
    assert model.text_vocabulary == {"black": 2, "is": 1, "has": 1, "a": 1, "v": 1, "neck": 1}
    record_training_words(model, object())  # a task that does not list its texts: the record becomes unknown
    assert model.text_vocabulary is None
    record_training_words(model, _Task(["is red"]))  # unknown stays unknown (pretrained weights, say)
    assert model.text_vocabulary is None
    assert text_words("Isn't it blue-ish?") == ["isn't", "it", "blue", "ish"]


def test_the_command_records_a_checkpoints_training_texts(synth_small, tiny_checkpoint, tmp_path, capsys):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    assert vocabulary_cli.main(["--checkpoint", str(folder), "--data", f"shoes={synth_small / 'shoes'}"]) == 0
    captions = read_text_vocabulary(folder)
    assert {"are", "heels"} <= set(captions) and "wrote" in capsys.readouterr().err
    assert vocabulary_cli.main(["--checkpoint", str(folder), "--data", f"shoes={synth_small / 'shoes'}",
                                "--corpus", str(synth_small / "open_domain"), "--phrasing-augment"]) == 0
    words = read_text_vocabulary(folder)
    assert set(captions) < set(words)  # the corpus and the training set's wording add words
    assert not load_checkpoint(folder).learned_word("kinda")  # a blind-set adverb no training text holds
    assert vocabulary_cli.main(["--checkpoint", str(folder)]) == 2
    assert "name the texts the model was trained on" in capsys.readouterr().err
    assert vocabulary_cli.main(["--checkpoint", str(tmp_path / "nowhere"), "--data", "shoes=x"]) == 2


def test_the_coverage_report_reads_as_the_engine_does_for_a_checkpoints_words(synth_small, tiny_checkpoint, tmp_path,
                                                                              capsys):
    from benchmarks.phrasing import reader_coverage

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    args = ["--data", str(synth_small), "--set", "blind", "--pairs", "40", "--layouts", "shoes"]
    assert reader_coverage.main(args + ["--out", str(tmp_path / "plain")]) == 0
    assert reader_coverage.main(args + ["--out", str(tmp_path / "bare"), "--learned-words", str(folder)]) == 2
    assert "has no text_vocabulary.json" in capsys.readouterr().err
    assert vocabulary_cli.main(["--checkpoint", str(folder), "--data", f"shoes={synth_small / 'shoes'}",
                                "--phrasing-augment"]) == 0
    assert reader_coverage.main(args + ["--out", str(tmp_path / "read"), "--learned-words", str(folder)]) == 0
    plain, read = (json.loads((tmp_path / f"{n}.json").read_text())["layouts"]["shoes"] for n in ("plain", "read"))
    # the blind set's own frame words were never in a training text: more requests go as the canonical wording
    assert sum(r["rewritten"] for r in read.values()) > sum(r["rewritten"] for r in plain.values())
    assert sum(r["in_part"] for r in read.values()) < sum(r["in_part"] for r in plain.values())
