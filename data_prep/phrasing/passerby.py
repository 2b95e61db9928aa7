"""The ``passerby`` phrasing set: a sixth wording of the same changes, for evaluation only.

It imitates older shoppers who write to a shop's customer-service or personal-shopping address by email rather
than typing into a search box: whole sentences, the courtesies of a letter (a greeting, "kind regards", "yours
faithfully"), British usage, references to "the one pictured" or to an earlier email or phone call, shade names
from paint charts, the garden and the haberdasher's counter, garment words from a department store's rails, and
the slips of someone typing slowly on a tablet (a neighbouring key hit, a letter written as it sounds). Some of
them compare ("a good deal darker") and bracket the colour they mean after it, as people do in a letter.

It was written after the five earlier sets, without seeing the request reader, its vocabulary, the other sets'
modules or any benchmark result, so that a reader nobody tuned on this wording can still be checked blind. Its
words met the other sets only mechanically: where the marker tests, or a yes/no check that a candidate word or
phrase was not already another set's, found a clash, the candidate was replaced by another of this set's own. Keep
it that way: the set is for evaluation only (the simulated shopper's ``--phrasing passerby`` in
``benchmarks/session/bench_session.py``). The generator cannot write it (it is not among its ``--phrasing``
modes) and stage-3 augmentation uses the training set only; both are tested, as is that every phrasing of this
set carries one of :data:`PASSERBY_FRAME_MARKERS` and no other set's phrasing nor any training-catalogue caption
carries one.

Every template names every change (the forms of :mod:`data_prep.phrasing.changes`), so the set claims what the
training set claims; the contrastive and negation templates name the reference's value too.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.set_parts import join_list, set_markers, synonyms, terse, typos

if TYPE_CHECKING:
    from data_prep.phrasing.changes import Change
    from data_prep.phrasing.styles import Context

PASSERBY = Lexicon(
    name="passerby",
    # Letter-writers' intensifiers: "a good deal darker", "a trifle longer".
    strong_adverbs=("a great deal ", "a good deal ", "ever so much "),
    mild_adverbs=("a mite ", "a trifle ", "just a fraction "),
    # Shade names from paint charts, the garden and make-up counters; none contains a canonical colour name.
    colour_synonyms=MappingProxyType({
        "black": ("sable", "soot"), "white": ("magnolia", "snowdrop"), "grey": ("elephant", "flint"),
        "red": ("geranium", "postbox"), "blue": ("delft", "wedgwood"), "navy": ("prussian", "ensign"),
        "green": ("shamrock", "fern"), "yellow": ("custard", "mimosa"), "pink": ("candyfloss", "carnation"),
        "purple": ("damson", "thistle"), "orange": ("marmalade", "satsuma"), "brown": ("conker", "toffee"),
        "beige": ("putty", "parchment"), "burgundy": ("beetroot", "cranberry"), "teal": ("mallard", "verdigris"),
    }),
    # What the rails of a department store call them.
    garment_nouns=MappingProxyType({
        "dress": ("tea dress", "shift dress"), "shirt": ("shirt-blouse", "tailored shirt"),
        "toptee": ("vest top", "little top"), "shoes": ("smart shoes", "going-out shoes"),
    }),
    # Slips of slow tablet typing: a neighbouring key, a letter as it sounds, an extra or missing letter. None is a
    # single dropped, doubled or swapped letter of a word of five letters or more, because procedural noise writes
    # those (and no other set's phrasing may carry a marker of this one).
    misspellings=MappingProxyType({
        "sleeveless": ("sleavelss", "slevlesss"), "sleeves": ("sleavs", "sleavess"), "black": ("bllak", "bleck"),
        "white": ("whight", "whiete"), "grey": ("grwy", "greay"), "green": ("gereen", "grteen"),
        "blue": ("bule", "bleue"), "pink": ("pinke", "pinnk"), "purple": ("purpil", "porple"),
        "yellow": ("yellor", "yelliw"), "orange": ("oarange", "ornange"), "brown": ("broen", "browen"),
        "beige": ("beidge", "beage"), "burgundy": ("burgandie", "burgondy"), "teal": ("teil", "teall"),
        "navy": ("nayv", "naevy"), "striped": ("strieped", "stripted"), "stripes": ("stripess", "stripies"),
        "floral": ("floreal", "flaural"), "checked": ("chected", "chacked"), "collar": ("collor", "coolar"),
        "neckline": ("necklone", "nackline"), "length": ("lengthe", "lemgth"), "loose": ("loosr", "lewse"),
        "fitted": ("fittid", "fittrd"), "heels": ("heeles", "hweels"), "sandals": ("sendals", "sandales"),
        "stiletto": ("stilleto", "stiletoe"), "stilettos": ("stillettoes",), "ankle": ("anckle",),
        "quarter": ("quorter", "quartor"), "polka": ("polca", "polkah"), "shiny": ("shyni", "shinee"),
        "scoop": ("scoope", "sccop"), "midi": ("midee", "middie"), "maxi": ("maxee", "maksi"),
        "sneakers": ("sneekurs",), "plaid": ("plaed", "plaide"),
    }),
    char_noise=False,
)

# Strings only this set's phrasings contain (whole words, any case); every template writes at least one of them in
# every branch. None of them may contain "colour" or "grey": the shared finish rewrites those to American spelling.
PASSERBY_FRAME_MARKERS = (
    "as near as possible", "what i have in mind", "sort of thing i am after", "send me details of",
    "please let me see", "exactly as pictured", "would dearly like", "my hope is", "heart set on",
    "my preference would be", "if at all possible", "whereas i had in mind", "much the same as", "re:",
    "as per my phone call", "item enquiry", "regarding the", "altered to", "as to the", "would suit me better",
    "dear sir or madam", "will not do", "would sooner", "if you would be so kind", "would there be",
    "the one i have been looking at", "would you be so kind", "yours faithfully", "i wonder if you might",
    "with kind regards", "much obliged", "yours sincerely", "had a good look", "i should want",
    "further to my last email", "nearly right", "would you happen to", "in your range", "might i ask whether",
    "can be had", "please advise", "in search of",
)


def passerby_markers() -> tuple[str, ...]:
    """Every string that marks a passerby phrasing: its frames, adverbs, synonyms, garment words and misspellings."""
    return set_markers(PASSERBY_FRAME_MARKERS, PASSERBY)


Template = Callable[["Context"], str]


def _pictured(x: Context) -> str:
    """How a letter-writer points at the reference: "the one pictured", "the pair pictured"."""
    return "the pair pictured" if x.category == "shoes" else "the one pictured"


def _compared(x: Context, change: Change) -> str:
    """A change as a comparative with the value it means in brackets ("a trifle darker (black)"); its plain
    modifier where the change has no comparative (a pattern, a shoe type)."""
    if not change.comp:
        return change.mod
    # "with a {adv}lower neckline" + "a trifle " would read "a a trifle lower": one article is enough.
    return f"{change.comp.format(adv=x.adverb(change)).replace(' a a ', ' a ')} ({change.noun})"


def _comparatives(x: Context) -> str:
    return join_list([_compared(x, c) for c in x.changes])


# --- descriptive: the product they have in mind, described ----------------------------------------------------------

def _descriptive_near(x: Context) -> str:
    return f"I am looking for {x.one} {x.mods()}, as near as possible to {_pictured(x)} otherwise"


def _descriptive_in_mind(x: Context) -> str:
    return f"What I have in mind is {x.one} {x.mods()}"


def _descriptive_sort(x: Context) -> str:
    return f"The sort of thing I am after is {x.one} {x.mods()}"


# --- imperative ------------------------------------------------------------------------------------------------------

def _imperative_details(x: Context) -> str:
    return f"Please send me details of {x.one} {x.mods()}"


def _imperative_show(x: Context) -> str:
    return f"Please let me see {x.this} {x.mods()}"


def _imperative_make(x: Context) -> str:
    return f"Make {x.it} {x.preds()}, otherwise exactly as pictured"


# --- wish ------------------------------------------------------------------------------------------------------------

def _wish_dearly(x: Context) -> str:
    return f"I would dearly like {x.one} {x.mods()}"


def _wish_hope(x: Context) -> str:
    return f"My hope is to find {x.one} {x.mods()}"


def _wish_heart(x: Context) -> str:
    return f"I have my heart set on {x.one} {x.mods()}"


# --- contrastive: the new value against the reference's ------------------------------------------------------------

def _contrastive_prefer(x: Context) -> str:
    parts = join_list([f"{c.pred} rather than {c.old_pred}" for c in x.changes])
    return f"My preference would be {parts}, if at all possible"


def _contrastive_whereas(x: Context) -> str:
    old = join_list([c.old_pred for c in x.changes])
    return f"{_pictured(x)} {x.be} {old}, whereas I had in mind {x.one} {x.mods()}"


def _contrastive_much_the_same(x: Context) -> str:
    parts = join_list([f"{c.noun} instead of {c.old_noun}" for c in x.changes])
    return f"Much the same as {x.this} but with {parts}"


# --- terse: an email's subject line or a one-line note ------------------------------------------------------------

def _terse_re(x: Context) -> str:
    return f"Re: {terse(x)}"


def _terse_phone(x: Context) -> str:
    return f"{terse(x)}, as per my phone call"


def _terse_enquiry(x: Context) -> str:
    return f"Item enquiry: {terse(x)}"


# --- attribute: the attribute named, then its new value -----------------------------------------------------------

def _attribute_regarding(x: Context) -> str:
    return "; ".join(f"regarding the {c.attr}: {c.value}" for c in x.changes)


def _attribute_altered(x: Context) -> str:
    return f"I would like {join_list([f'the {c.attr} altered to {c.value}' for c in x.changes])}, please"


def _attribute_suit(x: Context) -> str:
    return "; ".join(f"as to the {c.attr}, {c.value} would suit me better" for c in x.changes)


# --- negation: what should go, or the reference's value refused --------------------------------------------------

def _negated(x: Context, removed: str, changed: str) -> str:
    """Each change in the frame of its kind: ``removed`` ({r}), ``changed`` ({old}, {new}); both may use {it}."""
    return "; ".join(removed.format(r=c.removed, it=x.it) if c.removed
                     else changed.format(old=c.old_pred, new=c.pred, it=x.it) for c in x.changes)


def _negation_madam(x: Context) -> str:
    body = _negated(x, "I can do without the {r}", "I do not want {it} {old} but {new}")
    return f"Dear Sir or Madam, {body}"


def _negation_will_not_do(x: Context) -> str:
    return _negated(x, "the {r} will not do", "{old} will not do, {new} please")


def _negation_sooner(x: Context) -> str:
    return _negated(x, "I would sooner have no {r}", "I would sooner have {it} {new} than {old}")


# --- comparative ---------------------------------------------------------------------------------------------------

def _comparative_only(x: Context) -> str:
    return f"Something like {x.this} only {_comparatives(x)}, if you would be so kind"


def _comparative_would_there(x: Context) -> str:
    return f"Would there be {x.one} that {x.be} {_comparatives(x)}?"


def _comparative_looking(x: Context) -> str:
    return f"Compared with the one I have been looking at, I want {x.it} {_comparatives(x)}"


# --- polite: the courtesies of a letter --------------------------------------------------------------------------

def _polite_so_kind(x: Context) -> str:
    return f"Would you be so kind as to look out {x.one} {x.mods()} for me? Yours faithfully"


def _polite_wonder(x: Context) -> str:
    return f"Good afternoon, I wonder if you might have {x.this} {x.mods()}. With kind regards"


def _polite_obliged(x: Context) -> str:
    return f"I should be much obliged for news of {x.one} {x.mods()}. Yours sincerely"


# --- two sentences ---------------------------------------------------------------------------------------------------

def _two_sentences_look(x: Context) -> str:
    return f"I have had a good look at {x.this}. I should want {x.it} to be {x.preds()} though"


def _two_sentences_further(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    they = "They" if x.plural else "It"
    second = f"{they} should also be {join_list([c.pred for c in rest])}" if rest else "That is all for now"
    return f"Further to my last email, I am after {x.one} {first.mod}. {second}"


def _two_sentences_nearly(x: Context) -> str:
    they = "They just want" if x.plural else "It just wants"
    return f"{x.this.capitalize()} {x.be} nearly right. {they} to be {x.preds()}"


# --- question --------------------------------------------------------------------------------------------------------

def _question_stock(x: Context) -> str:
    return f"Would you happen to stock {x.one} {x.mods()}?"


def _question_range(x: Context) -> str:
    return f"Is there {x.one} {x.mods()} in your range?"


def _question_had(x: Context) -> str:
    return f"Might I ask whether {x.this} can be had {x.mods()}?"


# --- misspelled: only the changes are misspelled, so the frame keeps its marker -------------------------------------

def _misspelled_looking(x: Context) -> str:
    return f"I am looking for {x.one} {typos(x, x.mods())}, if you would be so kind"


def _misspelled_advise(x: Context) -> str:
    return f"Please advise if you have {x.one} {typos(x, x.mods())}"


def _misspelled_need(x: Context) -> str:
    return f"I am after {x.one} that {x.be} {typos(x, x.preds())}. Much obliged"


# --- synonyms: the set's garment words and shade names -----------------------------------------------------------

def _synonyms_near(x: Context) -> str:
    return synonyms(x, "I am after {noun} {mods}, as near as possible")


def _synonyms_happen(x: Context) -> str:
    return synonyms(x, "Would you happen to have {noun} {mods}?")


def _synonyms_search(x: Context) -> str:
    return synonyms(x, "In search of {noun} {mods}. With kind regards")


PASSERBY_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (("passerby.descriptive.near", _descriptive_near),
                    ("passerby.descriptive.in_mind", _descriptive_in_mind),
                    ("passerby.descriptive.sort", _descriptive_sort)),
    "imperative": (("passerby.imperative.details", _imperative_details),
                   ("passerby.imperative.show", _imperative_show),
                   ("passerby.imperative.make", _imperative_make)),
    "wish": (("passerby.wish.dearly", _wish_dearly), ("passerby.wish.hope", _wish_hope),
             ("passerby.wish.heart", _wish_heart)),
    "contrastive": (("passerby.contrastive.prefer", _contrastive_prefer),
                    ("passerby.contrastive.whereas", _contrastive_whereas),
                    ("passerby.contrastive.much_the_same", _contrastive_much_the_same)),
    "terse": (("passerby.terse.re", _terse_re), ("passerby.terse.phone", _terse_phone),
              ("passerby.terse.enquiry", _terse_enquiry)),
    "attribute": (("passerby.attribute.regarding", _attribute_regarding),
                  ("passerby.attribute.altered", _attribute_altered),
                  ("passerby.attribute.suit", _attribute_suit)),
    "negation": (("passerby.negation.madam", _negation_madam),
                 ("passerby.negation.will_not_do", _negation_will_not_do),
                 ("passerby.negation.sooner", _negation_sooner)),
    "comparative": (("passerby.comparative.only", _comparative_only),
                    ("passerby.comparative.would_there", _comparative_would_there),
                    ("passerby.comparative.looking", _comparative_looking)),
    "polite": (("passerby.polite.so_kind", _polite_so_kind), ("passerby.polite.wonder", _polite_wonder),
               ("passerby.polite.obliged", _polite_obliged)),
    "two_sentences": (("passerby.two_sentences.look", _two_sentences_look),
                      ("passerby.two_sentences.further", _two_sentences_further),
                      ("passerby.two_sentences.nearly", _two_sentences_nearly)),
    "question": (("passerby.question.stock", _question_stock), ("passerby.question.range", _question_range),
                 ("passerby.question.had", _question_had)),
    "misspelled": (("passerby.misspelled.looking", _misspelled_looking),
                   ("passerby.misspelled.advise", _misspelled_advise),
                   ("passerby.misspelled.need", _misspelled_need)),
    "synonyms": (("passerby.synonyms.near", _synonyms_near), ("passerby.synonyms.happen", _synonyms_happen),
                 ("passerby.synonyms.search", _synonyms_search)),
})
