"""Caption kinds that need different image/text balances: absolute, partial, vague and mistaken captions.

Today's relative captions (:mod:`data_prep.synth_captions`) name every change between the reference and the target,
so a search needs both the image and the text. Real annotators also write captions that need another balance:

- ``absolute``: the target described outright, every attribute ("is a red fitted mini dress with long sleeves"):
  the text alone suffices, the reference image only misleads;
- ``partial``: a relative caption that names only some of the changes (the pair differs in two or three aspects):
  the image must supply more than usual;
- ``vague``: taste words only ("looks nicer", "is more stylish and less boring"): the image must carry the query;
- ``mistake``: a relative caption with one annotator's mistake, a value the target does not have ("is blue" for a
  green dress, "has laces" for a slip-on).

Every caption stays grounded: absolute phrases state the target's own values, partial captions claim only real
changes, vague captions claim nothing, and a mistake is recorded (attribute and wrong value) beside the true claims,
so the tests can check each caption against the ground truth.

The kind of each triplet is drawn from a *caption mix* with its own random stream: the products, pairs, images,
pools and the relative captions of ``relative`` triplets are exactly those of the relative-only catalogue of the
same seed; only the captions of the other triplets differ. Proportions are discussed in the README ("The
built-in catalogue"): the measured shares of the real files (``python -m data_prep.caption_kinds``) and why the
default raises the rare kinds.
"""

from __future__ import annotations

import random
from types import MappingProxyType
from typing import Mapping, Sequence

from data_prep.synth_attributes import (
    COLOURS,
    DRESS_LENGTHS,
    FINISHES,
    FITS,
    HEELS,
    NECKLINES,
    PATTERNS,
    SHOE_CATEGORY,
    SHOE_TYPES,
    SLEEVES,
    CLOSURES,
    aspects,
    attribute_names,
    differing_aspects,
)
from data_prep.synth_captions import (
    HEEL_ABSOLUTE,
    LENGTH_ABSOLUTE,
    NECKLINE_ABSOLUTE,
    PATTERN_ADJECTIVES,
    PATTERN_NOUNS,
    SHOE_TYPE_NOUNS,
    SLEEVE_ABSOLUTE,
    Phrase,
    article,
    aspect_phrase,
    colour_word,
    coloured_pattern,
    fashioniq_captions,
    join_phrases,
    shoes_caption,
    split_aspects,
    with_noun,
)

CAPTION_KINDS = ("relative", "partial", "absolute", "vague", "mistake")

# The default mix. Measured on the real files (README, "The built-in catalogue"): 2.5 % of Fashion-IQ captions
# and 1.2 % of Shoes captions name nothing visible, 8 % of Fashion-IQ captions describe the target with three or
# more aspects and no change word, about half the captions leave out an aspect the other annotator named, and at
# least 0.6 % of Fashion-IQ pairs contradict each other. Vague captions and mistakes are raised well above those
# shares so that every kind has enough queries to be measured on its own (about 170 of the 1,700 evaluation
# queries of --size default are vague); "real" keeps the measured shares.
CAPTION_MIXES: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "mixed": MappingProxyType({"relative": 0.50, "partial": 0.20, "absolute": 0.15, "vague": 0.10, "mistake": 0.05}),
    "real": MappingProxyType({"relative": 0.68, "partial": 0.20, "absolute": 0.09, "vague": 0.02, "mistake": 0.01}),
    "relative": MappingProxyType({"relative": 1.0}),
})


def parse_caption_mix(text: str) -> dict[str, float]:
    """A preset name (``mixed``, ``real``, ``relative``) or ``kind=share,...`` -> {kind: share}, shares summing to 1.

    Raises ``ValueError`` with a sentence saying what to write instead.
    """
    if text in CAPTION_MIXES:
        return dict(CAPTION_MIXES[text])
    mix: dict[str, float] = {}
    for part in text.split(","):
        kind, sep, share = part.strip().partition("=")
        if not sep or kind not in CAPTION_KINDS:
            raise ValueError(f"caption mix {text!r}: expected a preset ({', '.join(CAPTION_MIXES)}) or "
                             f"kind=share pairs with kinds among {', '.join(CAPTION_KINDS)}")
        try:
            mix[kind] = float(share)
        except ValueError:
            raise ValueError(f"caption mix {text!r}: share {share!r} of {kind} is not a number") from None
        if mix[kind] < 0:
            raise ValueError(f"caption mix {text!r}: the share of {kind} is negative")
    total = sum(mix.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"caption mix {text!r}: the shares add up to {total:g}, not 1")
    return {k: v for k, v in mix.items() if v > 0}


def is_relative_only(mix: Mapping[str, float]) -> bool:
    """True for the mix that reproduces the relative-only catalogue byte for byte."""
    return set(mix) == {"relative"}


def can_be_partial(candidate: Mapping, target: Mapping) -> bool:
    """A caption can leave part of the change out only when the pair differs in two or more aspects."""
    return len(differing_aspects(candidate, target)) >= 2


def draw_kinds(eligible_partial: Sequence[bool], mix: Mapping[str, float], rng: random.Random) -> list[str]:
    """One kind per triplet, with the mix's shares in expectation over the whole list.

    Only pairs that differ in two or more aspects can be ``partial``; they get the partial share divided by their
    own share (capped at 1), and the other kinds are scaled so that each keeps its overall share.
    """
    p_partial = mix.get("partial", 0.0)
    others = {k: v for k, v in mix.items() if k != "partial"}
    rest = sum(others.values())
    eligible_share = sum(eligible_partial) / max(len(eligible_partial), 1)
    p_eligible = min(1.0, p_partial / eligible_share) if eligible_share else 0.0
    kinds = []
    for eligible in eligible_partial:
        if eligible and rng.random() < p_eligible:
            kinds.append("partial")
        elif rest > 0:
            kinds.append(rng.choices(list(others), weights=list(others.values()))[0])
        else:  # a mix of partial only: pairs that cannot be partial stay relative
            kinds.append("relative")
    return kinds


# --- absolute phrases: the target's own value of one aspect ---------------------------------------------------------

_FIT_ABSOLUTE = {
    "fitted": (("is", "fitted"), ("is", "form fitting"), ("is", "slim fit"), ("is", "tight"), ("has", "a slim fit")),
    "loose": (("is", "loose"), ("is", "loose fitting"), ("is", "baggy"), ("is", "flowy"), ("has", "a relaxed fit")),
}
_FINISH_ABSOLUTE = {
    "shiny": (("is", "shiny"), ("is", "glossy"), ("is", "patent leather"), ("has", "a shiny finish")),
    "matte": (("is", "matte"), ("has", "a matte finish"), ("is", "not shiny")),
}
_CLOSURE_ABSOLUTE = {  # (verb, singular, plural)
    "laces": (("has", "laces", None), ("is", "lace up", None), ("has", "shoelaces", None)),
    "strap": (("has", "a strap", "straps"), ("has", "an ankle strap", "ankle straps"),
              ("has", "a buckle strap", "buckle straps")),
    "none": (("is", "slip on", None), ("is", "a slip-on", "slip-ons"), ("has", "no laces or straps", None)),
}


def absolute_phrase(aspect: str, product: Mapping, rng: random.Random, coloured: bool = True) -> Phrase:
    """A phrase stating ``product``'s own value of ``aspect`` ("is red", "has long sleeves", "are pumps").

    Its claims name the attributes it states. ``coloured=False`` leaves the pattern colour out of pattern phrases
    (a mistaken pattern has no colour of its own).
    """
    claim = (aspect,)
    if aspect == "color":
        word = colour_word(product["color"], rng)
        return rng.choice((Phrase("is", word, claim), Phrase("is", word, claim), Phrase("is", f"{word} colored", claim),
                           Phrase("is", f"{word} in color", claim),
                           Phrase("is", f"{article(word)} {word} color", claim, f"{word} in color")))
    if aspect == "pattern":
        pattern = product["pattern"]
        if pattern == "solid":
            return rng.choice((Phrase("is", "solid", claim), Phrase("is", "plain", claim),
                               Phrase("has", "no pattern", claim), Phrase("is", "a solid color", claim)))
        options = [Phrase("has", rng.choice(PATTERN_NOUNS[pattern]), claim)]
        if pattern != "graphic":  # "printed" would also be true of a floral print
            options.append(Phrase("is", rng.choice(PATTERN_ADJECTIVES[pattern]), claim))
        if coloured:
            both = ("pattern", "secondary_color")
            options += [Phrase("has", coloured_pattern(pattern, product["secondary_color"], rng), both)] * 2
        return rng.choice(options)
    if aspect == "secondary_color":  # shoes: sole / trim
        word = colour_word(product["secondary_color"], rng)
        return rng.choice((Phrase("has", f"{article(word)} {word} sole", claim, f"{word} soles"),
                           Phrase("has", f"{word} trim", claim), Phrase("has", f"{word} accents", claim)))
    if aspect == "type":
        singular, plural = rng.choice(SHOE_TYPE_NOUNS[product["type"]])
        return Phrase("is", singular, claim, plural)
    if aspect in ("heel", "closure"):
        table = HEEL_ABSOLUTE if aspect == "heel" else _CLOSURE_ABSOLUTE
        verb, rest, plural = rng.choice(table[product[aspect]])
        return Phrase(verb, rest, claim, plural)
    table = {"sleeve": SLEEVE_ABSOLUTE, "neckline": NECKLINE_ABSOLUTE, "length": LENGTH_ABSOLUTE,
             "fit": _FIT_ABSOLUTE, "finish": _FINISH_ABSOLUTE}[aspect]
    verb, rest = rng.choice(table[product[aspect]])
    return Phrase(verb, rest, claim)


def _caption(phrases: list[Phrase], product: Mapping, rng: random.Random, plural: bool) -> str:
    """Phrases in random order glued into one caption, sometimes naming the product ("is a red dress with ...")."""
    phrases = list(phrases)
    rng.shuffle(phrases)
    if rng.random() < 0.4:
        phrases[0] = with_noun(phrases[0], product, rng)
    return join_phrases(phrases, rng, plural)


def _claims(phrases: Sequence[Phrase]) -> list[str]:
    out: list[str] = []
    for p in phrases:
        out += [a for a in p.claims if a not in out]
    return out


def _two_groups(items: Sequence[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """Split ``items`` into two non-empty disjoint groups of similar size (two annotators, each naming a part)."""
    order = list(items)
    rng.shuffle(order)
    cut = len(order) // 2 + (rng.random() < 0.5 and len(order) % 2 == 1)
    return order[:cut], order[cut:]


# Adjective forms (before the noun) of the target's values, for absolute descriptions ("a red fitted mini dress").
_FIT_ADJECTIVES = {"fitted": ("fitted", "slim fit", "form fitting"), "loose": ("loose", "loose fitting", "flowy")}
_LENGTH_ADJECTIVES = {"mini": ("mini",), "knee": ("knee-length", "knee length"), "midi": ("midi", "calf length"),
                      "maxi": ("maxi", "floor length")}
_FINISH_ADJECTIVES = {"shiny": ("shiny", "glossy", "patent"), "matte": ("matte",)}


def _with_list(parts: Sequence[str]) -> str:
    """"a, b and c"."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _garment_description(target: Mapping, group: Sequence[str], rng: random.Random) -> tuple[str, list[str]]:
    """One absolute caption naming the target's values of ``group``: adjectives before the noun, the rest after
    "with" ("is a red fitted mini dress with long sleeves"); a group without adjectives reads "has a, b and c"."""
    adjectives, parts, claims = [], [], []
    for aspect in group:
        value = target[aspect]
        if aspect == "color":
            adjectives.append((0, colour_word(value, rng)))
        elif aspect == "fit":
            adjectives.append((1, rng.choice(_FIT_ADJECTIVES[value])))
        elif aspect == "length":
            adjectives.append((2, rng.choice(_LENGTH_ADJECTIVES[value])))
        elif aspect == "pattern":
            if value == "solid":
                adjectives.insert(0, (-1, rng.choice(("solid", "plain"))))
            elif value != "graphic" and rng.random() < 0.4:  # "printed" would also be true of a floral print
                adjectives.append((1, rng.choice(PATTERN_ADJECTIVES[value])))
            else:
                parts.append(coloured_pattern(value, target["secondary_color"], rng))
                claims.append("secondary_color")
        elif aspect == "sleeve":
            parts.append(rng.choice([rest for verb, rest in SLEEVE_ABSOLUTE[value] if verb == "has"]))
        elif aspect == "neckline":
            parts.append(rng.choice([rest for verb, rest in NECKLINE_ABSOLUTE[value] if verb == "has"]))
        claims.insert(0, aspect)
    rng.shuffle(parts)
    if adjectives:
        words = " ".join(w for _, w in sorted(adjectives, key=lambda a: a[0]))
        noun = rng.choice({"dress": ("dress",), "shirt": ("shirt",),
                           "toptee": ("top", "tee", "blouse")}[target["category"]])
        with_noun_ = len(adjectives) > 1 or rng.random() < 0.7  # "is bright blue loose" does not read
        head = f"is {article(words)} {words} {noun}" if with_noun_ else f"is {words}"
        text = f"{head} with {_with_list(parts)}" if parts else head
    else:
        text = f"has {_with_list(parts)}"
    return text, [a for a in attribute_order(target) if a in claims]


def _shoe_description(target: Mapping, rng: random.Random, plural: bool) -> tuple[str, list[str]]:
    """One absolute caption naming every attribute of a shoe ("are black shiny pumps with high heels, ankle
    straps and white soles")."""
    singular, plural_noun = rng.choice(SHOE_TYPE_NOUNS[target["type"]])
    noun = plural_noun if plural else singular.split(" ", 1)[1]
    adjectives = [colour_word(target["color"], rng), rng.choice(_FINISH_ADJECTIVES[target["finish"]])]
    rng.shuffle(adjectives)
    if target["heel"] == "flat":  # "flat soles" beside "white soles" reads twice
        heel_one = heel_many = "no heel"
    else:
        _, heel_one, heel_many = rng.choice(HEEL_ABSOLUTE[target["heel"]])
    closure = {"laces": ("laces", "shoelaces"), "none": ("no laces or straps", "no laces or straps"),
               "strap": ("an ankle strap", "a buckle strap", "a strap")}[target["closure"]]
    closure_part = rng.choice(closure)
    if plural and closure_part.startswith(("an ", "a ")):
        closure_part = closure_part.split(" ", 1)[1] + "s"
    sec = colour_word(target["secondary_color"], rng)
    sole = rng.choice((f"{sec} soles" if plural else f"{article(sec)} {sec} sole", f"{sec} trim", f"{sec} accents"))
    parts = [heel_many if plural and heel_many else heel_one, closure_part, sole]
    rng.shuffle(parts)
    words = " ".join(adjectives)
    head = f"are {words} {noun}" if plural else f"is {article(words)} {words} {noun}"
    return f"{head} with {_with_list(parts)}", list(attribute_order(target))


def attribute_order(product: Mapping) -> list[str]:
    """The attribute names of ``product`` in the catalogue's fixed order."""
    return list(attribute_names(str(product["category"])))


def absolute_captions(target: Mapping, rng: random.Random, n_captions: int, plural: bool = False
                      ) -> list[tuple[str, list[str]]]:
    """Captions that together state every attribute of ``target``: one Shoes caption, or two Fashion-IQ captions
    sharing the aspects (two annotators, each describing part of the target)."""
    if target["category"] == SHOE_CATEGORY:
        return [_shoe_description(target, rng, plural)]
    every = list(aspects(str(target["category"])))
    groups = [every] if n_captions == 1 else list(_two_groups(every, rng))
    return [_garment_description(target, group, rng) for group in groups]


# --- vague captions: taste words only ------------------------------------------------------------------------------

# Deliberately free of the words our relative captions use for a real attribute ("casual", "formal", "elegant",
# "dressier", "sportier", "busier", "plainer", "more colorful"): a vague caption must claim nothing.
_TASTE_COMPARATIVES = (
    "nicer", "prettier", "cuter", "trendier", "cooler", "lovelier", "sweeter", "more stylish", "more modern",
    "more fashionable", "more fun", "more interesting", "less boring", "more appealing", "more attractive",
    "more unique", "more youthful", "more flattering", "more playful", "more chic", "more striking",
    "more eye catching", "more on trend", "more current", "less dated", "more special", "more original",
    "more fresh", "less ordinary",
)
_TASTE_NOUNS = ("look", "style", "vibe", "feel")
_ADVERBS = ("", "", "", "a bit ", "much ", "slightly ", "way ")


def vague_caption(rng: random.Random, plural: bool = False) -> str:
    """A caption that names nothing visible ("looks nicer", "is similar but more stylish", "i like it better")."""
    be, look, have, it = ("are", "look", "have", "they") if plural else ("is", "looks", "has", "it")
    comp, comp2 = rng.sample(_TASTE_COMPARATIVES, 2)
    adv = rng.choice(_ADVERBS)
    template = rng.randrange(9)
    if template == 0:
        return f"{be} {adv}{comp}"
    if template == 1:
        return f"{look} {adv}{comp}"
    if template == 2:
        return f"{be} {comp} and {comp2}"
    if template == 3:
        return f"{be} similar but {comp}"
    if template == 4:
        word = comp.removeprefix("more ")
        return f"{have} {article(word)} {word} {rng.choice(_TASTE_NOUNS)}"
    if template == 5:
        return f"{be} {comp} overall"
    if template == 6:
        return rng.choice((f"i like {'them' if plural else 'it'} better", f"{be} what i am looking for",
                           f"{be} the one i want", f"{be} more my style"))
    if template == 7:
        return rng.choice((f"{look} about the same", f"{be} a bit different", f"{be} somewhat different",
                           f"{look} similar"))
    return f"{it} {be} {adv}{comp}"


def vague_captions(rng: random.Random, n_captions: int, plural: bool = False) -> list[tuple[str, list[str]]]:
    """``n_captions`` different vague captions, each claiming nothing."""
    out: list[str] = []
    while len(out) < n_captions:
        text = vague_caption(rng, plural)
        if text not in out:
            out.append(text)
    return [(text, []) for text in out]


# --- mistakes: one value the target does not have -------------------------------------------------------------------

# Values close enough to be read as true of each other ("a boot" for an ankle boot, "a round neck" for a scoop
# neck): a mistake never swaps within a group.
_CONFUSABLE = ({"boot", "ankle_boot", "rain_boot"}, {"pump", "stiletto", "bridal"}, {"sneaker", "running_shoe"},
               {"crew", "scoop"})
_VALUES = {"sleeve": SLEEVES, "neckline": NECKLINES, "length": DRESS_LENGTHS, "fit": FITS, "pattern": PATTERNS,
           "type": SHOE_TYPES, "heel": HEELS, "finish": FINISHES, "closure": CLOSURES}


def _wrong_value(aspect: str, candidate: Mapping, target: Mapping, rng: random.Random) -> str:
    """A value of ``aspect`` the target does not have (nor, where there is a choice, the reference)."""
    if aspect in ("color", "secondary_color"):
        taken = {target["color"], target.get("secondary_color"), candidate.get(aspect)}
        return rng.choice([c for c in COLOURS if c not in taken])
    true = target[aspect]
    group = next((g for g in _CONFUSABLE if true in g), {true})
    options = [v for v in _VALUES[aspect] if v not in group]
    unlike_both = [v for v in options if v != candidate.get(aspect)]
    return rng.choice(unlike_both or options)


def _mistake(candidate: Mapping, target: Mapping, rng: random.Random) -> tuple[str, str, Phrase]:
    """(aspect, wrong value, the phrase stating it): half the time about an aspect that changed, half an invented
    change of one that did not."""
    category = str(target["category"])
    changed = differing_aspects(candidate, target)
    unchanged = [a for a in aspects(category) if a not in changed]
    aspect = rng.choice(unchanged if unchanged and rng.random() < 0.5 else changed)
    # For garments, a pattern-colour mistake is a pattern mistake; shoes keep the sole/trim colour as an aspect.
    value = _wrong_value(aspect, candidate, target, rng)
    wrong = dict(target)
    wrong[aspect] = value
    phrase = absolute_phrase(aspect, wrong, rng, coloured=False)
    return aspect, value, Phrase(phrase.verb, phrase.rest, (), phrase.plural_rest)


def _mistaken_caption(candidate: Mapping, target: Mapping, aspect_list: Sequence[str], aspect: str,
                      wrong_phrase: Phrase, rng: random.Random, plural: bool) -> tuple[str, list[str]]:
    """True phrases for ``aspect_list`` except ``aspect``, plus the wrong phrase."""
    phrases = [aspect_phrase(a, candidate, target, rng) for a in aspect_list if a != aspect]
    return _caption(phrases + [wrong_phrase], candidate, rng, plural), _claims(phrases)


# --- one triplet of each kind ---------------------------------------------------------------------------------------

def kind_captions(kind: str, candidate: Mapping, target: Mapping, rng: random.Random, n_captions: int
                  ) -> tuple[list[tuple[str, list[str]]], dict]:
    """The captions of one triplet of ``kind`` (not ``relative``: those are the catalogue's own) and what the
    provenance file records beside the claims: ``unnamed`` aspects (partial) or the ``wrong`` statement (mistake).

    ``n_captions`` is 2 for Fashion-IQ and 1 for Shoes (whose captions are sometimes plural: "are black").
    """
    if kind == "relative":
        raise ValueError("relative captions are the catalogue's own (data_prep.synth_captions)")
    plural = n_captions == 1 and target["category"] == SHOE_CATEGORY and rng.random() < 0.6
    if kind == "absolute":
        return absolute_captions(target, rng, n_captions, plural), {}
    if kind == "vague":
        return vague_captions(rng, n_captions, plural), {}
    changed = differing_aspects(candidate, target)
    if kind == "partial":
        if len(changed) < 2:
            raise ValueError("a partial caption needs a pair that differs in two or more aspects")
        named = rng.sample(changed, rng.randint(1, len(changed) - 1))
        named = [a for a in changed if a in named]  # attribute order, as the relative captions get them
        if n_captions == 2:
            caps = fashioniq_captions(candidate, target, rng, aspect_list=named)
        else:
            caps = [shoes_caption(candidate, target, rng, aspect_list=named)]
        return caps, {"unnamed": [a for a in changed if a not in named]}
    if kind == "mistake":
        aspect, value, wrong = _mistake(candidate, target, rng)
        groups = list(split_aspects(changed, rng)) if n_captions == 2 else [changed]
        which = rng.randrange(len(groups))
        caps = []
        for i, group in enumerate(groups):
            if i == which:
                caps.append(_mistaken_caption(candidate, target, group, aspect, wrong, rng, plural))
            else:
                phrases = [aspect_phrase(a, candidate, target, rng) for a in group]
                caps.append((_caption(phrases, candidate, rng, plural), _claims(phrases)))
        return caps, {"wrong": {"caption": which, "attribute": aspect, "value": value}}
    raise ValueError(f"unknown caption kind {kind!r}; choose one of {', '.join(CAPTION_KINDS)}")
