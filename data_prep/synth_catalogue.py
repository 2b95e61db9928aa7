"""Planning the synthetic catalogue: products, image ids, split pools and annotated triplets.

Planning is pure and cheap (no pixels): it fixes every product's attributes, id, file name, description and
render seed, and every triplet's captions. Rendering then only has to draw ``(attributes, render_seed)`` pairs,
which is why the output does not depend on the number of worker processes.

Each (dataset, category, split) draws from its own ``random.Random`` seeded with a descriptive string
("<seed>/fashioniq/dress/val"): changing one size does not reshuffle the others, and string seeds are hashed
with SHA-512 by :mod:`random`, so they do not depend on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from data_prep.phrasing.catalogue import apply_phrasing
from data_prep.phrasing.catalogue import phrasing_share as resolve_phrasing_share
from data_prep.synth_attributes import GARMENT_CATEGORIES, SHOE_CATEGORY, SHOE_FOLDERS, mutate, sample_product
from data_prep.synth_caption_kinds import can_be_partial, draw_kinds, is_relative_only, kind_captions
from data_prep.synth_captions import describe_product, fashioniq_captions, shoes_caption, short_shoe_caption
from data_prep.synth_open_domain import sample_scene, scene_caption

FASHIONIQ_SPLITS = ("train", "val", "test")
SHOES_SPLITS = ("train", "test")
OPEN_DOMAIN_SPLITS = ("train", "validation")

# Pool composition per triplet, chosen to match the real data: each candidate is reused by ~1.6 triplets
# (dress train: 3,874 candidates for 5,985 triplets), every target is unique, and the split pool holds extra
# images that are in no triplet, giving a pool of ~1.9x the triplets (dress val: 3,817 images, 2,017 triplets).
CANDIDATES_PER_TRIPLET = 0.62
FASHIONIQ_DISTRACTORS_PER_TRIPLET = 0.28
# Shoes: 10,000 train names for 8,990 train triplets, but 4,658 eval names for only 1,761 eval triplets.
SHOES_DISTRACTORS_PER_TRIPLET = MappingProxyType({"train": 0.1, "test": 1.0})
# Share of distractors that copy a target's attributes exactly (same-looking product, different photo), so
# retrieval cannot be solved by attribute matching alone and tests can check photos differ.
CLONE_SHARE = 0.05
# Share of Shoes images that also get a single-image caption (real: 3,600 of 14,658).
SHOES_CAPTIONED_SHARE = 0.25


@dataclass(frozen=True)
class SizeSpec:
    """How much to generate: triplets per Fashion-IQ category (train, val, test), Shoes triplets (train, test)
    and open-domain images (train, validation)."""

    fashioniq: tuple[int, int, int]
    shoes: tuple[int, int]
    open_domain: tuple[int, int]


SIZES: Mapping[str, SizeSpec] = MappingProxyType(
    {
        "small": SizeSpec((120, 40, 40), (200, 60), (300, 60)),
        "default": SizeSpec((1500, 400, 400), (2000, 500), (3000, 600)),
        "large": SizeSpec((6000, 2000, 2000), (9000, 1800), (20000, 4000)),
    }
)


@dataclass
class Product:
    """One catalogue image: its id, path relative to its dataset folder, split, attributes and render seed."""

    image_id: str
    file_name: str
    split: str
    attributes: dict
    render_seed: int
    description: str


@dataclass
class Triplet:
    """One annotated pair; ``claims[i]`` lists the attributes caption ``i`` was generated from.

    ``kind`` is the caption kind (:mod:`data_prep.synth_caption_kinds`), None in a relative-only catalogue (whose
    files stay byte-identical to those written before kinds existed); ``details`` holds what a kind records beside
    the claims (``unnamed`` aspects of a partial caption, the ``wrong`` statement of a mistake).
    """

    category: str
    split: str
    candidate: str
    target: str
    captions: list[str]
    claims: list[list[str]]
    kind: str | None = None
    details: dict = field(default_factory=dict)


@dataclass
class Dataset:
    """A planned Fashion-IQ or Shoes dataset: products, triplets and split pools (image ids, pool order)."""

    products: list[Product] = field(default_factory=list)
    triplets: list[Triplet] = field(default_factory=list)
    pools: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (category, split) -> ids
    single_captions: list[tuple[str, str]] = field(default_factory=list)  # Shoes only: (image_id, caption)


@dataclass
class Scene:
    """One open-domain image: file name inside its split folder, caption, scene dict and render seed."""

    split: str
    file_name: str
    text: str
    scene: dict
    render_seed: int


def pool_sizes(n_triplets: int, distractors_per_triplet: float) -> tuple[int, int, int]:
    """(candidates, targets, distractors) in the pool of a split with ``n_triplets`` triplets."""
    if n_triplets <= 0:
        return 0, 0, 0
    n_cand = max(1, min(n_triplets, round(CANDIDATES_PER_TRIPLET * n_triplets)))
    return n_cand, n_triplets, round(distractors_per_triplet * n_triplets)


def expected_image_count(spec: SizeSpec) -> int:
    """Number of images a size produces, computed without planning (used to check the sizes)."""
    fiq = sum(sum(pool_sizes(n, FASHIONIQ_DISTRACTORS_PER_TRIPLET)) for n in spec.fashioniq) * len(GARMENT_CATEGORIES)
    shoes = sum(sum(pool_sizes(n, SHOES_DISTRACTORS_PER_TRIPLET[s])) for n, s in zip(spec.shoes, SHOES_SPLITS))
    return fiq + shoes + sum(spec.open_domain)


def _plan_pool(category: str, n_triplets: int, distractors_per_triplet: float, rng: random.Random
               ) -> tuple[list[dict], list[tuple[int, int]]]:
    """Products of one split pool and the (candidate index, target index) of each triplet into that list."""
    n_cand, _, n_dis = pool_sizes(n_triplets, distractors_per_triplet)
    products = [sample_product(category, rng) for _ in range(n_cand)]
    pairs = []
    for i in range(n_triplets):
        # Every candidate is used at least once, then reused at random.
        c = i if i < n_cand else rng.randrange(n_cand)
        products.append(mutate(products[c], rng))
        pairs.append((c, len(products) - 1))
    targets = [products[t] for _, t in pairs]
    n_clone = max(1, round(CLONE_SHARE * n_dis)) if n_dis else 0
    for j in range(n_dis):
        if j < n_clone:
            products.append(dict(rng.choice(targets)))
        elif rng.random() < 0.5:
            # Near-duplicate of another pool product: a hard negative, as in real catalogues.
            products.append(mutate(rng.choice(products), rng))
        else:
            products.append(sample_product(category, rng))
    return products, pairs


class _AsinFactory:
    """Unique, deterministic ASIN-like ids: "B00" + 7 uppercase alphanumerics (real ones look like B00AKLK08G)."""

    _ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._used: set[str] = set()

    def new(self) -> str:
        while True:
            asin = "B00" + "".join(self._rng.choice(self._ALPHABET) for _ in range(7))
            if asin not in self._used:
                self._used.add(asin)
                return asin


def apply_caption_mix(triplets: list[Triplet], pairs: list[tuple[dict, dict]], mix: Mapping[str, float] | None,
                      rng: random.Random) -> None:
    """Draw a caption kind per triplet and re-caption those that are not ``relative``, in place.

    ``rng`` is the kinds' own stream: the planning stream, hence every product, pool and relative caption, is the
    same as in the relative-only catalogue. A relative-only (or no) mix leaves the triplets untouched.
    """
    if mix is None or is_relative_only(mix):
        return
    kinds = draw_kinds([can_be_partial(c, t) for c, t in pairs], mix, rng)
    for triplet, (candidate, target), kind in zip(triplets, pairs, kinds):
        triplet.kind = kind
        if kind == "relative":
            continue
        caps, details = kind_captions(kind, candidate, target, rng, len(triplet.captions))
        triplet.captions, triplet.claims, triplet.details = [c[0] for c in caps], [c[1] for c in caps], details


def plan_fashioniq(seed: int, spec: SizeSpec, caption_mix: Mapping[str, float] | None = None,
                   phrasing: str = "none", phrasing_share: float | None = None) -> Dataset:
    """Plan the Fashion-IQ part: per category and split a pool of products and two-caption triplets.

    ``caption_mix`` ({kind: share}, :mod:`data_prep.synth_caption_kinds`) gives triplets other caption kinds than
    relative; None keeps the relative-only catalogue. ``phrasing`` (``none``, ``train``, ``heldout``) rewrites a
    share (``phrasing_share``, default per mode) of the relative captions in everyday styles
    (:mod:`data_prep.phrasing.catalogue`); ``none`` changes nothing.
    """
    share = resolve_phrasing_share(phrasing, phrasing_share)
    data = Dataset()
    asins = _AsinFactory(random.Random(f"{seed}/fashioniq/asin"))
    for category in GARMENT_CATEGORIES:
        for split, n_triplets in zip(FASHIONIQ_SPLITS, spec.fashioniq):
            rng = random.Random(f"{seed}/fashioniq/{category}/{split}")
            products, pairs = _plan_pool(category, n_triplets, FASHIONIQ_DISTRACTORS_PER_TRIPLET, rng)
            ids = [asins.new() for _ in products]
            for asin, attrs in zip(ids, products):
                data.products.append(Product(asin, f"images/{asin}.png", split, attrs, rng.getrandbits(63),
                                             describe_product(attrs, rng)))
            triplets = []
            for c, t in pairs:
                caps = fashioniq_captions(products[c], products[t], rng)
                triplets.append(Triplet(category, split, ids[c], ids[t], [x[0] for x in caps], [x[1] for x in caps]))
            attributes = [(products[c], products[t]) for c, t in pairs]
            apply_caption_mix(triplets, attributes, caption_mix,
                              random.Random(f"{seed}/fashioniq/{category}/{split}/kinds"))
            apply_phrasing(triplets, attributes, phrasing, share, split,
                           random.Random(f"{seed}/fashioniq/{category}/{split}/phrasing"))
            rng.shuffle(triplets)  # real files are not grouped by candidate
            data.triplets += triplets
            pool = list(ids)
            rng.shuffle(pool)
            data.pools[(category, split)] = pool
    return data


def plan_shoes(seed: int, spec: SizeSpec, caption_mix: Mapping[str, float] | None = None,
               phrasing: str = "none", phrasing_share: float | None = None) -> Dataset:
    """Plan the Shoes part: train/test pools with one-caption triplets, file names in the Attribute Discovery
    layout (``womens_<type>/<0|1>/img_womens_<type>_<n>.jpg``) and single-image captions for a subset.
    ``caption_mix`` and ``phrasing`` as in :func:`plan_fashioniq`."""
    share = resolve_phrasing_share(phrasing, phrasing_share)
    data = Dataset()
    planned: list[tuple[str, list[dict], list[tuple[int, int]], random.Random]] = []
    for split, n_triplets in zip(SHOES_SPLITS, spec.shoes):
        rng = random.Random(f"{seed}/shoes/{split}")
        products, pairs = _plan_pool(SHOE_CATEGORY, n_triplets, SHOES_DISTRACTORS_PER_TRIPLET[split], rng)
        planned.append((split, products, pairs, rng))

    # Number images per type folder over both splits in a shuffled order, as in the real data where train and
    # eval names interleave.
    naming = random.Random(f"{seed}/shoes/names")
    order = [(s, i) for s, (_, products, _, _) in enumerate(planned) for i in range(len(products))]
    naming.shuffle(order)
    counters: dict[str, int] = {}
    names: dict[tuple[int, int], tuple[str, str]] = {}
    for s, i in order:
        folder = SHOE_FOLDERS[planned[s][1][i]["type"]]
        counters[folder] = counters.get(folder, 0) + 1
        base = f"img_womens_{folder}_{counters[folder]}.jpg"
        names[(s, i)] = (base, f"womens_{folder}/{naming.choice('01')}/{base}")

    for s, (split, products, pairs, rng) in enumerate(planned):
        ids = [names[(s, i)][0] for i in range(len(products))]
        for i, attrs in enumerate(products):
            data.products.append(Product(ids[i], names[(s, i)][1], split, attrs, rng.getrandbits(63),
                                         describe_product(attrs, rng)))
        triplets = []
        for c, t in pairs:
            text, claims = shoes_caption(products[c], products[t], rng)
            triplets.append(Triplet(SHOE_CATEGORY, split, ids[c], ids[t], [text], [claims]))
        attributes = [(products[c], products[t]) for c, t in pairs]
        apply_caption_mix(triplets, attributes, caption_mix, random.Random(f"{seed}/shoes/{split}/kinds"))
        apply_phrasing(triplets, attributes, phrasing, share, split, random.Random(f"{seed}/shoes/{split}/phrasing"))
        rng.shuffle(triplets)
        data.triplets += triplets
        pool = list(ids)
        rng.shuffle(pool)
        data.pools[(SHOE_CATEGORY, split)] = pool

    captioning = random.Random(f"{seed}/shoes/single_captions")
    chosen = captioning.sample(data.products, round(SHOES_CAPTIONED_SHARE * len(data.products)))
    data.single_captions = [(p.image_id, short_shoe_caption(p.attributes, captioning)) for p in chosen]
    return data


def plan_open_domain(seed: int, spec: SizeSpec) -> list[Scene]:
    """Plan the open-domain scenes of both splits with their captions."""
    scenes = []
    for split, n in zip(OPEN_DOMAIN_SPLITS, spec.open_domain):
        rng = random.Random(f"{seed}/open_domain/{split}")
        for i in range(n):
            scene = sample_scene(rng)
            scenes.append(Scene(split, f"{i:06d}.png", scene_caption(scene, rng), scene, rng.getrandbits(63)))
    return scenes
