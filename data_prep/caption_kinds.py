"""How real relative captions split into kinds: ``python -m data_prep.caption_kinds [--fashioniq DIR] [--shoes DIR]``.

The generator's caption mix (:mod:`data_prep.synth_caption_kinds`) is meant to be close to what annotators wrote.
This module reads the published Fashion-IQ and Shoes caption files and sorts every caption by what it gives the
search, with a word-level reading of our own (a heuristic, not a trained classifier):

- ``vague``: no word that names something visible, only taste or style ("looks nicer", "is more casual",
  "more contemporary less sexy") or nothing at all (empty captions count here): the image must carry the query;
- ``relative``: names something visible *as a change* (a comparative, "more"/"less", "instead of", "rather than":
  "is darker", "has shorter sleeves");
- ``absolute``: names something visible and no change word, so it describes the target itself ("is a white
  strapless dress", "knee length dress", "are black with laces").

Two kinds cannot be read from one caption: a caption that names only *part* of the change, and one that is
*wrong* about the target. Fashion-IQ has two annotators per pair, which gives a proxy for each:

- ``partial``: of the pairs where both captions name something visible, the share of captions that leave out an
  aspect (colour, sleeves, length, ...) the other annotator named; a lower bound on how often one caption misses
  part of a change (both may miss the same thing);
- ``contradiction``: pairs whose two captions point one aspect in opposite directions ("is darker" / "is lighter",
  "longer" / "shorter"): one of the two annotators is wrong, a lower bound on annotator mistakes.

Every figure is printed with its count; ``--output`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

CAPTION_KINDS = ("relative", "absolute", "vague")

# Words that carry no visible content: function words, subjects, category nouns and hedges.
_FUNCTION_WORDS = frozenset("""
a an the is are it it's its this that these those and or but with without has have had having in on of to at as
for from by be been being does do doesn't don't isn't not no very much slightly bit little lot lots just one also
too even all both some only like looks look looking looked so quite really somewhat way kind sort overall i you
we they them their my more less fewer than rather instead same similar different identical exactly item product
image picture photo one's dress dresses shirt shirts top tops tee tees t-shirt tshirt blouse shoe shoes pair
version style styled thing something other another same-ish which what who there here about while still yet
""".split())

# Taste and style words: they say how the target feels, not what it shows.
VAGUE_WORDS = frozenset("""
elegant elegance casual casually formal formally sexy sexier sexual revealing feminine masculine simple simpler
simplier whimsical sporty sportier chic stylish dressy dressier fun funnier professional girly girlish vintage
humorous fashionable modest classy classier conservative trendy trendier mature edgy edgier childish nerdy
nerdier attractive fancy fancier cute cuter nice nicer pretty prettier better best good modern contemporary cool
cooler youthful young younger older old boring interesting flattering comfortable comfy appropriate wearable
classic traditional party evening business work office summery beach flirty flirtier slutty sluttier sophisticated
desired desirable appealing lovely beautiful ugly uglier plain-looking playful playfuller unique fresh bolder
unusual normal regular basic fashion fashioned retro hip hipper funky funkier quirky sweet cuter elaborate
dramatic subtle subtler understated loud louder brave tasteful tasteless classier sleek sleeker cleaner clean
adult kids kid child teen teenage feminine manly masculine lady ladylike womanly girly going wearing wear worn
""".split())

# Change words. Comparatives are listed (a rule on "-er" would also catch silver, leather, sweater, ...).
_CHANGE_WORDS = frozenset("more less fewer instead rather than".split())
_COMPARATIVES = frozenset("""
longer shorter darker lighter brighter higher lower smaller larger bigger tighter looser thicker thinner wider
narrower shinier shiner pointier taller rounder whiter chunkier deeper slimmer plainer paler flatter warmer
smoother fuller blacker curvier bluer busier redder greener pinker softer lacier duller strappier heavier sturdier
browner grayer greyer sheerer straighter clearer broader baggier puffier fluffier richer skimpier frillier
skinnier finer fatter shallower creamier gauzier stripier squarer lighter-colored darker-colored tigher ligher
shoter brigher thiner daker slighter higer lenghter sportier dressier simpler sexier fancier cooler cuter prettier
nicer better edgier classier nerdier flirtier sluttier funkier louder bolder cleaner sleeker
""".split())

# Aspects named by a caption (for the two-annotator proxies); first matching pattern wins per word.
_ASPECT_PATTERNS = (
    ("color", r"black|white|blue|red|pink|brown|green|gr[ae]y|yellow|purple|orange|navy|beige|tan|cream|silver|gold|"
              r"teal|maroon|burgundy|ivory|olive|peach|coral|turquoise|magenta|lavender|lilac|mint|khaki|"
              r"colou?r|dark|light|bright|pale|shade|tone|neon|pastel|metallic|monochrom"),
    ("pattern", r"print|pattern|stripe|strip|floral|flower|graphic|logo|plaid|check|dot|spot|solid|plain|design|"
                r"text|word|letter|writing|image|picture|animal|leopard|zebra|cheetah|camo|paisley|geometric|"
                r"skull|character|cartoon|slogan|font|emblem|motif|busy|busier"),
    ("sleeve", r"sleeve|arm|strapless|strap|shoulder|halter|tank"),
    ("length", r"long|short|length|mini|maxi|midi|knee|floor|ankle|hem"),
    ("neckline", r"neck|collar|v-neck|scoop|crew|cleavage|turtle"),
    ("fit", r"fit|tight|loose|flow|baggy|slim|form|snug|body|curv|waist|belt"),
    ("heel", r"heel|wedge|platform|stiletto|flat"),
    ("toe", r"toe|pointy|pointier|pointed|round"),
    ("closure", r"lace|laces|strap|buckle|zip|velcro|slip"),
    ("material", r"leather|suede|shin|gloss|patent|matte|satin|denim|lace|sheer|fur|mesh|rubber|sequin|glitter|"
                 r"textur|fabric|material|cotton|wool|silk"),
)
# Opposite comparatives: both in one Fashion-IQ pair means one annotator is wrong.
_OPPOSITES = (("darker", "lighter"), ("darker", "brighter"), ("longer", "shorter"), ("tighter", "looser"),
              ("higher", "lower"), ("thicker", "thinner"), ("larger", "smaller"), ("bigger", "smaller"),
              ("wider", "narrower"))

_WORD = re.compile(r"[a-z0-9][a-z0-9'/-]*")


def caption_words(text: str) -> list[str]:
    """Lower-cased words of a caption (hyphenated words and "3/4" kept whole)."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """Words that name something visible: not function words, not taste words, not change words."""
    return [w for w in caption_words(text) if w not in _FUNCTION_WORDS and w not in VAGUE_WORDS
            and w not in _CHANGE_WORDS and not w.isdigit()]


def classify_caption(text: str) -> str:
    """``vague``, ``relative`` or ``absolute`` (see the module docstring); an empty caption is ``vague``."""
    content = content_words(text)
    if not content:
        return "vague"
    words = caption_words(text)
    if any(w in _CHANGE_WORDS or w in _COMPARATIVES for w in words):
        return "relative"
    return "absolute"


def caption_aspects(text: str) -> set[str]:
    """The coarse aspects (colour, pattern, sleeve, length, ...) a caption's visible words name."""
    found = set()
    for w in content_words(text):
        for aspect, pattern in _ASPECT_PATTERNS:
            if re.match(pattern, w):
                found.add(aspect)
                break
    return found


def contradicts(first: str, second: str) -> bool:
    """True if the two captions of one pair point an aspect in opposite directions ("darker" / "lighter")."""
    a, b = set(caption_words(first)), set(caption_words(second))
    return any((x in a and y in b and y not in a and x not in b) or (y in a and x in b and x not in a and y not in b)
               for x, y in _OPPOSITES)


def kind_shares(captions: Iterable[str]) -> dict:
    """Count and share of each kind among ``captions``, and of the absolute ones naming three or more aspects
    (close to a full description of the target)."""
    kinds = [(c, classify_caption(c)) for c in captions]
    counts = Counter(k for _, k in kinds)
    rich = sum(k == "absolute" and len(caption_aspects(c)) >= 3 for c, k in kinds)
    total = max(len(kinds), 1)
    return {"captions": len(kinds), **{k: {"count": counts[k], "share": counts[k] / total} for k in CAPTION_KINDS},
            "absolute_3_aspects": {"count": rich, "share": rich / total}}


def pair_statistics(pairs: Sequence[tuple[str, str]]) -> dict:
    """Fashion-IQ two-annotator figures: kinds of the joined query, the partial and contradiction proxies."""
    joined = Counter()
    both_concrete = missing = contradictions = one_vague = 0
    for first, second in pairs:
        k1, k2 = classify_caption(first), classify_caption(second)
        one_vague += (k1 == "vague") != (k2 == "vague")
        # The query joins both captions: it is vague only if both are, relative if either names a change.
        if k1 == k2 == "vague":
            joined["vague"] += 1
        elif "relative" in (k1, k2):
            joined["relative"] += 1
        else:
            joined["absolute"] += 1
        a1, a2 = caption_aspects(first), caption_aspects(second)
        if a1 and a2:
            both_concrete += 2
            missing += bool(a2 - a1) + bool(a1 - a2)
        contradictions += contradicts(first, second)
    n = max(len(pairs), 1)
    return {
        "pairs": len(pairs),
        "joined_query": {k: {"count": joined[k], "share": joined[k] / n} for k in CAPTION_KINDS},
        "one_vague_caption": {"count": one_vague, "share": one_vague / n},
        "partial_proxy": {"captions": both_concrete, "count": missing, "share": missing / max(both_concrete, 1)},
        "contradiction_proxy": {"pairs": len(pairs), "count": contradictions, "share": contradictions / n},
    }


def read_fashioniq_pairs(root: Path) -> list[tuple[str, str]]:
    """Every (caption 1, caption 2) of the train/val/test caption files of the three categories."""
    pairs = []
    for path in sorted((root / "captions").glob("cap.*.*.json")):
        pairs += [tuple(t["captions"]) for t in json.loads(path.read_text()) if len(t["captions"]) == 2]
    if not pairs:
        raise FileNotFoundError(f"no Fashion-IQ caption files (captions/cap.<category>.<split>.json) in {root}")
    return pairs


def read_shoes_captions(root: Path) -> list[str]:
    """Every relative caption of the Shoes file (in ROOT or ROOT/dataset)."""
    for folder in (root, root / "dataset"):
        path = folder / "relative_captions_shoes.json"
        if path.is_file():
            return [t["RelativeCaption"] for t in json.loads(path.read_text())]
    raise FileNotFoundError(f"no relative_captions_shoes.json in {root} or {root / 'dataset'}")


def measure(fashioniq: Path | None, shoes: Path | None) -> dict:
    """All figures for the folders given (either may be None)."""
    out: dict = {}
    if fashioniq is not None:
        pairs = read_fashioniq_pairs(fashioniq)
        out["fashioniq"] = {"per_caption": kind_shares([c for p in pairs for c in p]), **pair_statistics(pairs)}
    if shoes is not None:
        out["shoes"] = {"per_caption": kind_shares(read_shoes_captions(shoes))}
    return out


def format_report(result: dict) -> str:
    """The figures as Markdown lines."""
    lines = []
    for name, r in result.items():
        per = r["per_caption"]
        lines.append(f"{name}: {per['captions']} captions: " + ", ".join(
            f"{k} {100 * per[k]['share']:.1f} % ({per[k]['count']})" for k in CAPTION_KINDS)
            + f"; absolute naming 3+ aspects {100 * per['absolute_3_aspects']['share']:.1f} % "
              f"({per['absolute_3_aspects']['count']})")
        if "joined_query" in r:
            jq = r["joined_query"]
            lines.append(f"{name}: {r['pairs']} joined queries (c1 and c2): " + ", ".join(
                f"{k} {100 * jq[k]['share']:.1f} % ({jq[k]['count']})" for k in CAPTION_KINDS)
                + f"; pairs with exactly one vague caption {100 * r['one_vague_caption']['share']:.1f} % "
                  f"({r['one_vague_caption']['count']})")
            p, c = r["partial_proxy"], r["contradiction_proxy"]
            lines.append(f"{name}: captions leaving out an aspect the other annotator named: "
                         f"{100 * p['share']:.1f} % ({p['count']} of {p['captions']}); pairs contradicting each "
                         f"other: {100 * c['share']:.2f} % ({c['count']} of {c['pairs']})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep.caption_kinds",
                                description="Measure how real relative captions split into kinds (relative, "
                                            "absolute, vague) and the partial / mistake proxies.")
    p.add_argument("--fashioniq", type=Path, default=None,
                   help="Fashion-IQ folder with captions/cap.<category>.<split>.json (e.g. "
                        "../shared/benchmarks/fashioniq)")
    p.add_argument("--shoes", type=Path, default=None,
                   help="Shoes folder with relative_captions_shoes.json (in it or in its dataset/ folder)")
    p.add_argument("--output", type=Path, default=None, help="also write the figures as JSON to this file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.fashioniq is None and args.shoes is None:
        print("error: give --fashioniq DIR and/or --shoes DIR (the folders of the published caption files)",
              file=sys.stderr)
        return 2
    try:
        result = measure(args.fashioniq, args.shoes)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.output:
        from cti_ir.files import write_json_atomic

        write_json_atomic(args.output, result)
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
