"""The fashion vocabulary the facet reader reads with: each phrase names a value of a slot.

:data:`VOCABULARY` maps a phrase (a tuple of lower-cased words) to its ``(slot, value)``: the values of
:data:`VALUES`, the base colours and the shade names of :mod:`cti_ir.index.colour_names`. Beside it, the words that
name a slot ("sleeves", "heel": :data:`SLOT_NOUNS`), the comparatives ("longer", "higher") and the order of the
ordered slots. The reading itself is :mod:`cti_ir.index.facets`; the correction of misspelt words into this
vocabulary is :mod:`cti_ir.index.correction`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cti_ir.index.colour_names import BASE_COLOURS, MORE_COLOUR_NAMES, TINGE_WORDS
from cti_ir.index.foreign_colour_names import FOREIGN_COLOUR_NAMES

SLOTS = ("colour", "accent_colour", "pattern", "sleeves", "neckline", "length", "fit", "shoe_type", "heel",
         "finish", "closure")

VALUES = {
    "pattern": {
        "solid": ("solid", "plain", "solid coloured", "solid colored", "no pattern", "without a pattern",
                  "without pattern", "no print"),
        "stripes": ("stripes", "stripe", "striped", "pinstripes"),
        "dots": ("polka dots", "polka dot", "polka dotted", "dots", "dotted", "spots", "spotted"),
        "checks": ("checks", "check pattern", "checked", "check", "plaid", "tartan", "gingham"),
        "floral": ("floral", "floral print", "flowers", "flowery", "flower print"),
        "graphic": ("graphic print", "graphic", "printed", "logo"),  # a bare "print" is the slot's name
    },
    "sleeves": {
        "sleeveless": ("sleeveless", "no sleeves", "without sleeves"),
        "short": ("short sleeves", "short sleeve", "short sleeved"),
        "three_quarter": ("three quarter sleeves", "three quarter sleeve", "three quarter sleeved", "three quarter",
                          "3/4 sleeves", "3/4 sleeve", "3/4 sleeved", "3/4", "elbow length sleeves"),
        "long": ("long sleeves", "long sleeve", "long sleeved", "full length sleeves", "full sleeves"),
    },
    "neckline": {
        "collar": ("collar", "collared", "pointed collar", "button down", "button down collar"),
        "crew": ("crew neck", "crew necked", "crew neckline", "round neck", "wide round neck", "crewneck"),
        "scoop": ("scoop neck", "scoop necked", "scoop neckline", "scoop"),
        "v_neck": ("v neck", "v necked", "v neckline", "vneck"),
    },
    "length": {
        "mini": ("mini", "mini length", "above the knee"), "knee": ("knee length", "knee"),
        "midi": ("midi", "midi length"),
        "maxi": ("maxi", "maxi length", "floor length", "ankle length"),
    },
    "fit": {
        "fitted": ("fitted", "slim fit", "slim fitting", "fitted cut", "tight", "tighter", "form fitting",
                   "slimmer fit", "snug", "figure hugging"),
        "loose": ("loose", "loose fit", "loose fitting", "loose cut", "relaxed fit", "relaxed", "looser", "baggy",
                  "oversized", "flowy", "flowing"),
    },
    "shoe_type": {
        "sneaker": ("sneaker", "sneakers", "trainers", "casual sneaker", "casual sneakers"),
        "running_shoe": ("running shoe", "running shoes", "athletic shoes", "athletic shoe", "runners"),
        "pump": ("pump", "pumps", "court shoes", "classic pump", "classic pumps"),
        "flat": ("ballet flat", "ballet flats", "flats", "ballerinas", "flat shoe", "flat shoes"),
        "stiletto": ("stiletto", "stilettos", "stiletto pump", "stiletto pumps"),
        "rain_boot": ("rain boot", "rain boots", "wellies", "wellingtons", "rubber boot", "rubber boots"),
        "sandal": ("sandal", "sandals", "strappy sandal", "strappy sandals", "heeled sandal", "heeled sandals"),
        "clog": ("clog", "clogs", "chunky clog", "chunky clogs"),
        "boot": ("tall boot", "tall boots", "boot", "boots", "knee high boot", "knee high boots"),
        "ankle_boot": ("ankle boot", "ankle boots", "bootie", "booties"),
        "bridal": ("wedding shoe", "wedding shoes", "bridal shoe", "bridal shoes", "bridal"),
    },
    "heel": {
        "flat": ("flat", "no heel", "no heels", "flat heel", "flat sole", "flat soles"),
        "low": ("low heel", "low heels", "low heeled", "small heel", "small heels", "kitten heel", "kitten heels"),
        "mid": ("mid heel", "mid heels", "medium heel", "medium heels", "mid heeled", "moderate heel",
                "moderate heels"),
        "high": ("high heel", "high heels", "high heeled", "tall heel", "tall heels"),
    },
    "finish": {"matte": ("matte", "less shiny", "less glossy", "duller", "not shiny"),
               "shiny": ("shiny", "glossy", "patent", "patent leather", "shinier", "more shine")},
    "closure": {
        "laces": ("laces", "lace up", "lace up fastening", "laced", "shoelaces"),
        "strap": ("strap", "straps", "strappy", "ankle strap", "ankle straps", "buckle strap", "buckle straps"),
        "none": ("slip on", "slip ons", "no laces or straps", "slip on opening", "strapless"),
    },
}
# Ordered slots, for comparatives: "longer sleeves" allows every longer value than the reference's.
ORDERS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "sleeves": ("sleeveless", "short", "three_quarter", "long"), "length": ("mini", "knee", "midi", "maxi"),
    "heel": ("flat", "low", "mid", "high"), "neckline": ("crew", "scoop", "v_neck"),  # by depth; a collar has none
})
# comparative word -> (slot it applies to by default, direction); the slot noun after it may change the slot
COMPARATIVES = {"longer": ("length", 1), "shorter": ("length", -1), "higher": ("heel", 1), "lower": ("heel", -1),
                "deeper": ("neckline", 1)}
# Comparatives read only before the heel ("taller heels", "a smaller heel"), as the catalogue's captions use them.
HEEL_COMPARATIVES = {"taller": 1, "smaller": -1}
SLOT_NOUNS = {"sleeves": "sleeves", "sleeve": "sleeves", "heel": "heel", "heels": "heel", "neckline": "neckline",
              "neck": "neckline", "hemline": "length", "hem": "length"}
# What makes a colour the pattern's or the sole's ("white stripes", "red soles", "striped in white").
ACCENT_AFTER = ("sole", "soles", "soled", "trim", "trims", "accent", "accents")


def _build_vocabulary() -> dict[tuple[str, ...], tuple[str, str]]:
    vocab: dict[tuple[str, ...], tuple[str, str]] = {}
    for value, phrases in BASE_COLOURS.items():
        for p in phrases:
            vocab[tuple(p.split())] = ("colour", value)
    for slot, values in VALUES.items():
        for value, phrases in values.items():
            for p in phrases:
                vocab.setdefault(tuple(p.split()), (slot, value))
    for names in (MORE_COLOUR_NAMES, FOREIGN_COLOUR_NAMES, TINGE_WORDS):
        for value, phrases in names.items():
            for p in phrases:
                vocab.setdefault(tuple(p.split()), ("colour", value))
    for value in BASE_COLOURS:  # "bright green" is green, as "bright red" is red
        vocab.setdefault(("bright", value), ("colour", value))
    return vocab


VOCABULARY: Mapping[tuple[str, ...], tuple[str, str]] = MappingProxyType(_build_vocabulary())
LONGEST = max(len(k) for k in VOCABULARY)
ONE_WORD_VALUES = frozenset(k[0] for k in VOCABULARY if len(k) == 1)
KNOWN_WORDS = (frozenset(w for k in VOCABULARY for w in k) | frozenset(SLOT_NOUNS) | frozenset(COMPARATIVES)
               | frozenset(ACCENT_AFTER) | frozenset(HEEL_COMPARATIVES))


def phrase_words(phrase_lists) -> frozenset[str]:
    """Every word of every phrase in ``phrase_lists`` (sequences of phrases, such as a mapping's values)."""
    return frozenset(w for phrases in phrase_lists for p in phrases for w in p.split())


# What a misspelt word may be corrected to: the vocabulary without the extra colour names (matched as written only),
# in a fixed order so that a word one edit from two of them is corrected the same way in every process.
CORE_WORDS = phrase_words([*BASE_COLOURS.values(),
                           *(phrases for values in VALUES.values() for phrases in values.values())])
