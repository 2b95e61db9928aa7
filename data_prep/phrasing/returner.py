"""The ``returner`` phrasing set: shoppers writing to a shop's customer service to exchange or return a product.

The shopper already has the product and says what the one they want instead is like: politely or annoyed, with
or without what was wrong with the first one, sometimes as a formal letter, sometimes as a quick message in a
support chat. Their own shade words, names for the product and typos come with it.

Written for evaluation only, without seeing the request reader (``cti_ir``), the other phrasing sets' templates or
words, or any results: what each template says comes from :class:`~data_prep.phrasing.changes.Change` forms alone.
Its candidate words were checked (yes/no, programmatically) against the other sets' phrasings, lexicons and markers
and a training catalogue's captions, and replaced where they met; its typos are none that the training set's
one-letter typo maker writes (keyboard slips and vowel slips, not a letter dropped, doubled or swapped). Every
template writes one of :data:`RETURNER_FRAME_MARKERS`; the lexicon's adverbs, synonyms, product nouns and
misspellings mark the set too (:func:`returner_markers`).

Like the other sets' modules, this imports neither :mod:`~data_prep.phrasing.styles` nor the package.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.noise import substitute_colours
from data_prep.phrasing.set_parts import join_list, negation, set_markers, terse, typos

if TYPE_CHECKING:
    from data_prep.phrasing.changes import Change
    from data_prep.phrasing.styles import Context

RETURNER = Lexicon(
    name="returner",
    strong_adverbs=("visibly ", "markedly ", "decidedly ", "properly "),
    mild_adverbs=("subtly ", "a whisker ", "mildly "),
    colour_synonyms=MappingProxyType({
        "black": ("jet-black", "blackish"),
        "white": ("winter white", "paper-white"),
        "grey": ("steel", "concrete"),
        "red": ("chilli", "carmine"),
        "blue": ("bluebell", "biro"),
        "navy": ("dark navy", "navyish"),
        "green": ("pine", "meadow"),
        "yellow": ("ochre", "highlighter"),
        "pink": ("salmon", "cerise"),
        "purple": ("purply", "magenta"),
        "orange": ("terracotta", "paprika"),
        "brown": ("caramel", "fudge"),
        "beige": ("stone", "greige"),
        "burgundy": ("shiraz", "rosewood"),
        "teal": ("aquamarine", "tealish"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("smock dress", "garment"),
        "shirt": ("button-down", "button-through"),
        "toptee": ("teeshirt", "cotton top"),
        "shoes": ("new shoes", "shoe purchase"),
    }),
    misspellings=MappingProxyType({
        # colours: a neighbouring key hit on a phone keyboard, or a vowel slip
        "black": ("blacj", "blaxk"), "white": ("whute", "whote"), "grey": ("geey",), "red": ("rdd",),
        "blue": ("bloe",), "navy": ("nacy",), "green": ("gresn", "grein"), "yellow": ("yellkw", "yeplow"),
        "pink": ("pibk", "pinj"), "purple": ("putple", "purpoe"), "orange": ("orabge", "otange"),
        "brown": ("broqn",), "beige": ("beigw", "bejge"), "burgundy": ("burgunfy", "butgundy"), "teal": ("tewl",),
        # the product's parts and kinds
        "sleeveless": ("sleebeless", "slweveless"), "sleeves": ("sleevds",), "sleeved": ("sleevad",),
        "short": ("shory", "shprt"), "long": ("lobg", "lonf"), "collar": ("coplar", "collae"),
        "collared": ("coplared",), "neck": ("necj", "nwck"), "necked": ("necjed",), "neckline": ("necklibe",),
        "scoop": ("sckop",), "crew": ("crrw",), "striped": ("strjped", "stripwd"), "stripes": ("strupes", "strkpes"),
        "polka": ("polja",), "dotted": ("dottrd", "dofted"), "checked": ("chedked",), "floral": ("fliral",),
        "printed": ("pribted",), "plain": ("plsin", "plaon"), "solid": ("soljd",), "pattern": ("patterm",),
        "length": ("lebgth",), "mini": ("minj",), "midi": ("midk",), "fitted": ("fityed",),
        "fitting": ("fittimg",), "slim": ("slin",), "loose": ("lkose",), "relaxed": ("relazed",),
        "sneaker": ("snesker",), "sneakers": ("snewkers", "sneakwrs"), "running": ("rumning", "runnimg"),
        "pump": ("puml",), "pumps": ("pumls",), "ballet": ("balley",), "stiletto": ("stiketto",),
        "stilettos": ("stikettos",), "rain": ("raim",), "boot": ("boit",), "boots": ("booys",),
        "sandal": ("samdal",), "sandals": ("sanfals",), "clog": ("clig",), "clogs": ("cligs",),
        "ankle": ("anjle",), "wedding": ("wedfing",), "heel": ("heek",), "heels": ("heelw",),
        "heeled": ("heelwd",), "high": ("hifh",), "flat": ("flqt",), "shiny": ("shimy",), "glossy": ("glodsy",),
        "matte": ("matye",), "lace": ("lacw",), "laces": ("lacws",), "strappy": ("strappu",),
        "strap": ("stral",), "straps": ("strals",), "slip": ("slio",), "soles": ("solrs",), "style": ("styke",),
        "finish": ("finisg",),
    }),
    char_noise=False,
)

# Every template writes at least one of these (whole words, any case); none occurs in another set's phrasings.
RETURNER_FRAME_MARKERS = (
    "exchange", "exchanged", "refund", "received", "return", "returning", "returned", "replacement",
    "send it back", "sent back", "customer service", "parcel", "delivered", "exchange request", "returns",
)


def returner_markers() -> tuple[str, ...]:
    """Every string that marks a returner phrasing: its frames, adverbs, synonyms, product nouns and misspellings."""
    return set_markers(RETURNER_FRAME_MARKERS, RETURNER)


# --- pieces ------------------------------------------------------------------------------------------------------

def _item(x: Context) -> str:
    """What the shopper calls the product they have: "the {item} i received"."""
    if x.category == "shoes":
        return "shoes" if x.plural else "pair"
    return "top" if x.category == "toptee" else x.category


def _ones(x: Context) -> str:
    """What they want in its place: "exchange it for {ones} in black"."""
    if x.plural:
        return "ones"
    return "a pair" if x.category == "shoes" else "one"


def _that(x: Context) -> str:
    """The relative clause opener after :func:`_ones`: "one that is", "ones that are"."""
    return f"{_ones(x)} that {x.be}"


def _its(x: Context) -> str:
    return "they are" if x.plural else "it is"


def _preds(x: Context) -> str:
    return join_list([c.pred for c in x.changes])


def _mods(x: Context) -> str:
    return join_list([c.mod for c in x.changes])


def _compared(x: Context, c: Change) -> str:
    """A change as a comparative with the target's value after it, or the value alone where nothing compares."""
    if not c.comp:
        return c.pred
    comp = c.comp.format(adv=x.adverb(c)).replace(" a a ", " a ")
    return f"{comp} ({c.pred})"


def _comps(x: Context) -> str:
    return join_list([_compared(x, c) for c in x.changes])


def _noun(x: Context) -> str:
    return x.rng.choice(x.lex.garment_nouns[x.category])


def _swapped(x: Context, frame: str) -> str:
    """``frame`` ({noun}, {ones}, {mods}) with one of the set's product nouns and its shade words."""
    text = frame.format(noun=_noun(x), ones=_ones(x), mods=_mods(x))
    return substitute_colours(text, x.lex, x.rng, x.colours)


# --- templates, by style -----------------------------------------------------------------------------------------

def _descriptive_letter(x: Context) -> str:
    return (f"dear customer service, the {_item(x)} i received {x.be} not what i needed; the replacement should be "
            f"{_preds(x)}")


def _descriptive_chat(x: Context) -> str:
    return f"hi, returning my {_item(x)}. what i wanted was {_that(x)} {_preds(x)}"


def _descriptive_annoyed(x: Context) -> str:
    right = "the right ones are" if x.plural else "the right one is"
    return f"wrong {_item(x)} delivered. {right} {_preds(x)}, so please sort out an exchange"


def _imperative_exchange(x: Context) -> str:
    return f"please exchange my {_item(x)} for {_ones(x)} {_mods(x)}"


def _imperative_refund(x: Context) -> str:
    return f"refund this {_item(x)} and send {_ones(x)} {_mods(x)} in its place"


def _imperative_process(x: Context) -> str:
    return f"process a return on the {_item(x)} and ship me {_ones(x)} {_mods(x)}, thanks"


def _wish_exchange(x: Context) -> str:
    return f"i would like to exchange the {_item(x)} i received for {_that(x)} {_preds(x)}"


def _wish_want(x: Context) -> str:
    return f"i want the replacement to be {_preds(x)}"


def _wish_hoping(x: Context) -> str:
    return f"i was hoping to return this and get {_ones(x)} {_mods(x)} back"


def _contrastive_received(x: Context) -> str:
    old = join_list([c.old_pred for c in x.changes])
    return f"the {_item(x)} i received {x.be} {old}, whereas i wanted {_preds(x)}; please exchange {x.it}"


def _contrastive_reason(x: Context) -> str:
    return "return reason: " + "; ".join(f"got {c.old_noun}, wanted {c.noun}" for c in x.changes)


def _contrastive_rather(x: Context) -> str:
    return "exchange please, " + ", ".join(f"{c.pred} rather than {c.old_pred}" for c in x.changes)


def _terse_exchange(x: Context) -> str:
    return f"exchange: {terse(x)}"


def _terse_return(x: Context) -> str:
    return f"return & replace with {terse(x)}"


def _terse_refund(x: Context) -> str:
    return f"refund or exchange for {terse(x)}"


def _attribute_change(x: Context) -> str:
    return "for my exchange, change " + join_list([f"the {c.attr} to {c.value}" for c in x.changes])


def _attribute_request(x: Context) -> str:
    return "exchange request - " + "; ".join(f"{c.attr}: {c.value}" for c in x.changes)


def _attribute_new_one(x: Context) -> str:
    return "returning this one; on the replacement i want " + join_list([f"the {c.attr} as {c.value}"
                                                                          for c in x.changes])


def _negation_because(x: Context) -> str:
    its = _its(x)
    shouldnt = "they shouldn't" if x.plural else "it shouldn't"
    return "returning it because " + negation(x, shouldnt + " have any {r}", its + " {old} and not {new}")


def _negation_wrong(x: Context) -> str:
    return f"the {_item(x)} i received is wrong: " + negation(x, "no {r} please", "not {old} but {new}")


def _negation_for(x: Context) -> str:
    return "exchange details: " + negation(x, "without the {r}", "{new}, not {old}")


def _comparative_could(x: Context) -> str:
    which = "ones that are" if x.plural else f"{_ones(x)} that is"
    return f"could i exchange {x.it} for {which} {_comps(x)}"


def _comparative_sending(x: Context) -> str:
    return f"i have sent back the {_item(x)}; the replacement should be {_comps(x)}"


def _comparative_refund(x: Context) -> str:
    return f"refund unless you can send {_that(x)} {_comps(x)}"


def _polite_appreciate(x: Context) -> str:
    return (f"hello customer service, i would appreciate it if you could exchange my {_item(x)} for {_ones(x)} "
            f"{_mods(x)}. thank you")


def _polite_possible(x: Context) -> str:
    return (f"hi there, hope you're well. is there any way i can return this {_item(x)} and have {_ones(x)} "
            f"{_mods(x)} sent out? ta")


def _polite_bother(x: Context) -> str:
    return f"sorry about this, but could i exchange this for {_that(x)} {_preds(x)}? much appreciated"


def _two_sentences_return(x: Context) -> str:
    need = "the ones i need are" if x.plural else "the one i need is"
    return f"i would like to return the {_item(x)}. {need} {_preds(x)}."


def _two_sentences_parcel(x: Context) -> str:
    return f"the parcel came today but it is not right. please send {_ones(x)} {_mods(x)}."


def _two_sentences_back(x: Context) -> str:
    return f"this is going back for a refund. could you send me {_that(x)} {_preds(x)}?"


def _question_can(x: Context) -> str:
    return f"can i exchange this {_item(x)} for {_ones(x)} {_mods(x)}?"


def _question_possible(x: Context) -> str:
    return f"is it possible to return {x.it} and get {_that(x)} {_preds(x)}?"


def _question_have(x: Context) -> str:
    return f"do you have {_ones(x)} {_mods(x)} i could exchange for?"


def _misspelled_hi(x: Context) -> str:
    return f"hi i want to exchange my {_item(x)} for {_ones(x)} {typos(x, _mods(x))}"


def _misspelled_returning(x: Context) -> str:
    return f"returning this, i need {typos(x, _preds(x))} plz"


def _misspelled_replacement(x: Context) -> str:
    return f"can u send a replacement thats {typos(x, _preds(x))}"


def _synonyms_received(x: Context) -> str:
    return _swapped(x, "i would like to exchange the {noun} i received for {ones} {mods}")


def _synonyms_letter(x: Context) -> str:
    return _swapped(x, "dear customer service, please exchange my {noun} for {ones} {mods}")


def _synonyms_returning(x: Context) -> str:
    return _swapped(x, "returning the {noun}, need {ones} {mods}")


Template = Callable[["Context"], str]


def _style(style: str, **templates: Template) -> tuple[tuple[str, Template], ...]:
    return tuple((f"returner.{style}.{name}", template) for name, template in templates.items())


RETURNER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": _style("descriptive", letter=_descriptive_letter, chat=_descriptive_chat,
                          annoyed=_descriptive_annoyed),
    "imperative": _style("imperative", exchange=_imperative_exchange, refund=_imperative_refund,
                         process=_imperative_process),
    "wish": _style("wish", exchange=_wish_exchange, want=_wish_want, hoping=_wish_hoping),
    "contrastive": _style("contrastive", received=_contrastive_received, reason=_contrastive_reason,
                          rather=_contrastive_rather),
    "terse": _style("terse", exchange=_terse_exchange, replace=_terse_return, refund=_terse_refund),
    "attribute": _style("attribute", change=_attribute_change, request=_attribute_request,
                        new_one=_attribute_new_one),
    "negation": _style("negation", because=_negation_because, wrong=_negation_wrong, exchange=_negation_for),
    "comparative": _style("comparative", could=_comparative_could, sending=_comparative_sending,
                          refund=_comparative_refund),
    "polite": _style("polite", appreciate=_polite_appreciate, possible=_polite_possible, bother=_polite_bother),
    "two_sentences": _style("two_sentences", ret=_two_sentences_return, parcel=_two_sentences_parcel,
                            back=_two_sentences_back),
    "question": _style("question", can=_question_can, possible=_question_possible, have=_question_have),
    "misspelled": _style("misspelled", hi=_misspelled_hi, returning=_misspelled_returning,
                         replacement=_misspelled_replacement),
    "synonyms": _style("synonyms", received=_synonyms_received, letter=_synonyms_letter,
                       returning=_synonyms_returning),
})
