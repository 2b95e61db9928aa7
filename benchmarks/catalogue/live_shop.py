"""The shop's side of ``bench_live_updates``: catalogue changes made with the real index commands, the catalogue
they should leave, and the checks over HTTP that a server serves exactly that.

Every change runs ``cti_ir.index``'s own command line (``main([...])``, in this process: the code of ``python -m
cti_ir.index add|remove|update``, without a Python start per change) and publishes one new index version:

- ``add``: two new photos (a catalogue photo mirrored and tinted) under ``new_photos/<category>/``, added with
  ``add --images new_photos/``;
- ``fields``: new prices for four products (one also changes its stock), and full product rows for the products
  added since the last such change, with ``update --products``;
- ``remove``: two products delisted with ``remove --ids`` (an added one's photo file is deleted too);
- ``photo``: an added product's photo replaced by another picture, re-embedded by ``update --images new_photos/``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageOps

#: One cycle of changes; the run repeats it (100 changes: 20 adds, 40 field changes, 30 removals, 10 photos).
CYCLE = ("add", "fields", "remove", "photo", "fields", "remove", "add", "fields", "remove", "fields")
FILTERS = ({}, {"in_stock": True}, {"price_min": 20, "price_max": 60}, {"size": "M"},
           {"in_stock": True, "price_max": 50}, {"brand": "Acme"})


def passes(product: dict, spec: dict) -> bool:
    """Whether a hit's product fields pass a filter of ``FILTERS`` (checked here, independently of the server)."""
    if spec.get("in_stock") is not None and product.get("in_stock") is not spec["in_stock"]:
        return False
    price = product.get("price")
    if ("price_min" in spec or "price_max" in spec) and price is None:
        return False
    if "price_min" in spec and price < spec["price_min"] or "price_max" in spec and price > spec["price_max"]:
        return False
    if "size" in spec and spec["size"].casefold() not in {s.casefold() for s in product.get("sizes") or []}:
        return False
    return "brand" not in spec or str(product.get("brand", "")).casefold() == spec["brand"].casefold()


class Shop:
    """An index folder being changed, and what it should hold after each change.

    ``rows`` are the product fields of every indexed product, ``removed`` the ids delisted, ``repriced`` the ids
    whose price changed, ``stable`` the products the clients search from (never removed), ``photo_changed`` the
    added products whose photo was replaced (with the path of the new one).
    """

    def __init__(self, index: Path, work: Path, checkpoint: Path, rows: dict[str, dict], stable_share: float = 0.2,
                 seed: int = 0):
        from cti_ir.index.catalogue_index import CatalogueIndex

        self.index, self.work, self.checkpoint = Path(index), Path(work), Path(checkpoint)
        self.new_photos = self.work / "new_photos"
        self.rng = random.Random(seed)
        served = CatalogueIndex(self.index)
        self.items = {it["image_id"]: it for it in served.items}
        self.rows = {i: dict(rows.get(i, {})) for i in self.items}
        self.version = served.version
        ids = sorted(self.items)
        self.stable = set(self.rng.sample(ids, max(1, int(len(ids) * stable_share))))
        self.removed: dict[str, float | None] = {}  # id -> its last price
        self.repriced: set[str] = set()
        self.added: list[str] = []
        self.unpriced: list[str] = []
        self.photo_changed: dict[str, str] = {}
        self.log: list[dict] = []

    # ------------------------------------------------------------------------------------------- the changes
    def apply(self, kind: str) -> dict:
        """Make one change of ``kind`` with the index command line; returns what it did (the new version too)."""
        from cti_ir.index.cli import main as index_main

        argv, what = getattr(self, f"_{kind}")()
        status = index_main([str(a) for a in argv])
        if status != 0:
            raise RuntimeError(f"python -m cti_ir.index {' '.join(map(str, argv))} failed with status {status}")
        from cti_ir.index.layout import read_index_info

        info = read_index_info(self.index)
        if info["version"] != self.version + 1:
            raise RuntimeError(f"{kind}: expected version {self.version + 1}, the index is at {info['version']}")
        if kind == "photo" and info.get("count") != len(self.items):
            raise RuntimeError("photo: the product count changed")
        self.version = info["version"]
        entry = {"kind": kind, "version": self.version, "count": info.get("count"), **what}
        self.log.append(entry)
        return entry

    def _add(self):
        made = []
        for _ in range(2):
            source = self.items[self.rng.choice(sorted(self.stable))]
            category = (source.get("categories") or ["other"])[0]
            image_id = f"{category}/new-{len(self.added) + len(made):05d}"
            path = self.new_photos / f"{image_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            ImageOps.mirror(_tinted(Image.open(source["path"]).convert("RGB"), self.rng)).save(path)
            made.append(image_id)
            self.items[image_id] = {"image_id": image_id, "path": str(path), "categories": [category]}
            self.rows[image_id] = {}
        self.added += made
        self.unpriced += made
        return (["add", "--index", self.index, "--images", self.new_photos, "--checkpoint", self.checkpoint,
                 "--workers", 0, "--no-progress"], {"added": made})

    def _fields(self):
        candidates = sorted(i for i in self.items if i not in self.unpriced and self.rows[i].get("price") is not None)
        changed = self.rng.sample(candidates, 4)
        for n, image_id in enumerate(changed):
            row = self.rows[image_id]
            row["price"] = round(row["price"] * self.rng.uniform(0.6, 1.4) + 0.01, 2)
            if n == 0:
                row["in_stock"] = not row.get("in_stock", False)
            self.repriced.add(image_id)
        for image_id in self.unpriced:  # the new arrivals get their shop fields
            self.rows[image_id] = {"title": f"new arrival {image_id}", "price": round(self.rng.uniform(15, 90), 2),
                                   "currency": "EUR", "in_stock": True, "brand": "Acme", "sizes": ["S", "M"]}
        rows = {i: self.rows[i] for i in changed + self.unpriced}
        what = {"repriced": changed, "new_rows": list(self.unpriced)}
        self.unpriced = []
        path = self.work / "changes.jsonl"
        path.write_text("".join(json.dumps({"id": i, **row}) + "\n" for i, row in rows.items()), encoding="utf-8")
        return ["update", "--index", self.index, "--products", path], what

    def _remove(self):
        added = [i for i in self.added if i in self.items and i not in self.unpriced and i not in self.photo_changed]
        pool = sorted(i for i in self.items if i not in self.stable and i not in self.unpriced)
        gone = ([self.rng.choice(added)] if added and len(self.removed) % 3 == 0 else [])
        gone += self.rng.sample([i for i in pool if i not in gone], 2 - len(gone))
        for image_id in gone:
            item = self.items.pop(image_id)
            self.removed[image_id] = self.rows.pop(image_id, {}).get("price")
            self.repriced.discard(image_id)
            if Path(item["path"]).is_relative_to(self.new_photos):
                Path(item["path"]).unlink()  # a delisted new arrival's photo goes, as a shop's would
        return ["remove", "--index", self.index, "--ids", *gone], {"removed": gone}

    def _photo(self):
        present = [i for i in self.added if i in self.items and i not in self.photo_changed]
        if not present:
            raise RuntimeError("photo: no added product left to change; the cycle adds before it changes a photo")
        image_id = self.rng.choice(present)
        path = Path(self.items[image_id]["path"])
        other = self.items[self.rng.choice(sorted(self.stable))]
        ImageOps.flip(_tinted(Image.open(other["path"]).convert("RGB"), self.rng)).save(path)
        self.photo_changed[image_id] = str(path)
        return (["update", "--index", self.index, "--images", self.new_photos, "--checkpoint", self.checkpoint,
                 "--workers", 0, "--no-progress"], {"photo_changed": image_id})


def _tinted(image: Image.Image, rng: random.Random) -> Image.Image:
    """The image with its colour channels scaled (a different photo of a similar product)."""
    scale = [rng.uniform(0.6, 1.2) for _ in range(3)]
    return Image.merge("RGB", [band.point(lambda v, s=s: min(255, int(v * s))) for band, s in
                               zip(image.split(), scale)])


# ------------------------------------------------------------------------------------------------ the checks
def verify(shop: Shop, post, get_status, texts: list[str]) -> dict:
    """After the last change: over HTTP, whether every search reflects the catalogue ``shop`` now holds.

    ``post(body) -> (status, answer)`` sends ``POST /api/search``; ``get_status()`` answers ``GET /api/status``.
    Checked: the served version and product count; every hit of every (text, filter) pair at k = 50 (not removed,
    its product fields as the shop set them, passing the filter); each repriced, added or removed product pinned by
    a filter on its exact price (found with its new price, or not found); each re-embedded photo found first when
    searched by that photo.
    """
    status = get_status()
    problems: list[str] = []
    if status["index"]["version"] != shop.version or status["index"]["products"] != len(shop.items):
        problems.append(f"status serves version {status['index']['version']} with {status['index']['products']} "
                        f"products; expected {shop.version} with {len(shop.items)}")
    hits_checked = 0
    for text in texts:
        for spec in FILTERS:
            code, answer = post({"text": text, "k": 50, "category": "all", **({"filters": spec} if spec else {})})
            if code != 200:
                problems.append(f"{text!r} {spec}: HTTP {code}")
                continue
            for hit in answer["hits"]:
                hits_checked += 1
                problems += _hit_problems(shop, hit, spec)
    pinned = _pinned_checks(shop, post, problems)
    photos = _photo_checks(shop, post, problems)
    return {"served_version": status["index"]["version"], "served_products": status["index"]["products"],
            "expected_version": shop.version, "expected_products": len(shop.items), "hits_checked": hits_checked,
            **pinned, **photos, "problems": problems[:50], "problem_count": len(problems)}


def _hit_problems(shop: Shop, hit: dict, spec: dict) -> list[str]:
    image_id, product = hit["image_id"], hit.get("product") or {}
    if image_id in shop.removed:
        return [f"removed product {image_id} returned"]
    want = shop.rows.get(image_id)
    if want is None:
        return [f"unknown product {image_id} returned"]
    out = []
    if product.get("price") != want.get("price") or product.get("in_stock") != want.get("in_stock"):
        out.append(f"{image_id}: served price/stock {product.get('price')}/{product.get('in_stock')}, the shop set "
                   f"{want.get('price')}/{want.get('in_stock')}")
    if not passes(product, spec):
        out.append(f"{image_id} does not pass {spec}")
    return out


def _pinned_checks(shop: Shop, post, problems: list[str]) -> dict:
    """Each changed product searched with a filter on its exact price: present products with their new price, and
    removed ones absent (searched at the last price they had)."""
    found = absent = 0
    present = sorted(i for i in shop.repriced | set(shop.added) if shop.rows.get(i, {}).get("price") is not None)
    for image_id in present:
        price = shop.rows[image_id]["price"]
        code, answer = post({"text": "a product", "k": 50, "category": "all",
                             "filters": {"price_min": price, "price_max": price}})
        hit = next((h for h in answer.get("hits", []) if h["image_id"] == image_id), None) if code == 200 else None
        if hit is None or (hit.get("product") or {}).get("price") != price:
            problems.append(f"{image_id} not found at its new price {price}")
        else:
            found += 1
    for image_id, price in sorted(shop.removed.items()):
        pin = {"filters": {"price_min": price, "price_max": price}} if price is not None else {}
        code, answer = post({"text": "a product", "k": 50, "category": "all", **pin})
        if code != 200 or any(h["image_id"] == image_id for h in answer["hits"]):
            problems.append(f"removed {image_id} still found (HTTP {code})")
        else:
            absent += 1
    return {"changed_products_found_with_new_price": found, "changed_products": len(present),
            "removed_products_absent": absent, "removed_products": len(shop.removed)}


def _photo_checks(shop: Shop, post, problems: list[str]) -> dict:
    """Each replaced photo, sent as the query image: its product comes first (its vector is the new photo's)."""
    import base64

    first = 0
    for image_id, path in sorted(shop.photo_changed.items()):
        if image_id not in shop.items:
            continue
        encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        code, answer = post({"image_base64": encoded, "k": 1, "category": "all"})
        top = answer["hits"][0] if code == 200 and answer.get("hits") else {}
        if top.get("image_id") != image_id:
            problems.append(f"{image_id}: its new photo finds {top.get('image_id')} first (HTTP {code})")
        else:
            first += 1
    return {"new_photos_found_first": first,
            "new_photos": sum(1 for i in shop.photo_changed if i in shop.items)}
