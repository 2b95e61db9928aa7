"""The words of the two phrasing sets: what a training catalogue may say, and what only the held-apart set says.

The *training* set is what the generator (``--phrasing train``) and stage-3 augmentation may use. The *held-apart*
set is for evaluation only: its sentence frames (in :mod:`data_prep.phrasing.styles`), intensity adverbs, fillers,
colour and garment synonyms and misspellings are disjoint from the training set's. Every held-apart phrasing
carries at least one of :data:`HELDOUT_MARKERS` (tested), and no training phrasing, nor any caption of a training
catalogue, carries one (tested): that is how "no held-apart phrasing in a training catalogue" is checked on
surface strings, beside the template ids the provenance file records.

Shared by both sets, because there is nothing to hold apart: the core forms of each attribute value ("sleeveless",
"a v-neck", "knee-length"), the canonical colour names, and British against American spelling (colour/color,
grey/gray), which are two spellings, not two phrasings.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

# The last twelve: their own modules, evaluation only.
PHRASING_SETS = ("train", "heldout", "blind", "stranger", "newcomer", "passerby", "latecomer", "traveller",
                 "caller", "gifter", "returner", "texter", "reviewer", "comparer")


@dataclass(frozen=True)
class Lexicon:
    """The words one phrasing set draws from (beside the shared core forms of :mod:`data_prep.phrasing.changes`).

    ``colour_synonyms`` and ``garment_nouns`` are used by the ``synonyms`` style only (the other styles keep the
    canonical names, so that each style measures one thing); ``misspellings`` by the ``misspelled`` style.
    """

    name: str
    strong_adverbs: tuple[str, ...]        # before a comparative of a big change: "much darker"
    mild_adverbs: tuple[str, ...]          # before a comparative of a small change: "a bit longer"
    colour_synonyms: Mapping[str, tuple[str, ...]]
    garment_nouns: Mapping[str, tuple[str, ...]]   # category -> nouns a shopper calls it (synonyms style)
    misspellings: Mapping[str, tuple[str, ...]]    # word -> common misspellings
    char_noise: bool                       # also misspell by dropping/doubling/swapping letters (training only)


TRAIN = Lexicon(
    name="train",
    strong_adverbs=("much ", "far ", "a lot "),
    mild_adverbs=("a bit ", "slightly ", "a little "),
    colour_synonyms=MappingProxyType({
        "grey": ("gray", "silver grey"), "navy": ("navy blue", "dark blue"), "beige": ("tan", "khaki"),
        "burgundy": ("maroon", "dark red"), "purple": ("violet", "lilac"), "teal": ("turquoise", "blue green"),
        "blue": ("royal blue", "bright blue"), "black": ("jet black", "all black"),
        "white": ("cream", "snow white"),
        "red": ("bright red", "cherry red"), "green": ("forest green", "lime"), "yellow": ("lemon", "golden"),
        "pink": ("light pink", "hot pink"), "orange": ("tangerine", "bright orange"),
        "brown": ("dark brown", "tan brown"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("dress", "frock"), "shirt": ("shirt", "button down shirt"),
        "toptee": ("top", "tee", "t-shirt", "blouse"), "shoes": ("shoes", "pair"),
    }),
    misspellings=MappingProxyType({
        "sleeveless": ("sleevless", "sleeveles"), "sleeves": ("sleves", "sleevs"), "black": ("blak", "balck"),
        "white": ("whte", "whit"), "green": ("grren", "gren"), "purple": ("purpel", "purpul"),
        "yellow": ("yelow", "yellw"), "striped": ("stripped", "stiped"), "stripes": ("strips", "stipes"),
        "length": ("lenght", "lengh"), "collar": ("coller", "colar"), "neckline": ("neckine", "necklin"),
        "fitted": ("fited", "fittd"), "loose": ("loos", "losse"), "colour": ("colur", "collour"),
        "color": ("colr", "coler"), "heel": ("heal", "hell"), "shiny": ("shinny", "shiney"),
        "beige": ("biege", "beig"), "orange": ("ornage", "orage"), "burgundy": ("burgandy", "burgundi"),
    }),
    char_noise=True,
)

HELDOUT = Lexicon(
    name="heldout",
    strong_adverbs=("loads ", "considerably ", "massively "),
    mild_adverbs=("a touch ", "marginally ", "a tad "),
    colour_synonyms=MappingProxyType({
        "grey": ("charcoal", "slate"), "navy": ("midnight blue", "ink blue"), "beige": ("camel", "sand"),
        "burgundy": ("wine", "oxblood"), "purple": ("plum", "aubergine"), "teal": ("aqua", "petrol"),
        "blue": ("cobalt", "sapphire"), "black": ("ebony", "onyx"), "white": ("ivory", "off-white"),
        "red": ("crimson", "scarlet"), "green": ("emerald", "olive"), "yellow": ("mustard", "canary"),
        "pink": ("blush", "fuchsia"), "orange": ("rust", "coral"), "brown": ("chocolate", "cognac"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("gown", "sundress"), "shirt": ("button-up", "oxford"), "toptee": ("jersey", "tunic"),
        "shoes": ("kicks", "footwear"),
    }),
    misspellings=MappingProxyType({
        "sleeveless": ("sleaveless", "sleevelss"), "sleeves": ("sleaves", "sleevse"), "black": ("blck", "blacck"),
        "white": ("wite", "whitte"), "blue": ("bleu", "bluue"), "red": ("redd", "rde"),
        "pink": ("pnik", "pinc"), "brown": ("brwn", "broun"), "grey": ("gery", "graey"), "navy": ("navvy", "nvy"),
        "dotted": ("doted", "dottted"), "floral": ("florall", "flroal"), "maxi": ("maxxi", "macsi"),
        "knee": ("knea", "kne"), "neck": ("nek", "neckk"), "heels": ("heals", "heells"),
        "matte": ("mat", "mattte"), "laces": ("laeces", "lacces"), "strap": ("strapp", "srtap"),
        "sneakers": ("sneekers", "snekers"), "boots": ("bootts", "botts"),
    }),
    char_noise=False,
)


def lexicon(name: str) -> Lexicon:
    """The lexicon of phrasing set ``name`` (one of :data:`PHRASING_SETS`); ``ValueError`` for another name."""
    if name not in LEXICONS:
        raise ValueError(f"unknown phrasing set {name!r}; choose one of {', '.join(PHRASING_SETS)}")
    return LEXICONS[name]


# Strings only held-apart phrasings contain (matched as whole words, case-insensitive). Every held-apart template
# writes at least one frame marker; the adverbs, synonyms and misspellings of the held-apart lexicon are markers too.
HELDOUT_FRAME_MARKERS = (
    "it's", "they're", "comes in", "comes with", "comes without", "come in", "come with", "come without",
    "that's", "turn it", "turn them", "go for", "do it", "do them", "i'd like", "i'd love", "wish", "hoping for",
    "swap", "in place of",
    "going from", "like this but", "otherwise the same", "switch the", "ought to be", "no longer", "lose the",
    "minus the", "ditch the", "compared to this", "same idea", "could you show me", "would it be possible",
    "hey there", "cheers", "thanks a million", "needs to be", "need to be", "oh and", "got any", "any chance",
    "can i get",
)


def heldout_markers() -> tuple[str, ...]:
    """Every string that marks a held-apart phrasing: frames, adverbs, synonyms and misspellings of that set."""
    words = list(HELDOUT_FRAME_MARKERS)
    words += [a.strip() for a in HELDOUT.strong_adverbs + HELDOUT.mild_adverbs]
    words += [w for ws in HELDOUT.colour_synonyms.values() for w in ws]
    words += [w for cat, ws in HELDOUT.garment_nouns.items() for w in ws]
    words += [w for ws in HELDOUT.misspellings.values() for w in ws]
    return tuple(dict.fromkeys(words))


# Last, because the blind, stranger, newcomer, passerby, latecomer, traveller, caller, gifter, returner, texter,
# reviewer and comparer sets' modules need Lexicon and (through noise) the held-apart markers above.
from data_prep.phrasing.blind import BLIND  # noqa: E402
from data_prep.phrasing.caller import CALLER  # noqa: E402
from data_prep.phrasing.comparer import COMPARER  # noqa: E402
from data_prep.phrasing.gifter import GIFTER  # noqa: E402
from data_prep.phrasing.latecomer import LATECOMER  # noqa: E402
from data_prep.phrasing.newcomer import NEWCOMER  # noqa: E402
from data_prep.phrasing.passerby import PASSERBY  # noqa: E402
from data_prep.phrasing.returner import RETURNER  # noqa: E402
from data_prep.phrasing.reviewer import REVIEWER  # noqa: E402
from data_prep.phrasing.stranger import STRANGER  # noqa: E402
from data_prep.phrasing.texter import TEXTER  # noqa: E402
from data_prep.phrasing.traveller import TRAVELLER  # noqa: E402

LEXICONS: Mapping[str, Lexicon] = MappingProxyType(
    {"train": TRAIN, "heldout": HELDOUT, "blind": BLIND, "stranger": STRANGER, "newcomer": NEWCOMER,
     "passerby": PASSERBY, "latecomer": LATECOMER, "traveller": TRAVELLER,
     "caller": CALLER, "gifter": GIFTER, "returner": RETURNER, "texter": TEXTER, "reviewer": REVIEWER,
     "comparer": COMPARER})
