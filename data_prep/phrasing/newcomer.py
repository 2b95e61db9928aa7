"""A fifth phrasing set, ``newcomer``: yet another crowd's wording, for evaluation only.

A third wording written apart from the request reader, by another hand than the ``blind`` and ``stranger`` sets':
without seeing the reader, its facet vocabulary, or any result measured on the earlier sets (only this package's
interface), so that it checks a reader nobody has tuned on these words. It imitates a younger crowd typing into a
marketplace app's search bar or a brand's DMs, mixed with customer-service English from all over: social-media
slang ("lowkey want", "manifesting", "run it back", "same energy", "than the og"), text-speak ("tysm", "lemme",
"y'all"), formal chat-support phrases ("kindly share", "good evening", "sorry to bother"), shade names off a
fashion site's colour filter ("graphite", "ecru", "caviar", "periwinkle", "papaya"), app-shop garment words
("crop top", "camp shirt", "fresh pair") and a mix of real-world typing errors: a fat thumb on the next key, a last
letter doubled, two letters dropped or changed at once, vowels mixed up, spelling by sound, and the real words a
phone's autocorrect puts in ("taxi" for maxi, "boats" for boots). It is never used in training: the generator's
``--phrasing`` does not offer it and stage-3 augmentation uses the training set only (both tested).

Like the other sets, every template names every change of the modification (the claims are computed from the
changes), contrastive and negation templates name the old value too, and shoes may be a pair ("do these exist
..."). Every template writes one of :data:`NEWCOMER_FRAME_MARKERS`, which no training, held-apart, blind or stranger
phrasing and no caption of a training catalogue carries (tested): that is how the set is kept apart on surface
strings.

This module imports neither :mod:`~data_prep.phrasing.styles` nor the package: ``lexicon`` and ``styles`` register
:data:`NEWCOMER` and :data:`NEWCOMER_TEMPLATES` in their mappings, and importing them from here would be circular.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.set_parts import join_list, negation, set_markers, synonyms, terse, typos

if TYPE_CHECKING:
    from data_prep.phrasing.styles import Context

NEWCOMER = Lexicon(
    name="newcomer",
    # Each must read well after "with a" too ("with a majorly lower neckline", "with a sorta higher heel").
    strong_adverbs=("majorly ", "hugely ", "significantly "),
    mild_adverbs=("sorta ", "a lil bit ", "a teeny bit "),
    # No synonym holds another colour's canonical name: substitute_colours replaces the first whole-word match of
    # the second colour, which would otherwise land inside the first colour's synonym.
    colour_synonyms=MappingProxyType({
        "grey": ("graphite", "heather"), "navy": ("admiral", "twilight"), "beige": ("ecru", "fawn"),
        "burgundy": ("mulberry", "cabernet"), "purple": ("orchid", "eggplant"), "teal": ("lagoon", "deep ocean"),
        "blue": ("periwinkle", "ultramarine"), "black": ("caviar", "liquorice"), "white": ("alabaster", "coconut"),
        "red": ("cardinal", "vermilion"), "green": ("pistachio", "kelly green"), "yellow": ("daffodil", "citrine"),
        "pink": ("watermelon", "peony"), "orange": ("papaya", "clementine"), "brown": ("tobacco", "cinnamon"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("party dress", "summer dress"), "shirt": ("camp shirt", "woven shirt"),
        "toptee": ("crop top", "baby tee"), "shoes": ("fresh pair", "statement shoes"),
    }),
    # A mix of real typing errors: a thumb on the next key ("bluw", "greem"), a last letter doubled ("blackk",
    # "whitee"), two letters dropped or changed at once ("burgendi", "yeloww"), vowels mixed up ("flural",
    # "pattirn"), spelling by sound ("oranje", "looze", "paddern"), autocorrect's real words ("sleepless", "taxi",
    # "boats", "glassy") and its split words ("sleeve less"). None is one dropped, doubled or swapped letter away
    # from a word the changes use or from a training misspelling (the training set's procedural typos keep the first
    # letter and double neither end), so the training set never writes one; none is shorter than four letters (a
    # shorter one turns up inside product ids); none is another set's misspelling.
    misspellings=MappingProxyType({
        "sleeveless": ("sleeve less", "sleepless"), "sleeves": ("sleeces", "slieves"),
        "sleeved": ("sleaved", "sleevef"),
        "black": ("blackk", "blank"), "white": ("whitee", "write"), "blue": ("bluw", "blie"),
        "green": ("greem", "greenn"), "pink": ("pinkk", "pimk"), "brown": ("browm", "braown"),
        "grey": ("greu", "greyy"), "navy": ("navu", "nayvy"), "beige": ("baige", "beij"),
        "purple": ("purplr", "purpal"), "yellow": ("yelloe", "yeloww"), "orange": ("orangr", "oranje"),
        "burgundy": ("burgundee", "burgendi"), "teal": ("tael", "tial"),
        "striped": ("stripef", "strypt"), "stripes": ("strioes", "strides"), "dots": ("doots", "dotts"),
        "dotted": ("dottef", "dottedd"), "floral": ("flural", "florsl"), "flowers": ("flowerss", "flowets"),
        "checked": ("chexked", "checkt"), "checks": ("chex", "chrcks"), "plaid": ("plaif", "plade"),
        "printed": ("ptinted", "prynted"), "print": ("ptint", "printt"), "plain": ("plainn", "plein"),
        "solid": ("sokid", "solidd"), "pattern": ("pattirn", "paddern"),
        "collar": ("cillar", "collah"), "collared": ("cullared", "kollard"), "neckline": ("necklinr", "necklace"),
        "neck": ("nrck", "necc"), "necked": ("nicked", "neckid"), "crew": ("vrew", "krew"),
        "scoop": ("scope", "scoopp"), "length": ("lengyh", "lenfgth"), "mini": ("minie", "mimi"),
        "midi": ("midii", "mudi"), "maxi": ("taxi", "maxii"), "knee": ("knwe", "kney"),
        "fitted": ("fittedd", "fyted"), "loose": ("looze", "loosw"), "relaxed": ("relaxt", "rekaxed"),
        "heel": ("heeel", "heell"), "heels": ("heelss", "feels"), "heeled": ("heelid", "heelef"),
        "shiny": ("shinyy", "shinu"), "glossy": ("glassy", "glossey"), "matte": ("mattee", "mattw"),
        "finish": ("finisj", "phinish"), "laces": ("laxes", "lacess"), "strap": ("strao", "scrap"),
        "straps": ("straos", "scraps"), "strappy": ("strappey", "strsppy"), "sneaker": ("sniker", "sneajer"),
        "sneakers": ("snickers", "sneakars"), "boot": ("boor", "buut"), "boots": ("boats", "bootss"),
        "sandal": ("scandal", "sandall"), "sandals": ("scandals", "sanduls"), "pump": ("pumo", "pummp"),
        "pumps": ("pumpss", "pumbs"), "stilettos": ("stelettos", "stilletoes"), "clogs": ("clogd", "blogs"),
        "ankle": ("anklw", "ankoe"), "soles": ("soless", "sples"), "colour": ("coulour", "colpur"),
        "color": ("colorr", "coloe"),
    }),
    char_noise=False,
)

# Strings only newcomer phrasings contain (whole words, case-insensitive, as the other sets' markers are matched).
# None is a bare word of three letters or fewer, which could turn up inside a product id.
NEWCOMER_FRAME_MARKERS = (
    "the vibe", "okay so", "in my head", "lemme see", "run it back", "queue up", "lowkey", "would kill for",
    "manifesting", "in lieu of", "bye bye", "is a no", "is a yes", "tysm", "in advance", "quick one", "update the",
    "gotta be", "can we do", "hard pass", "not into", "get rid of", "dealbreaker", "than the og", "not like the og",
    "same energy", "relative to", "could i please see", "thank you so much", "sorry to bother", "kindly",
    "good evening", "step one", "step two", "biggest thing", "would be a bonus", "do you carry", "y'all", "exist",
)


def newcomer_markers() -> tuple[str, ...]:
    """Every string that marks a newcomer phrasing: frames, adverbs, synonyms, garment words and misspellings."""
    return set_markers(NEWCOMER_FRAME_MARKERS, NEWCOMER)


Template = Callable[["Context"], str]


def _contrastive(x: Context, frame: str) -> str:
    if frame == "in_lieu":
        return "; ".join(f"{c.noun} in lieu of {c.old_noun}" for c in x.changes)
    if frame == "bye_bye":
        return "; ".join(f"bye bye {c.old_noun}, hello {c.noun}" for c in x.changes)
    return "; ".join(f"{c.old_pred} is a no, {c.pred} is a yes" for c in x.changes)


def _comparative(x: Context, frame: str) -> str:
    comps = x.comps()
    if frame == "og":
        return f"{comps} than the og, so {x.preds()}" if comps else f"{x.preds()}, not like the og"
    if frame == "energy":
        return f"same energy but {comps} ({x.preds()})" if comps else f"same energy but {x.preds()}"
    return f"{comps} relative to what i'm seeing ({x.preds()})" if comps else \
        f"{x.preds()} relative to what i'm seeing"


def _two_sentences(x: Context, frame: str) -> str:
    first, rest = x.changes[0], x.changes[1:]
    if frame == "steps":
        head = f"step one: {first.pred}."
        return head + (f" step two: {join_list([c.pred for c in rest])}." if rest else " no other changes.")
    head = f"biggest thing is {first.noun}."
    return head + (f" {join_list([c.mod for c in rest])} would be a bonus." if rest else " leave the rest alone.")


NEWCOMER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("newcomer.descriptive.vibe", lambda x: f"the vibe: {x.preds()}"),
        ("newcomer.descriptive.okay_so", lambda x: f"okay so {x.one} {x.mods()}"),
        ("newcomer.descriptive.in_my_head",
         lambda x: f"in my head {'they are' if x.plural else 'it is'} {x.preds()}"),
    ),
    "imperative": (
        ("newcomer.imperative.lemme_see", lambda x: f"lemme see {x.one} {x.mods()}"),
        ("newcomer.imperative.run_it_back", lambda x: f"run it back but {x.preds()}"),
        ("newcomer.imperative.queue_up", lambda x: f"queue up {x.one} {x.mods()}"),
    ),
    "wish": (
        ("newcomer.wish.lowkey", lambda x: f"lowkey want {x.one} {x.mods()}"),
        ("newcomer.wish.would_kill", lambda x: f"would kill for {x.one} {x.mods()}"),
        ("newcomer.wish.manifesting", lambda x: f"manifesting {x.one} {x.mods()}"),
    ),
    "contrastive": (
        ("newcomer.contrastive.in_lieu", lambda x: _contrastive(x, "in_lieu")),
        ("newcomer.contrastive.bye_bye", lambda x: _contrastive(x, "bye_bye")),
        ("newcomer.contrastive.no_yes", lambda x: _contrastive(x, "no_yes")),
    ),
    "terse": (
        ("newcomer.terse.tysm", lambda x: f"{terse(x)} tysm"),
        ("newcomer.terse.in_advance", lambda x: f"{terse(x)}, thx in advance"),
        ("newcomer.terse.quick_one", lambda x: f"quick one: {terse(x)}"),
    ),
    "attribute": (
        ("newcomer.attribute.update", lambda x: join_list([f"update the {c.attr} to {c.value}" for c in x.changes])),
        ("newcomer.attribute.gotta_be", lambda x: "; ".join(f"the {c.attr} gotta be {c.value}" for c in x.changes)),
        ("newcomer.attribute.can_we_do",
         lambda x: "can we do " + join_list([f"{c.value} on the {c.attr}" for c in x.changes]) + "?"),
    ),
    "negation": (
        ("newcomer.negation.hard_pass",
         lambda x: negation(x, "hard pass on the {r}", "hard pass on {old}, {new} instead")),
        ("newcomer.negation.not_into", lambda x: negation(x, "not into the {r}", "not into {old}, {new} is better")),
        ("newcomer.negation.dealbreaker",
         lambda x: negation(x, "get rid of the {r}", "{old} is a dealbreaker, {new} works")),
    ),
    "comparative": (
        ("newcomer.comparative.og", lambda x: _comparative(x, "og")),
        ("newcomer.comparative.energy", lambda x: _comparative(x, "energy")),
        ("newcomer.comparative.relative", lambda x: _comparative(x, "relative")),
    ),
    "polite": (
        ("newcomer.polite.could_i_please",
         lambda x: f"hi! could i please see {x.one} {x.mods()}? thank you so much"),
        ("newcomer.polite.sorry_to_bother",
         lambda x: f"sorry to bother, is there any way to get {x.one} {x.mods()}?"),
        ("newcomer.polite.kindly", lambda x: f"good evening, kindly share {x.one} {x.mods()}"),
    ),
    "two_sentences": (
        ("newcomer.two_sentences.steps", lambda x: _two_sentences(x, "steps")),
        ("newcomer.two_sentences.biggest", lambda x: _two_sentences(x, "biggest")),
    ),
    "question": (
        ("newcomer.question.carry", lambda x: f"do you carry {x.one} {x.mods()}?"),
        ("newcomer.question.yall", lambda x: f"y'all have {x.one} {x.mods()}?"),
        ("newcomer.question.exist", lambda x: f"{'do these' if x.plural else 'does this'} exist {x.mods()}?"),
    ),
    "misspelled": (
        ("newcomer.misspelled.lowkey", lambda x: f"lowkey want {x.one} {typos(x, x.mods())}"),
        ("newcomer.misspelled.lemme_see", lambda x: f"lemme see {x.one} {typos(x, x.mods())}"),
        ("newcomer.misspelled.tysm", lambda x: f"{typos(x, terse(x))} tysm"),
    ),
    "synonyms": (
        ("newcomer.synonyms.okay_so", lambda x: synonyms(x, "okay so {noun} {mods}")),
        ("newcomer.synonyms.carry", lambda x: synonyms(x, "do you carry {noun} {mods}?")),
    ),
})
