"""The words of the ``texter`` phrasing set (:mod:`data_prep.phrasing.texter`): its lexicon, its frame markers and
the chat bits its templates draw from.

Written blind, like the set's templates: without seeing the request reader, the other evaluation sets' words or
any results. Constant tables only; nothing here changes after import.
"""

from __future__ import annotations

from types import MappingProxyType

from data_prep.phrasing.lexicon import Lexicon

TEXTER = Lexicon(
    name="texter",
    strong_adverbs=("waaay ", "hella ", "soooo much "),
    mild_adverbs=("a tiiiny bit ", "a weeee bit ", "a smol bit "),
    colour_synonyms=MappingProxyType({
        "black": ("void black", "goth black"), "white": ("paper white", "gallery white"),
        "grey": ("dishwater", "rainy-day"), "navy": ("nighttime blue", "after-dark blue"),
        "beige": ("sandcastle", "cardboard"), "burgundy": ("vampy red", "goth red"),
        "purple": ("grimace purple", "galaxy purple"), "teal": ("mermaidcore", "pool-tile"),
        "blue": ("denim blue", "bic-pen blue"), "red": ("stop-sign red", "siren red"),
        "green": ("matcha", "frog green"), "yellow": ("butter yellow", "minion yellow"),
        "pink": ("millennial pink", "sakura pink"), "orange": ("fanta orange", "hi-vis orange"),
        "brown": ("teddy-bear brown", "cola brown"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("cute dress", "dress moment"), "shirt": ("shirt sitch", "shirt moment"),
        "toptee": ("top sitch", "cute top"), "shoes": ("shoesies", "shoezies"),
    }),
    misspellings=MappingProxyType({
        "sleeveless": ("sleevelesz", "slevelees"), "sleeves": ("sleeevz", "slvees"),
        "black": ("blaaack", "blackkk"), "white": ("whiite", "wjite"), "pattern": ("paytern", "patternnn"),
        "stripes": ("stipres", "strypez"), "striped": ("strped", "strpied"), "collar": ("collr", "collarrr"),
        "neckline": ("neckln", "neclkine"), "length": ("lentgh", "lenngth"), "loose": ("loooose", "loosee"),
        "fitted": ("fiittted", "fitteddd"), "heels": ("heelsss", "heeeels"), "pink": ("piiiink", "pinnkk"),
        "purple": ("purp", "purpleee"), "floral": ("florl", "flowral"), "sneakers": ("sneakz", "sneakrs"),
        "green": ("grn", "gteen"), "beige": ("beigeee", "bieg"), "navy": ("naavy", "nayvee"),
        "maxi": ("maxiii", "maaxi"), "sandals": ("sandalzzz", "sabdals"), "shiny": ("shiiiny", "shinyyy"),
        "dots": ("dotsss", "dost"), "brown": ("brwon", "brwnn"), "yellow": ("yelloww", "yelloooow"),
        "orange": ("orang", "oeange"), "burgundy": ("burgundyy", "burgyndy"), "teal": ("teeeal", "teaal"),
        "blue": ("bluuue", "bleww"), "grey": ("gerey", "grwey"),
    }),
    char_noise=False,
)

# Chat shorthand every texter template writes at least one of (matched as whole words, any case).
TEXTER_FRAME_MARKERS = (
    "tbh", "ngl", "rn", "smth", "idk", "lol", "lmk", "omg", "imo", "sooo", "pleeease", "w/o", "or nah", "ilysm",
    "shud", "heyyy", "gotta go", "r a no", "ughhh", "okok", "srsly", "hahah", "theyre", "thank uuu", "yeet",
    "hafta", "plzzz", "thxxx", "ya feel me",
)

# Optional chat bits around a message (each a marker too, or nothing).
OPENERS = ("", "", "heyyy ", "omg ", "okok ", "ughhh ")
CLOSERS = ("", "", " lol", " tbh", " hahah", " srsly")
# How separate messages of one request are run together.
JOINTS = (" / ", "\n", "... ")

# "What I do not want" frames: {r} is what goes away (a removal), {old} the reference's value, {new} the target's.
REMOVE_FRAMES_A = ("not feeling the {r}", "{r} gotta go", "nothing with {r} thx", "the {r} r a no from me")
REMOVE_FRAMES_B = ("hate the {r} ngl", "w/o the {r}", "zero {r} thx", "the {r}?? yeet")
REMOVE_FRAMES_C = ("im so over the {r}", "not a {r} person srsly", "take off the {r}", "{r}? pass lol")
CHANGE_FRAMES_A = ("srsly not {old} ({new} pleeease)", "{old}... nope. {new} tho",
                   "not feeling {old}, {new} thx")
CHANGE_FRAMES_B = ("sooo done with {old}, {new} now", "not {old} again ugh, {new} instead",
                   "nothing {old} lol, {new}")
CHANGE_FRAMES_C = ("enough {old} tbh, {new}", "{old}?? meh, {new} pleeease", "idk about {old}, {new} tho")
