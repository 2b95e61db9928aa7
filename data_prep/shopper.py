"""A simulated shopper for multi-turn search sessions on a generated catalogue (after Guo et al., NeurIPS 2018).

A session looks for one target product. It starts from a random other product of the target's category; each
turn the shopper names at most two aspects in which the current reference differs from the target, in their own
words (a :data:`Phrasing`, by default the held-apart phrasings of :mod:`data_prep.phrasing`, which no training
catalogue ever carries); the search system answers with its top results; the shopper picks the shown product that
agrees with the target on the most attributes (the target itself when it is shown) as the next reference.

    products = load_products("data/fashioniq", "data/shoes")
    sessions = draw_sessions(products, per_category=300, rng=random.Random(0))
    run_sessions(sessions, search, turns=5)        # search(sessions, texts) -> one list of image ids per session
    summarise(sessions, turns=5)["attribute_success"]

The search system sees only what a shop would: the reference product's id, the shopper's text and the session's
earlier turns (:attr:`ShopperSession.turns`); the attributes stay with the simulator. Training can draw
sessions from the same module (the generator knows every attribute, so sessions are free training data).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.synth_attributes import (
    aspects,
    attribute_names,
    differing_aspects,
    differing_attributes,
)

# (reference attributes, target attributes, aspects to name, rng) -> the shopper's words
Phrasing = Callable[[Mapping, Mapping, Sequence[str], random.Random], str]
# (the sessions still searching, their texts this turn) -> the image ids shown to each, best first
SearchFunction = Callable[[Sequence["ShopperSession"], Sequence[str]], Sequence[Sequence[str]]]

MAX_ASPECTS_PER_TURN = 2


def heldout_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the held-apart phrasings of :mod:`data_prep.phrasing` (never in a training catalogue)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="heldout", aspects=list(named)).text


def training_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the training phrasings (for sessions used as training data, never for evaluation)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="train", aspects=list(named)).text


def catalogue_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change as the generator's own relative captions word it ("is darker and has long sleeves"): a third
    family of words, for checking what reads the requests against phrasings it was not written for."""
    from data_prep.synth_captions import relative_caption

    plural = str(target["category"]) == "shoes" and rng.random() < 0.6
    return relative_caption(reference, target, list(named), rng, plural)[0]


def blind_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the blind phrasings of :mod:`data_prep.phrasing` (written without seeing the request reader;
    evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="blind", aspects=list(named)).text


def stranger_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the stranger phrasings of :mod:`data_prep.phrasing` (written without seeing the request reader
    or the earlier sets' results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="stranger", aspects=list(named)).text


def newcomer_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the newcomer phrasings of :mod:`data_prep.phrasing` (written without seeing the request reader
    or any results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="newcomer", aspects=list(named)).text


def passerby_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the passerby phrasings of :mod:`data_prep.phrasing` (written without seeing the request reader,
    the other sets or any results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="passerby", aspects=list(named)).text


def latecomer_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the latecomer phrasings of :mod:`data_prep.phrasing` (written without seeing the request
    reader, the other sets or any results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="latecomer", aspects=list(named)).text


def traveller_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the traveller phrasings of :mod:`data_prep.phrasing` (shoppers writing in a second language or
    through a translator; written without seeing the request reader, the other sets or any results; evaluation
    only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="traveller", aspects=list(named)).text


def caller_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the caller phrasings of :mod:`data_prep.phrasing` (shoppers dictating to a phone's voice
    assistant; written without seeing the request reader, the other sets or any results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="caller", aspects=list(named)).text


def gifter_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the gifter phrasings of :mod:`data_prep.phrasing` (shoppers buying for someone else; written
    without seeing the request reader, the other sets or any results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="gifter", aspects=list(named)).text


def returner_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the returner phrasings of :mod:`data_prep.phrasing` (shoppers writing to customer service to
    exchange or return what they bought; written without seeing the request reader, the other sets or any results;
    evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="returner", aspects=list(named)).text


def texter_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the texter phrasings of :mod:`data_prep.phrasing` (shoppers messaging a friend, a stylist or a
    shop's chat assistant in chat shorthand; written without seeing the request reader, the other sets or any
    results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="texter", aspects=list(named)).text


def reviewer_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the reviewer phrasings of :mod:`data_prep.phrasing` (shoppers writing their request as a
    review of the product in the photo; written without seeing the request reader, the other sets or any results;
    evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="reviewer", aspects=list(named)).text


def comparer_phrasing(reference: Mapping, target: Mapping, named: Sequence[str], rng: random.Random) -> str:
    """The change in the comparer phrasings of :mod:`data_prep.phrasing` (shoppers describing the change against
    things they own, have seen or remember; written without seeing the request reader, the other sets or any
    results; evaluation only)."""
    from data_prep.phrasing import paraphrase

    return paraphrase(reference, target, rng, phrasing_set="comparer", aspects=list(named)).text


PHRASINGS: dict[str, Phrasing] = {"heldout": heldout_phrasing, "train": training_phrasing,
                                  "catalogue": catalogue_phrasing, "blind": blind_phrasing,
                                  "stranger": stranger_phrasing, "newcomer": newcomer_phrasing,
                                  "passerby": passerby_phrasing, "latecomer": latecomer_phrasing,
                                  "traveller": traveller_phrasing, "caller": caller_phrasing,
                                  "gifter": gifter_phrasing, "returner": returner_phrasing,
                                  "texter": texter_phrasing, "reviewer": reviewer_phrasing,
                                  "comparer": comparer_phrasing}


def load_products(*roots: str | Path) -> dict[str, dict]:
    """Image id -> attribute dict (with ``category``) from each root's ``product_descriptions.jsonl``.

    Raises ``FileNotFoundError`` naming the root when it has no such file (a real dataset has no attributes).
    """
    products: dict[str, dict] = {}
    for root in roots:
        root = Path(root)
        path = next((p for p in (root / "product_descriptions.jsonl", root / "dataset" / "product_descriptions.jsonl")
                     if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"{root} has no product_descriptions.jsonl: the simulated shopper needs the "
                                    f"generator's attributes (python -m data_prep.synth)")
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    products[row["image_id"]] = {**row["attributes"], "category": row["category"]}
    return products


def agreement(a: Mapping, b: Mapping) -> int:
    """How many attributes two products of one category share."""
    return sum(a.get(n) == b.get(n) for n in attribute_names(str(b["category"])))


def wrong_attributes(reference: Mapping, target: Mapping) -> int:
    """How many attributes of ``reference`` still differ from ``target``."""
    return len(differing_attributes(_without_category(reference), _without_category(target)))


def _without_category(product: Mapping) -> dict:
    return {k: v for k, v in product.items() if k != "category"}


@dataclass
class Turn:
    """One turn of a session as the search system sees it."""

    reference: str                  # the product the shopper started this turn from
    text: str                       # what the shopper asked for ("" when nothing differs any more)
    shown: tuple[str, ...] = ()     # what the system showed, best first
    picked: str | None = None       # the shown product the shopper took as the next reference


@dataclass
class ShopperSession:
    """One simulated shopper looking for ``target`` (see the module's docstring)."""

    target: str
    start: str
    products: Mapping[str, Mapping]
    rng: random.Random
    phrasing: Phrasing = heldout_phrasing
    turns: list[Turn] = field(default_factory=list)
    found_at: int | None = None            # first turn (1-based) whose results held the target
    matched_at: int | None = None          # first turn whose results held a product with every target attribute
    wrong_after: list[int] = field(default_factory=list)   # attributes still wrong after each turn's pick

    @property
    def reference(self) -> str:
        """The product the next turn starts from."""
        return self.turns[-1].picked if self.turns else self.start

    @property
    def done(self) -> bool:
        """Whether the target was shown (the shopper stops there)."""
        return self.found_at is not None

    def request(self) -> str:
        """This turn's words: at most two aspects in which the reference differs from the target ("" if none)."""
        reference, target = self.products[self.reference], self.products[self.target]
        differing = differing_aspects(reference, target)
        if not differing:
            return ""  # a look-alike with every attribute of the target: "like this" is all there is to say
        named = self.rng.sample(differing, min(MAX_ASPECTS_PER_TURN, len(differing)))
        order = [a for a in aspects(str(target["category"])) if a in named]
        return self.phrasing(reference, target, order, self.rng)

    def observe(self, text: str, shown: Sequence[str]) -> str:
        """Record a turn's results and pick the next reference: the target if shown, else the closest product.

        Ties go to the higher-ranked product; with nothing shown the reference stays.
        """
        target = self.products[self.target]
        turn_number = len(self.turns) + 1
        shown = tuple(shown)
        if self.target in shown:
            picked = self.target
            self.found_at = turn_number
        elif shown:
            picked = max(shown, key=lambda i: (agreement(self.products[i], target), -shown.index(i)))
        else:
            picked = self.reference
        if self.matched_at is None and any(wrong_attributes(self.products[i], target) == 0 for i in shown):
            self.matched_at = turn_number
        self.turns.append(Turn(self.reference, text, shown, picked))
        self.wrong_after.append(wrong_attributes(self.products[picked], target))
        return picked


def draw_sessions(products: Mapping[str, Mapping], per_category: int, rng: random.Random,
                  categories: Sequence[str] | None = None, phrasing: Phrasing = heldout_phrasing,
                  candidates: Sequence[str] | None = None) -> list[ShopperSession]:
    """``per_category`` sessions for each category: a random target and a random other start of its category.

    ``candidates`` restricts targets and starts to some products (e.g. those an index holds). Each session gets
    its own random stream drawn from ``rng``, so a session's words do not depend on the others.
    """
    by_category: dict[str, list[str]] = {}
    for image_id in (candidates if candidates is not None else products):
        by_category.setdefault(str(products[image_id]["category"]), []).append(image_id)
    sessions = []
    for category in (categories if categories is not None else sorted(by_category)):
        ids = sorted(by_category.get(category, ()))
        if len(ids) < 2:
            raise ValueError(f"category {category!r} has {len(ids)} products; a session needs at least two")
        for _ in range(per_category):
            target, start = rng.sample(ids, 2)
            sessions.append(ShopperSession(target, start, products, random.Random(rng.getrandbits(64)), phrasing))
    return sessions


def run_sessions(sessions: Sequence[ShopperSession], search: SearchFunction, turns: int = 5) -> None:
    """Play every session for ``turns`` turns in lock step (one ``search`` call per turn for all of them).

    A session whose target was shown stops; ``search`` gets the sessions still going and their texts.
    """
    for _ in range(turns):
        active = [s for s in sessions if not s.done]
        if not active:
            return
        texts = [s.request() for s in active]
        shown = search(active, texts)
        if len(shown) != len(active):
            raise ValueError(f"the search answered {len(shown)} sessions, expected {len(active)}")
        for session, text, ids in zip(active, texts, shown):
            session.observe(text, ids)


def summarise(sessions: Sequence[ShopperSession], turns: int) -> dict:
    """Success rates after each turn (``[t-1]`` = within ``t`` turns) and attributes still wrong per turn.

    ``target_success``: the target itself was shown; ``attribute_success``: a product with every attribute of
    the target was shown (the target or a look-alike); ``wrong_attributes``: the mean number of attributes in
    which the shopper's reference differs from the target after each turn (0 once the target was found), with
    the start at index 0.
    """
    n = len(sessions)
    if n == 0:
        raise ValueError("no sessions to summarise")

    def share(turn_of) -> list[float]:
        return [sum(1 for s in sessions if turn_of(s) is not None and turn_of(s) <= t) / n
                for t in range(1, turns + 1)]

    wrong = [[wrong_attributes(s.products[s.start], s.products[s.target]) for s in sessions]]
    for t in range(turns):
        wrong.append([s.wrong_after[t] if t < len(s.wrong_after) else 0 for s in sessions])
    return {"sessions": n, "turns": turns,
            "target_success": share(lambda s: s.found_at),
            "attribute_success": share(lambda s: s.matched_at),
            "wrong_attributes": [sum(w) / n for w in wrong]}
