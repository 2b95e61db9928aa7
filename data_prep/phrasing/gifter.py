"""The tenth phrasing set, ``gifter``: shoppers buying for someone else (evaluation only).

It imitates people shopping for a partner, a parent, a teenage son, a friend or a colleague: they say what that
person wants or would like, in everyday words, often hedging ("i reckon", "knowing") or passing on the other
person's words ("said", "told me"), and every phrasing names who the item is for. The set has its own adverbs,
colour words, garment words and typos (:data:`GIFTER`) and its own sentence frames (:data:`GIFTER_TEMPLATES`), and
every phrasing carries one of :func:`gifter_markers` (the people it names are its frame markers).

It was written without seeing the request reader (``cti_ir``), the other sets' words or any results; the only
checks made against the other sets were yes/no questions (does a candidate word of this set occur in their
phrasings or lexicons?), after which colliding words were replaced. Like the other sets written apart it imports
neither :mod:`~data_prep.phrasing.styles` nor the package (``lexicon`` imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.noise import substitute_colours
from data_prep.phrasing.set_parts import join_list, set_markers, terse, typos

if TYPE_CHECKING:
    from data_prep.phrasing.changes import Change
    from data_prep.phrasing.styles import Context

GIFTER = Lexicon(
    name="gifter",
    strong_adverbs=("a whole lot ", "a ton "),
    mild_adverbs=("a notch ", "a teensy bit ", "a titchy bit "),
    colour_synonyms=MappingProxyType({
        "black": ("carbon", "sooty"), "white": ("snowy", "frosty"), "grey": ("marl", "pebble"),
        "red": ("pillar-box", "fire-engine"), "blue": ("chelsea", "smurf"), "navy": ("inky", "night-sky"),
        "green": ("leafy", "apple"), "yellow": ("sunny", "egg yolk"), "pink": ("rosy", "barbie"),
        "purple": ("blackcurrant", "cadbury"), "orange": ("amber", "ginger"), "brown": ("mahogany", "saddle"),
        "beige": ("sandy", "almond"), "burgundy": ("rioja", "berry"), "teal": ("mermaid", "deep-sea"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("nice dress", "going-out dress", "date-night dress"),
        "shirt": ("proper shirt", "decent shirt", "going-out shirt"),
        "toptee": ("tshirt", "comfy top", "nice top", "everyday top"),
        "shoes": ("work shoes", "nice shoes", "dressy shoes"),
    }),
    misspellings=MappingProxyType({
        # colours
        "black": ("bkack", "vlack"), "white": ("whitr",), "grey": ("frey", "grety"), "red": ("rrd", "eed"),
        "blue": ("bliue", "vlue"), "navy": ("nvay",), "green": ("grwen", "freen"), "yellow": ("yellpw", "tellow"),
        "pink": ("piink",), "purple": ("purpke",), "orange": ("orsnge",), "brown": ("beown", "browb"),
        "beige": ("beuge", "beigr"), "burgundy": ("burgundie", "burgumdy"), "teal": ("teql",),
        "coloured": ("coulored",),
        # sleeves, necklines, lengths, fit
        "sleeveless": ("sleevesless", "sleeceless"), "sleeves": ("sleevrs",), "sleeve": ("sleev", "sleebe"),
        "sleeved": ("sleeced", "sleevrd"), "short": ("shoet",), "long": ("lomg", "lond"),
        "quarter": ("quartet", "quaryer"), "three": ("threr", "tgree"), "collar": ("colkar", "collat"),
        "collared": ("collered",), "neckline": ("necklune", "nexkline"), "neck": ("neack",), "necked": ("necled",),
        "scoop": ("sxoop", "scoip"), "crew": ("ctew",), "round": ("rownd",), "pointed": ("poimted",),
        "length": ("lengtg",), "knee": ("jnee", "kmee"), "mini": ("minii", "muni"), "midi": ("midj",),
        "maxi": ("maxo",), "floor": ("floar",), "fitted": ("fittef", "fittes"), "fitting": ("fittinh",),
        "slim": ("slimm",), "loose": ("loode", "lookse"), "relaxed": ("relaxef",),
        # patterns
        "striped": ("strioed",), "stripes": ("strjpes", "stripex"), "dots": ("dota", "doys"),
        "dotted": ("dotyed",), "polka": ("polks", "pilka"), "checked": ("chevked", "checkef"),
        "checks": ("chekks",), "check": ("chekk",), "plaid": ("plsid",), "floral": ("flpral",),
        "flowers": ("fliwers",), "flowery": ("flowety", "fliwery"), "printed": ("printrd", "prinyed"),
        "graphic": ("graphuc", "graohic"), "print": ("pribt", "prjnt"), "logo": ("loggo",), "plain": ("plajn",),
        "solid": ("solud",), "pattern": ("patterb",),
        # shoes
        "sneakers": ("sneakets",), "sneaker": ("sneakwr",), "running": ("runninf", "rinning"),
        "pumps": ("punps",), "pump": ("pumb",), "ballet": ("ballett",), "flats": ("flatz",), "flat": ("flatt",),
        "stilettos": ("stilettis", "stiletros"), "stiletto": ("stiletti",), "rain": ("rian",),
        "sandals": ("sandaks", "sansals"), "sandal": ("sandak",), "clogs": ("clohs",), "clog": ("klog",),
        "ankle": ("amkle", "ankls"), "wedding": ("weddimg", "wedsing"), "shoes": ("shoos",), "shoe": ("shoo",),
        "style": ("stile",), "tall": ("tal",), "boots": ("boota", "bpots"), "boot": ("boott",),
        "heel": ("hewl", "heep"), "heels": ("heeks",), "heeled": ("heelrd",), "high": ("hihg", "higj"),
        "low": ("loww",), "mid": ("midd",), "shiny": ("shiby",), "glossy": ("glissy",), "matte": ("mstte",),
        "finish": ("finich",), "lace": ("laxe", "lsce"), "laces": ("lacrs",), "strappy": ("strapoy", "strappt"),
        "straps": ("strapd",), "slip": ("slipp",), "soles": ("solea",), "soled": ("souled",), "trim": ("trimm",),
        # small words
        "with": ("wirh", "woth"), "without": ("whithout", "withought"),
    }),
    char_noise=False,
)

# Who the item is for: the set's frame markers (every template names one).
_FOR_HER = ("my wife", "my mum", "my mom", "my daughter", "my girlfriend", "my sister", "my nan",
            "my mother-in-law", "my niece", "my best friend", "my auntie", "my stepmum", "my grandma")
_FOR_HIM = ("my husband", "my dad", "my teenage son", "my boyfriend", "my brother", "my grandad", "my nephew",
            "my best mate", "my father-in-law", "my hubby", "my son")
_FOR_EITHER = ("a colleague", "my partner", "a workmate", "my boss")
FRAME_MARKERS = (*_FOR_HER, *_FOR_HIM, *_FOR_EITHER)


def gifter_markers() -> tuple[str, ...]:
    """Every string that marks a gifter phrasing: the people it names, its adverbs, synonyms, nouns and typos."""
    return set_markers(FRAME_MARKERS, GIFTER)


@dataclass(frozen=True)
class _Person:
    who: str   # "my sister"
    s: str     # she / he
    o: str     # her / him

    @property
    def S(self) -> str:  # noqa: N802 - the capitalised pronoun, at a sentence's start
        return self.s.capitalize()


def _person(x: Context) -> _Person:
    """Someone the shopper buys for; a dress is bought for a woman."""
    pool = _FOR_HER + _FOR_EITHER if x.category == "dress" else FRAME_MARKERS
    who = x.rng.choice(pool)
    she = who in _FOR_HER or (who in _FOR_EITHER and (x.category == "dress" or x.rng.random() < 0.5))
    return _Person(who, "she", "her") if she else _Person(who, "he", "him")


def _preds(x: Context) -> str:
    return join_list([c.pred for c in x.changes])


def _mods(x: Context) -> str:
    return join_list([c.mod for c in x.changes])


def _one(x: Context) -> str:
    return "a pair" if x.category == "shoes" else "one"


def _ones_that(x: Context) -> str:
    """"one that is" / "a pair that are" (before the predicates)."""
    return f"{_one(x)} that {x.be}"


def _comp(x: Context, c: Change) -> str:
    """A comparative with the set's adverb and the value it leads to, or the value alone."""
    if not c.comp:
        return c.pred
    return f"{c.comp.format(adv=x.adverb(c)).replace(' a a ', ' a ')}, {c.pred} if possible"


def _comps(x: Context) -> str:
    return join_list([_comp(x, c) for c in x.changes])


def _noun(x: Context) -> str:
    noun = x.rng.choice(x.lex.garment_nouns[x.category])
    if noun.endswith("shoes"):
        return f"a pair of {noun}"
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _synonyms(x: Context, text: str) -> str:
    return substitute_colours(text, x.lex, x.rng, x.colours)


# --- descriptive --------------------------------------------------------------------------------------------------

def _desc_wants(x: Context) -> str:
    p = _person(x)
    return f"{p.who} wants {_ones_that(x)} {_preds(x)}"


def _desc_after(x: Context) -> str:
    p = _person(x)
    return f"buying for {p.who}, {p.s}'s after something {_mods(x)}"


def _desc_in_mind(x: Context) -> str:
    p = _person(x)
    return f"what {p.who} has in mind is {x.this} but {_preds(x)}"


# --- imperative ---------------------------------------------------------------------------------------------------

def _imp_give(x: Context) -> str:
    p = _person(x)
    return f"give me {_one(x)} {_mods(x)}, a gift for {p.who}"


def _imp_show(x: Context) -> str:
    p = _person(x)
    return f"show me {x.this} {_mods(x)} - present for {p.who}"


def _imp_make(x: Context) -> str:
    p = _person(x)
    return f"make {x.it} {_preds(x)}, {p.who} asked for {x.it} like that"


# --- wish ---------------------------------------------------------------------------------------------------------

def _wish_love(x: Context) -> str:
    p = _person(x)
    return f"{p.who} would love {x.this} {_mods(x)}"


def _wish_reckon(x: Context) -> str:
    p = _person(x)
    return f"i reckon {p.who} would want {x.it} {_preds(x)}"


def _wish_knowing(x: Context) -> str:
    p = _person(x)
    return f"{p.s}'d probably pick {_one(x)} {_mods(x)}, knowing {p.who}"


# --- contrastive --------------------------------------------------------------------------------------------------

def _con_owns(x: Context) -> str:
    p = _person(x)
    old = join_list([c.old_pred for c in x.changes])
    return f"{p.who} already owns {_ones_that(x)} {old}, so {p.s} wants {x.it} {_preds(x)} now"


def _con_over(x: Context) -> str:
    p = _person(x)
    return join_list([f"{c.pred} over {c.old_pred}" for c in x.changes]) + f" - buying for {p.who}"


def _con_said(x: Context) -> str:
    p = _person(x)
    return f"{p.who} said " + "; ".join(f"{c.pred}, not {c.old_pred}" for c in x.changes)


# --- terse --------------------------------------------------------------------------------------------------------

def _terse_gift(x: Context) -> str:
    return f"gift for {_person(x).who}: {terse(x)}"


def _terse_dash(x: Context) -> str:
    return f"{_person(x).who} - {terse(x)}"


def _terse_brackets(x: Context) -> str:
    return f"{terse(x)} (for {_person(x).who})"


# --- attribute ----------------------------------------------------------------------------------------------------

def _attr_fussy(x: Context) -> str:
    p = _person(x)
    settings = join_list([f"the {c.attr} {c.value}" for c in x.changes])
    return f"{p.who} is fussy about this: {p.s} wants {settings}"


def _attr_want(x: Context) -> str:
    p = _person(x)
    return f"{p.who} would want " + join_list([f"the {c.attr} to be {c.value}" for c in x.changes])


def _attr_notes(x: Context) -> str:
    p = _person(x)
    return f"notes from {p.who}: " + ", ".join(f"{c.attr} - {c.value}" for c in x.changes)


# --- negation -----------------------------------------------------------------------------------------------------

def _neg_keen(x: Context) -> str:
    p = _person(x)
    parts = [f"{p.s} wants no {c.removed}" if c.removed else f"{p.s} doesn't want {c.old_pred}, {p.s} wants {c.pred}"
             for c in x.changes]
    return f"{p.who} isn't keen on this one: " + join_list(parts, ", and ")


def _neg_quite(x: Context) -> str:
    p = _person(x)
    parts = [f"no {c.removed}" if c.removed else f"not {c.old_pred} but {c.pred}" for c in x.changes]
    return f"not quite right for {p.who} - " + ", ".join(parts)


def _neg_told(x: Context) -> str:
    p = _person(x)
    parts = [f"{p.s} doesn't want {c.removed}" if c.removed else f"{c.old_pred} isn't really {p.o}, {c.pred} is"
             for c in x.changes]
    return f"{p.who} told me " + join_list(parts, ", and ")


# --- comparative --------------------------------------------------------------------------------------------------

def _comp_would(x: Context) -> str:
    p = _person(x)
    return f"{p.who} would love {x.it} {_comps(x)}"


def _comp_after(x: Context) -> str:
    p = _person(x)
    return f"{p.s}'s after something {_comps(x)} - buying for {p.who}"


def _comp_next_to(x: Context) -> str:
    p = _person(x)
    return f"next to this one, {p.who} wants {x.it} {_comps(x)}"


# --- polite -------------------------------------------------------------------------------------------------------

def _pol_help(x: Context) -> str:
    p = _person(x)
    return f"would you be able to show me {_one(x)} {_mods(x)}? shopping for {p.who}, thank you"


def _pol_wondered(x: Context) -> str:
    p = _person(x)
    return f"hi, i'm shopping for {p.who} and wondered if you had {x.this} {_mods(x)}, much appreciated"


def _pol_pain(x: Context) -> str:
    p = _person(x)
    return f"sorry to be a pain, {p.who} wants {x.it} {_preds(x)} - would that be possible?"


# --- two sentences ------------------------------------------------------------------------------------------------

def _two_present(x: Context) -> str:
    p = _person(x)
    return f"this is a present for {p.who}. {p.S} wants {x.it} {_preds(x)}."


def _two_saw(x: Context) -> str:
    p = _person(x)
    return f"{p.who} saw this one. {p.S} said {p.s}'d want {x.it} {_mods(x)} though."


def _two_first_rest(x: Context) -> str:
    p = _person(x)
    first, rest = x.changes[0], x.changes[1:]
    if rest:
        return f"{p.who} wants {x.it} {first.pred}. also {join_list([c.pred for c in rest])}, if you've got it."
    return f"{p.who} wants {x.it} {first.pred}. nothing else {p.s} mentioned."


# --- question -----------------------------------------------------------------------------------------------------

def _q_have(x: Context) -> str:
    p = _person(x)
    return f"do you have {x.this} {_mods(x)}? buying for {p.who}"


def _q_after(x: Context) -> str:
    p = _person(x)
    return f"is there {_one(x)} {_mods(x)}? {p.who} has been after one"


def _q_behalf(x: Context) -> str:
    p = _person(x)
    return f"do you sell {x.this} {_mods(x)}? asking on behalf of {p.who}"


# --- misspelled ---------------------------------------------------------------------------------------------------

def _mis_wants(x: Context) -> str:
    p = _person(x)
    return f"{p.who} wants {x.this} {typos(x, _mods(x))}"


def _mis_said(x: Context) -> str:
    p = _person(x)
    return f"buying for {p.who}, {p.s} said {p.s} wants {x.it} {typos(x, _preds(x))}"


def _mis_pressie(x: Context) -> str:
    p = _person(x)
    return f"pressie for {p.who} - {typos(x, terse(x))}"


# --- synonyms -----------------------------------------------------------------------------------------------------

def _syn_hints(x: Context) -> str:
    p = _person(x)
    return _synonyms(x, f"{p.who} has been dropping hints about {_noun(x)} {_mods(x)}")


def _syn_gift(x: Context) -> str:
    p = _person(x)
    return _synonyms(x, f"on the hunt for {_noun(x)} {_mods(x)} as a gift for {p.who}")


def _syn_like(x: Context) -> str:
    p = _person(x)
    return _synonyms(x, f"{p.s}'d like {_noun(x)} {_mods(x)}, buying for {p.who}")


GIFTER_TEMPLATES: Mapping[str, tuple[tuple[str, Callable[[Context], str]], ...]] = MappingProxyType({
    "descriptive": (("gifter.descriptive.wants", _desc_wants), ("gifter.descriptive.after", _desc_after),
                    ("gifter.descriptive.in_mind", _desc_in_mind)),
    "imperative": (("gifter.imperative.give", _imp_give), ("gifter.imperative.show", _imp_show),
                   ("gifter.imperative.make", _imp_make)),
    "wish": (("gifter.wish.love", _wish_love), ("gifter.wish.reckon", _wish_reckon),
             ("gifter.wish.knowing", _wish_knowing)),
    "contrastive": (("gifter.contrastive.owns", _con_owns), ("gifter.contrastive.over", _con_over),
                    ("gifter.contrastive.said", _con_said)),
    "terse": (("gifter.terse.gift", _terse_gift), ("gifter.terse.dash", _terse_dash),
              ("gifter.terse.brackets", _terse_brackets)),
    "attribute": (("gifter.attribute.fussy", _attr_fussy), ("gifter.attribute.want", _attr_want),
                  ("gifter.attribute.notes", _attr_notes)),
    "negation": (("gifter.negation.keen", _neg_keen), ("gifter.negation.quite", _neg_quite),
                 ("gifter.negation.told", _neg_told)),
    "comparative": (("gifter.comparative.would", _comp_would), ("gifter.comparative.after", _comp_after),
                    ("gifter.comparative.next_to", _comp_next_to)),
    "polite": (("gifter.polite.help", _pol_help), ("gifter.polite.wondered", _pol_wondered),
               ("gifter.polite.pain", _pol_pain)),
    "two_sentences": (("gifter.two_sentences.present", _two_present), ("gifter.two_sentences.saw", _two_saw),
                      ("gifter.two_sentences.first_rest", _two_first_rest)),
    "question": (("gifter.question.have", _q_have), ("gifter.question.after", _q_after),
                 ("gifter.question.behalf", _q_behalf)),
    "misspelled": (("gifter.misspelled.wants", _mis_wants), ("gifter.misspelled.said", _mis_said),
                   ("gifter.misspelled.pressie", _mis_pressie)),
    "synonyms": (("gifter.synonyms.hints", _syn_hints), ("gifter.synonyms.gift", _syn_gift),
                 ("gifter.synonyms.like", _syn_like)),
})
