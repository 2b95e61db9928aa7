"""The words of the ``comparer`` phrasing set (:mod:`data_prep.phrasing.comparer`): its adverbs, colour names,
garment words and misspellings, and the frame strings that mark one of its phrasings.

Written blind, like the set's templates: without seeing the request reader, the other sets' modules or any
results. The misspellings of words of five letters or more are never one dropped, doubled or swapped letter away
from the word (that is what procedural noise makes), so no other set's noise can write one of them by chance.
"""

from __future__ import annotations

from types import MappingProxyType

from data_prep.phrasing.lexicon import Lexicon

COMPARER = Lexicon(
    name="comparer",
    strong_adverbs=("streets ", "worlds ", "miles "),
    mild_adverbs=("modestly ", "a sliver ", "a jot "),
    colour_synonyms=MappingProxyType({
        "black": ("squid-ink", "tar"), "white": ("frost", "swan"), "grey": ("heron", "rain-cloud"),
        "red": ("ladybird", "rosehip"), "blue": ("hyacinth", "larkspur"), "navy": ("harbour", "midshipman"),
        "green": ("spinach", "leaf"), "yellow": ("honey", "egg-yolk"), "pink": ("shrimp", "rosebud"),
        "purple": ("iris", "bramble"), "orange": ("copper", "peach"), "brown": ("gingerbread", "bracken"),
        "beige": ("wheat", "hessian"), "burgundy": ("pomegranate", "damask"), "teal": ("duck-egg", "seafoam"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("pinafore", "kaftan"), "shirt": ("chambray", "shacket"), "toptee": ("cami", "camisole"),
        "shoes": ("plimsolls", "clodhoppers"),
    }),
    misspellings=MappingProxyType({
        "black": ("blaq", "blaque"), "white": ("whigt", "wyte"), "grey": ("grae", "greigh"), "red": ("rhed", "rred"),
        "blue": ("bluh", "blae"), "navy": ("navi", "nivy"), "green": ("grien", "graen"),
        "yellow": ("yalow", "yellou"), "pink": ("pingk", "penk"), "purple": ("poiple", "parple"),
        "orange": ("orandge", "oranga"), "brown": ("bruwn",), "beige": ("beishe", "beege"),
        "burgundy": ("burgindy", "borgundy"), "teal": ("taal",),
        "sleeveless": ("sleevelas", "sleaveles"), "sleeves": ("slevs", "sleevess"), "sleeved": ("slieved", "sleevt"),
        "short": ("shourt", "shawt"), "long": ("lonng", "loong"), "collar": ("cullar", "collir"),
        "collared": ("collerd", "kollared"), "neck": ("neckh", "nec"), "crew": ("cru", "criw"),
        "scoop": ("scupe", "scuop"), "neckline": ("neklin", "neckalin"), "length": ("lenthg", "langth"),
        "knee": ("knnee", "knae"), "midi": ("mideh", "mide"), "maxi": ("mexi", "mixi"), "mini": ("mynee", "meni"),
        "floor": ("floore", "flore"), "fitted": ("fetted", "fytted"), "loose": ("luose",),
        "relaxed": ("relacksed",), "striped": ("strypped", "streped"), "stripes": ("stripz", "strepes"),
        "dotted": ("dutted", "datted"), "dots": ("dottz", "duts"), "polka": ("pulka", "palka"),
        "checked": ("checced", "chicked"), "plaid": ("pladd", "pleid"), "floral": ("florul", "flaral"),
        "flowers": ("flowars", "fluwers"), "flowery": ("flowerey", "flowerie"), "printed": ("prinded", "printad"),
        "print": ("prient", "printe"), "graphic": ("graffic", "graphik"), "plain": ("pliin",),
        "solid": ("salid", "sulid"), "pattern": ("patteren", "pittern"), "sneakers": ("sneekrs", "snaakers"),
        "pumps": ("pomps",), "flats": ("flads",), "boots": ("butes", "buots"), "sandals": ("santals", "sindals"),
        "heels": ("haels",), "heel": ("hael",), "heeled": ("hiled", "heelt"), "shiny": ("shini", "sheny"),
        "glossy": ("glussy", "glozsy"), "matte": ("mette", "mitte"), "finish": ("finnsh", "fynish"),
        "laces": ("laices", "laceses"), "strappy": ("straapy", "streppy"), "straps": ("sdraps",),
        "soles": ("solez", "sules"), "trim": ("trym", "treem"),
    }),
    char_noise=False,
)

# Frame strings only comparer phrasings write (matched as whole words, any case); every template writes one.
COMPARER_FRAME_MARKERS = (
    "near twin", "i remember from", "my flatmate", "my old", "on my sister's", "keep the feel", "old favourite",
    "my gran", "a twin of", "mine would have", "as opposed to", "second time around", "i had before", "dead ringer",
    "same spirit", "on mine would be", "measured against", "my aunt's", "mine would go without", "my mum's",
    "my neighbour", "next to the photo", "held up against", "my late nan", "in the spirit of", "years back",
    "think of the photo", "my best friend's", "lookalike", "a match to", "nearest to the photo", "in the mould of",
    "leave off the", "where this is", "where these are", "like my sister's", "i had at uni", "my dream would be",
)
