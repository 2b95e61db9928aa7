"""Sentence frames of the two phrasing sets, by style: how a shopper may word the same changes.

Each template arranges the :class:`~data_prep.phrasing.changes.Change` forms of one modification, so every
style says the same thing in other words. A template has an id (``"<set>.<style>.<name>"``) that the generator's
provenance records. The *training* and *held-apart* sets have the same styles and disjoint templates: every
held-apart template writes one of :data:`~data_prep.phrasing.lexicon.HELDOUT_FRAME_MARKERS` and no training
template does (both tested). The ``blind``, ``stranger``, ``newcomer``, ``passerby``, ``latecomer``, ``traveller``,
``caller``, ``gifter``, ``returner``, ``texter``, ``reviewer`` and ``comparer`` sets (evaluation only) have their
templates in their own modules, registered in :data:`TEMPLATES` here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

from data_prep.phrasing.blind import BLIND_TEMPLATES
from data_prep.phrasing.caller import CALLER_TEMPLATES
from data_prep.phrasing.changes import Change
from data_prep.phrasing.comparer import COMPARER_TEMPLATES
from data_prep.phrasing.gifter import GIFTER_TEMPLATES
from data_prep.phrasing.latecomer import LATECOMER_TEMPLATES
from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.newcomer import NEWCOMER_TEMPLATES
from data_prep.phrasing.noise import misspell, substitute_colours
from data_prep.phrasing.passerby import PASSERBY_TEMPLATES
from data_prep.phrasing.returner import RETURNER_TEMPLATES
from data_prep.phrasing.reviewer import REVIEWER_TEMPLATES
from data_prep.phrasing.stranger import STRANGER_TEMPLATES
from data_prep.phrasing.texter import TEXTER_TEMPLATES
from data_prep.phrasing.traveller import TRAVELLER_TEMPLATES

STYLES = ("descriptive", "imperative", "wish", "contrastive", "terse", "attribute", "negation", "comparative",
          "polite", "two_sentences", "question", "misspelled", "synonyms")


@dataclass
class Context:
    """One modification to phrase: its changes (in the order to name them), the set's words and the product."""

    changes: Sequence[Change]
    rng: random.Random
    lex: Lexicon
    plural: bool         # a pair of shoes: "make them", "they are"
    category: str        # dress | shirt | toptee | shoes
    colours: list[str]   # canonical colour names the changes mention (for the synonyms style)

    @property
    def it(self) -> str:
        return "them" if self.plural else "it"

    @property
    def be(self) -> str:
        return "are" if self.plural else "is"

    @property
    def one(self) -> str:
        return "a pair" if self.category == "shoes" else "one"

    @property
    def this(self) -> str:
        return "these" if self.plural else "this"

    def preds(self) -> str:
        return join([c.pred for c in self.changes])

    def mods(self) -> str:
        return join([c.mod for c in self.changes])

    def adverb(self, change: Change) -> str:
        return self.rng.choice(self.lex.strong_adverbs if change.big else self.lex.mild_adverbs + ("",))

    def comps(self) -> str:
        """The comparatives the changes have ("much darker and with a bit longer sleeves"), or ''."""
        # "with a {adv}lower neckline" + "a bit " would read "a a bit lower": one article is enough.
        return join([c.comp.format(adv=self.adverb(c)).replace(" a a ", " a ") for c in self.changes if c.comp])


def join(items: Sequence[str], last: str = " and ") -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(items)
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]


Template = Callable[[Context], str]


def _first_rest(ctx: Context) -> tuple[Change, Sequence[Change]]:
    return ctx.changes[0], ctx.changes[1:]


# --- the training set ---------------------------------------------------------------------------------------------

def _t_with(ctx: Context) -> str:
    first, rest = _first_rest(ctx)
    return f"{ctx.be} {first.pred}" + (" " + join([c.mod for c in rest]) if rest else "")


def _t_negation_without(ctx: Context) -> str:
    return join([f"without the {c.removed}" if c.removed else f"not {c.old_pred} but {c.pred}"
                 for c in ctx.changes])


def _t_negation_no(ctx: Context) -> str:
    return join([f"no {c.removed}" if c.removed else f"{c.pred} and not {c.old_pred}" for c in ctx.changes], ", ")


def _t_negation_anymore(ctx: Context) -> str:
    return join([f"remove the {c.removed}" if c.removed else f"not {c.old_pred} anymore, {c.pred}"
                 for c in ctx.changes], "; ")


# Connectors that do not say which side is new: "black vs beige" is only clear with the reference in view (it is
# beige), which is how a shopper reads an unfamiliar "X <connector> Y" too. Training on them, in either order,
# teaches the model to take the reference image's value as the old one instead of trusting the word order.
_SYMMETRIC_CONNECTORS = ("vs", "versus", "/", "or", "&", "and")


def _t_both_values(ctx: Context) -> str:
    items = []
    for c in ctx.changes:
        pair = [c.noun, c.old_noun]
        ctx.rng.shuffle(pair)
        items.append(f"{pair[0]} {ctx.rng.choice(_SYMMETRIC_CONNECTORS)} {pair[1]}")
    return "; ".join(items)


def _t_replace(ctx: Context) -> str:
    items = [f"replace {'' if c.old_noun.startswith(('no ', 'a ')) else 'the '}{c.old_noun} with {c.noun}"
             for c in ctx.changes]
    return join(items, ", ")


def _t_comparative(ctx: Context, frame: str) -> str:
    comps = ctx.comps()
    if not comps:
        return f"{ctx.be} {ctx.preds()}" if frame == "colon" else f"make {ctx.it} {ctx.preds()}"
    if frame == "colon":
        return f"{ctx.be} {comps}: {ctx.preds()}"
    return f"make {ctx.it} {comps} ({ctx.preds()})"


def _t_two_sentences(ctx: Context, frame: str) -> str:
    first, rest = _first_rest(ctx)
    subject = "they" if ctx.plural else "it"
    if frame == "also":
        head = f"{subject} should be {first.pred}."
        return head + (f" also {join([c.pred for c in rest])}." if rest else " nothing else.")
    head = f"make {ctx.it} {first.pred}."
    return head + (f" and {join([c.mod for c in rest])}." if rest else " that is all.")


def _t_misspelled(ctx: Context) -> str:
    base = ctx.rng.choice(TRAIN_TEMPLATES["descriptive"] + TRAIN_TEMPLATES["imperative"]
                          + TRAIN_TEMPLATES["terse"] + TRAIN_TEMPLATES["wish"])
    return misspell(base[1](ctx), ctx.lex, ctx.rng)


def _garment_noun(ctx: Context, article: bool = False) -> str:
    """A word for the product from the set's synonyms; with ``article``, "a frock", "a pair", "some kicks"."""
    noun = ctx.rng.choice(ctx.lex.garment_nouns[ctx.category])
    if not article:
        return noun
    if ctx.category == "shoes":
        return "a pair" if noun == "pair" else f"some {noun}"
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _t_synonyms_want(ctx: Context) -> str:
    noun = _garment_noun(ctx)
    this = "these" if ctx.category == "shoes" and noun != "pair" else "this"
    return _synonyms(ctx, f"i want {this} {noun} {ctx.preds()}")


def _synonyms(ctx: Context, text: str) -> str:
    return substitute_colours(text, ctx.lex, ctx.rng, ctx.colours)


TRAIN_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("train.descriptive.is", lambda x: f"{x.be} {x.preds()}"),
        ("train.descriptive.it_is", lambda x: f"{'they' if x.plural else 'it'} {x.be} {x.preds()}"),
        ("train.descriptive.bare", lambda x: x.preds()),
        ("train.descriptive.with", _t_with),
    ),
    "imperative": (
        ("train.imperative.make_it", lambda x: f"make {x.it} {x.preds()}"),
        ("train.imperative.make_each", lambda x: " and ".join(f"make {x.it} {c.pred}" for c in x.changes)),
        ("train.imperative.change_to", lambda x: f"change {x.it} to {x.preds()}"),
    ),
    "wish": (
        ("train.wish.want", lambda x: f"i want {x.it} {x.preds()}"),
        ("train.wish.would_like", lambda x: f"i would like {x.one} {x.mods()}"),
        ("train.wish.looking", lambda x: f"looking for something {x.preds()}"),
        ("train.wish.need", lambda x: f"i need {x.one} that is {x.preds()}"),
    ),
    "contrastive": (
        ("train.contrastive.instead", lambda x: join([f"{c.noun} instead of {c.old_noun}" for c in x.changes], ", ")),
        ("train.contrastive.not", lambda x: "; ".join(f"{c.pred}, not {c.old_pred}" for c in x.changes)),
        ("train.contrastive.rather",
         lambda x: f"{x.be} " + join([f"{c.pred} rather than {c.old_pred}" for c in x.changes])),
        # The reference's value first, as shoppers often put it.
        ("train.contrastive.replace", _t_replace),
        ("train.contrastive.from_to",
         lambda x: "change " + join([f"the {c.attr} from {c.old_value} to {c.value}" for c in x.changes])),
        ("train.contrastive.both_values", _t_both_values),
    ),
    "terse": (
        ("train.terse.comma", lambda x: ", ".join(c.pred for c in x.changes)),
        ("train.terse.same_but", lambda x: "same but " + ", ".join(c.pred for c in x.changes)),
        ("train.terse.but", lambda x: "but " + x.preds()),
    ),
    "attribute": (
        ("train.attribute.change", lambda x: "change " + join([f"the {c.attr} to {c.value}" for c in x.changes])),
        ("train.attribute.set", lambda x: join([f"set the {c.attr} to {c.value}" for c in x.changes])),
        ("train.attribute.colon", lambda x: ", ".join(f"{c.attr}: {c.value}" for c in x.changes)),
    ),
    "negation": (
        ("train.negation.without", _t_negation_without),
        ("train.negation.no", _t_negation_no),
        ("train.negation.anymore", _t_negation_anymore),
    ),
    "comparative": (
        ("train.comparative.colon", lambda x: _t_comparative(x, "colon")),
        ("train.comparative.make", lambda x: _t_comparative(x, "make")),
    ),
    "polite": (
        ("train.polite.please_make", lambda x: f"please make {x.it} {x.preds()}"),
        ("train.polite.hi_want", lambda x: f"hi, i want {x.it} {x.preds()}, thanks"),
        ("train.polite.suffix", lambda x: f"{x.mods()} please, thank you"),
    ),
    "two_sentences": (
        ("train.two_sentences.also", lambda x: _t_two_sentences(x, "also")),
        ("train.two_sentences.and", lambda x: _t_two_sentences(x, "and")),
    ),
    "question": (
        ("train.question.is_there", lambda x: f"is there {x.one} {x.mods()}?"),
        ("train.question.do_you_have", lambda x: f"do you have {x.it} {x.mods()}?"),
    ),
    "misspelled": (("train.misspelled.base", _t_misspelled),),
    "synonyms": (
        ("train.synonyms.noun", lambda x: _synonyms(x, f"{_garment_noun(x, article=True)} {x.mods()}")),
        ("train.synonyms.want", _t_synonyms_want),
    ),
})


# --- the held-apart set (evaluation only) ---------------------------------------------------------------------------

def _h_comes(ctx: Context) -> str:
    return f"{'come' if ctx.plural else 'comes'} {ctx.mods()}"


def _h_negation(ctx: Context, frame: str) -> str:
    items = []
    for c in ctx.changes:
        if c.removed:
            items.append(f"{frame} the {c.removed}")
        else:
            items.append(f"no longer {c.old_pred} but {c.pred}" if frame == "lose"
                         else f"{c.pred}, no longer {c.old_pred}")
    return join(items, "; ")


def _h_comparative(ctx: Context, frame: str) -> str:
    comps = ctx.comps()
    if frame == "compared":
        return f"{comps} compared to this, {ctx.preds()}" if comps else f"{ctx.preds()} compared to this"
    return f"same idea but {comps} - {ctx.preds()}" if comps else f"same idea but {ctx.preds()}"


def _h_two_sentences(ctx: Context, frame: str) -> str:
    first, rest = _first_rest(ctx)
    if frame == "needs":
        head = f"{'they need' if ctx.plural else 'needs'} to be {first.pred}."
        return head + (f" oh and {join([c.mod for c in rest])} too." if rest else " oh and keep the rest.")
    head = f"{first.pred}, that's the main thing."
    return head + (f" oh and {join([c.pred for c in rest])}." if rest else "")


def _h_swap(ctx: Context) -> str:
    items = [f"swap {'' if c.old_noun.startswith(('no ', 'a ')) else 'the '}{c.old_noun} for {c.noun}"
             for c in ctx.changes]
    return join(items, ", ")


def _h_misspelled(ctx: Context) -> str:
    base = ctx.rng.choice(HELDOUT_TEMPLATES["descriptive"] + HELDOUT_TEMPLATES["imperative"]
                          + HELDOUT_TEMPLATES["terse"] + HELDOUT_TEMPLATES["wish"])
    return misspell(base[1](ctx), ctx.lex, ctx.rng)


HELDOUT_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("heldout.descriptive.its", lambda x: f"{'they' if x.plural else 'it'}'{'re' if x.plural else 's'} "
                                              f"{x.preds()}"),
        ("heldout.descriptive.comes", _h_comes),
        ("heldout.descriptive.thats", lambda x: f"{x.one} that's {x.preds()}"),
    ),
    "imperative": (
        ("heldout.imperative.turn", lambda x: f"turn {x.it} {x.preds()}"),
        ("heldout.imperative.go_for", lambda x: f"go for {x.one} {x.mods()}"),
        ("heldout.imperative.do", lambda x: f"do {x.it} {x.mods()}"),
    ),
    "wish": (
        ("heldout.wish.id_like", lambda x: f"i'd like {x.this} {x.mods()}"),
        ("heldout.wish.id_love", lambda x: f"i'd love {x.one} that's {x.preds()}"),
        ("heldout.wish.wish", lambda x: f"wish {'they' if x.plural else 'it'} were {x.preds()}"),
        ("heldout.wish.hoping", lambda x: f"hoping for something {x.preds()}"),
    ),
    "contrastive": (
        ("heldout.contrastive.swap", _h_swap),
        ("heldout.contrastive.in_place",
         lambda x: join([f"{c.noun} in place of {c.old_noun}" for c in x.changes], "; ")),
        ("heldout.contrastive.going_from",
         lambda x: join([f"the {c.attr} going from {c.old_value} to {c.value}" for c in x.changes])),
    ),
    "terse": (
        ("heldout.terse.like_this_but", lambda x: "like this but " + " + ".join(c.pred for c in x.changes)),
        ("heldout.terse.otherwise", lambda x: " / ".join(c.pred for c in x.changes) + ", otherwise the same"),
    ),
    "attribute": (
        ("heldout.attribute.switch", lambda x: join([f"switch the {c.attr} to {c.value}" for c in x.changes])),
        ("heldout.attribute.ought", lambda x: join([f"the {c.attr} ought to be {c.value}" for c in x.changes])),
        ("heldout.attribute.needs", lambda x: join([f"the {c.attr} needs to be {c.value}" for c in x.changes], "; ")),
    ),
    "negation": (
        ("heldout.negation.lose", lambda x: _h_negation(x, "lose")),
        ("heldout.negation.minus", lambda x: _h_negation(x, "minus")),
    ),
    "comparative": (
        ("heldout.comparative.compared", lambda x: _h_comparative(x, "compared")),
        ("heldout.comparative.same_idea", lambda x: _h_comparative(x, "same_idea")),
    ),
    "polite": (
        ("heldout.polite.could_you", lambda x: f"could you show me {x.one} {x.mods()}?"),
        ("heldout.polite.hey_there", lambda x: f"hey there! turn {x.it} {x.preds()}, cheers"),
        ("heldout.polite.possible", lambda x: f"would it be possible to get {x.this} {x.mods()}? thanks a million"),
    ),
    "two_sentences": (
        ("heldout.two_sentences.needs", lambda x: _h_two_sentences(x, "needs")),
        ("heldout.two_sentences.main_thing", lambda x: _h_two_sentences(x, "main_thing")),
    ),
    "question": (
        ("heldout.question.got_any", lambda x: f"got any {x.mods()}?"),
        ("heldout.question.any_chance", lambda x: f"any chance of {x.one} {x.mods()}?"),
        ("heldout.question.can_i_get", lambda x: f"can i get {x.this} {x.mods()}?"),
    ),
    "misspelled": (("heldout.misspelled.base", _h_misspelled),),
    "synonyms": (
        ("heldout.synonyms.id_like", lambda x: _synonyms(x, f"i'd like the {_garment_noun(x)} {x.mods()}")),
        ("heldout.synonyms.thats", lambda x: _synonyms(x, f"{_garment_noun(x, article=True)} that's {x.preds()}")),
    ),
})

TEMPLATES: Mapping[str, Mapping[str, tuple[tuple[str, Template], ...]]] = MappingProxyType(
    {"train": TRAIN_TEMPLATES, "heldout": HELDOUT_TEMPLATES, "blind": BLIND_TEMPLATES, "stranger": STRANGER_TEMPLATES,
     "newcomer": NEWCOMER_TEMPLATES, "passerby": PASSERBY_TEMPLATES, "latecomer": LATECOMER_TEMPLATES,
     "traveller": TRAVELLER_TEMPLATES, "caller": CALLER_TEMPLATES, "gifter": GIFTER_TEMPLATES,
     "returner": RETURNER_TEMPLATES, "texter": TEXTER_TEMPLATES,
     "reviewer": REVIEWER_TEMPLATES, "comparer": COMPARER_TEMPLATES})
