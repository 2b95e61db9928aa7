"""The search engine: a checkpoint and a catalogue index loaded once, then image, text or composed queries.

```python
from cti_ir.serve.engine import SearchEngine
engine = SearchEngine("runs/stage3/best", "index/")
hits = engine.search(image=Image.open("dress.jpg"), text="is red and has long sleeves", k=10)
hits.image_weight, hits.text_weight, [(h.image_id, h.score, h.path) for h in hits.hits]
```

"Similar products" (:meth:`SearchEngine.similar`) is an image-only search for products that look like a photo or a
catalogue product. With an adapted checkpoint (``python -m training.adapt``) it can use the adapted image encoder at
any granularity that has an index of its own (``similar_indexes``), while composed queries keep the space of the
main index.

Serving many users at once goes through :meth:`SearchEngine.search_batch`: queries checked one by one
(:meth:`SearchEngine.prepare`, which raises :class:`QueryError` naming the parameter at fault) are answered together,
with one image-encoder pass, one text-encoder pass and one FAISS search per category for the whole batch
(``cti_ir.serve.batching`` groups concurrent requests into such batches).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from cti_ir.index.catalogue_index import CatalogueIndex, IndexMismatchError, check_compatible
from cti_ir.index.english_words import load_word_list
from cti_ir.index.pixel_cache import PixelPipeline
from cti_ir.index.request_reading import read_for_engine
from cti_ir.serve.reading_cache import RequestReadingCache
from cti_ir.index.searching import open_index
from cti_ir.model.adapter_files import granularity_fingerprint, match_index_granularity
from cti_ir.model.inference import load_inference_model
from cti_ir.serve import session_search, stored_references
from cti_ir.serve.live_index import watch_engine_index
from cti_ir.serve.session import HistoryError, Session, SessionPlan
from cti_ir.serve.session_search import ALL_CATEGORIES, SAME_CATEGORY
from cti_ir.serve.upload_cache import DEFAULT_UPLOAD_CACHE_MB, UploadCache, upload_key
from cti_ir.serve.query_input import (  # noqa: F401 (part of the engine's API: callers import them from here)
    MAX_K, MAX_TEXT_CHARS, QueryError, _normalised_weights, brief_repr, parse_image_weight, parse_k)


@dataclass
class Hit:
    """One result."""

    id: int                # position in the index
    image_id: str          # product id
    path: str
    score: float           # cosine similarity to the query
    categories: list[str] = field(default_factory=list)
    description: str = ""
    product: dict = field(default_factory=dict)   # the shop's fields (title, price, in_stock, ...), if attached


@dataclass
class SearchResult:
    """Results of one query and how it was composed."""

    hits: list[Hit]
    mode: str              # "composed" | "image" | "text" | "similar"
    image_weight: float    # weight the reference image got (1.0 image-only, 0.0 text-only)
    text_weight: float
    text: str = ""         # the text actually used (cleaned, possibly cut)
    notes: list[str] = field(default_factory=list)   # e.g. "text was cut to 1000 characters"
    category: str | None = None   # the category searched (None: every category)
    carried: list[str] = field(default_factory=list)  # what a session carried into this search ("colour: black")
    category_guess: Any = None    # an uploaded photo's guessed category (cti_ir.index.category_model.CategoryGuess)


@dataclass
class SearchQuery:
    """One checked query, ready to be answered alone or in a batch (made by :meth:`SearchEngine.prepare` or
    :meth:`SearchEngine.prepare_similar`)."""

    pixels: torch.Tensor | None          # the preprocessed reference image (C, H, W), or None
    text: str                            # cleaned text ("" for none)
    k: int
    category: str | None
    weights: tuple[float, float] | None  # manual (w_img, w_txt), summing to one; None: the composer decides
    notes: list[str] = field(default_factory=list)
    exclude: str | None = None           # a product id left out of the results (the reference product itself)
    similar: bool = False                # "more like this": image only, in the similar-products index below
    granularity: str | None = None       # that index's granularity (similar queries only)
    vector: torch.Tensor | None = None   # a catalogue product's stored vector, used instead of encoding pixels
                                         # (the reference of a composed query, or of "more like this")
    plan: SessionPlan | None = None      # a shopping session's constraints and seen products (session_search)
    filters: Any = None                  # a checked product-field filter (cti_ir.index.filters.ProductFilter)
    upload_key: Any = None               # the reference photo's key in the engine's upload cache (upload_cache)

    @property
    def mode(self) -> str:
        """``"composed"``, ``"image"``, ``"text"`` or ``"similar"``."""
        if self.similar:
            return "similar"
        if self.pixels is not None or self.vector is not None:
            return "composed" if self.text else "image"
        return "text"


def clean_text(text: str | None) -> tuple[str, list[str]]:
    """Normalise a modification text: Unicode NFC, control characters removed, whitespace collapsed, length cut."""
    notes: list[str] = []
    if not text:
        return "", notes
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        notes.append(f"the text was cut to its first {MAX_TEXT_CHARS} characters")
    return text, notes


class SearchEngine:
    """Composed text-plus-image search over a catalogue index."""

    def __init__(self, checkpoint: str | Path, index: str | Path, device: str = "cpu", mmap: bool = True,
                 similar_indexes: Sequence[str | Path] = (), backend: str = "torch",
                 onnx_dir: str | Path | None = None, read_requests: bool = True, threads: int | None = None,
                 upload_cache_mb: float = DEFAULT_UPLOAD_CACHE_MB):
        # Requests the reader understands fully go to the text encoder in one canonical wording (prepare).
        self.read_requests = bool(read_requests)
        self.readings = RequestReadingCache()  # what the reader made of each recent text (cti_ir.serve.reading_cache)
        # What was made of each recent reference photo (cti_ir.serve.upload_cache): decoded and encoded once.
        self.uploads = UploadCache(max_bytes=int(upload_cache_mb * 1024 * 1024))
        if self.read_requests:
            load_word_list()  # the reader's English words, loaded here so that no request waits for them
        # FAISS threads per search, set in each thread that searches (see _use_search_threads); None: FAISS's own.
        self.threads = threads
        # The towers on the inference backend (cti_ir.model.inference: torch, onnx, onnx-int8, auto), a text cache.
        self.model = load_inference_model(checkpoint, backend, device=device, onnx_dir=onnx_dir)
        # The model's preprocessing with its float half in NumPy (same pixels, less per-query overhead), when the
        # transform is the usual PIL stage + ToTensor + Normalize; else the transform itself.
        self.pixel_pipeline = PixelPipeline.of(self.model.preprocess)
        self.index = open_index(index, mmap=mmap)  # FAISS, or the Milvus collection the index records
        # "More like this" defaults to the space the adapted checkpoint names as its default (training.adapt
        # --default-granularity), read before the main index's granularity replaces it.
        self.similar_default = getattr(getattr(self.model, "adapters", None), "default", None)
        # An adapted checkpoint serves several embedding spaces: composed queries use the one the index was built in.
        self.granularity = match_index_granularity(self.model, self.index.info.get("model_fingerprint"))
        check_compatible(self.index.info, self.model)
        # Image-only "similar products" indexes by granularity; the main index serves its own granularity too.
        self.similar_indexes: dict[str | None, CatalogueIndex] = {self.granularity: self.index}
        for folder in similar_indexes:
            extra = CatalogueIndex(folder, mmap=mmap)
            self.similar_indexes[self._granularity_of(extra, folder)] = extra
        # A changed index folder (a new version) is picked up while serving: cti_ir.serve.live_index.
        self.index_watcher = watch_engine_index(self, index, mmap)

    @property
    def categories(self) -> list[str]:
        return self.index.categories

    def _granularity_of(self, index: CatalogueIndex, folder) -> str:
        adapters = getattr(self.model, "adapters", None)
        fingerprint = index.info.get("model_fingerprint")
        for name in adapters.names if adapters is not None else []:
            if granularity_fingerprint(adapters, name) == fingerprint:
                return name
        raise IndexMismatchError(
            f"the similar-products index {folder} was built with model {fingerprint}, which is not one of this "
            f"checkpoint's granularities; build it with `python -m cti_ir.index build --checkpoint CHECKPOINT "
            f"--granularity G ...` using this checkpoint")

    @property
    def similar_granularities(self) -> list[str | None]:
        """The granularities "similar products" can use (None: a checkpoint without adapters), the default first.

        The default is the checkpoint's own default granularity when it has an index, else the main index's.
        """
        names = list(self.similar_indexes)
        return sorted(names, key=lambda g: (g != self.similar_default, g != self.granularity, str(g)))

    def similar(self, image: Image.Image | None = None, image_id: str | None = None, k: Any = 10,
                category: str | None = None, granularity: str | None = None) -> SearchResult:
        """Products that look like ``image``, or like the catalogue product ``image_id`` (left out of the results).

        Image only, with the image encoder at ``granularity`` (default: the first of ``similar_granularities``);
        a catalogue product's stored vector is used as it is, nothing is decoded or encoded. Raises
        :class:`QueryError` naming the parameter at fault.
        """
        return self.submit(self.prepare_similar(image, image_id, k, category, granularity))

    def prepare_similar(self, image: Image.Image | None = None, image_id: str | None = None, k: Any = 10,
                        category: str | None = None, granularity: str | None = None,
                        pixels: torch.Tensor | None = None) -> SearchQuery:
        """Check a "more like this" query (see :meth:`similar`) for :meth:`search_batch`.

        ``pixels`` is an image already preprocessed by :meth:`preprocess` (a page keeps an upload's pixels).
        """
        k = parse_k(k)
        available = self.similar_granularities
        if granularity in (None, "", "default"):
            granularity = available[0]
        if granularity not in self.similar_indexes:
            shown = ", ".join(str(g) for g in available)
            raise QueryError(f"no similar-products index for granularity {brief_repr(granularity)}; available: "
                             f"{shown}", "granularity")
        index = self.similar_indexes[granularity]
        if category and category not in index.categories:
            raise QueryError(f"unknown category {brief_repr(category)}; choose one of {', '.join(index.categories)}",
                             "category")
        vector = None
        if image is not None:
            pixels = self.preprocess(image)
        elif pixels is None:
            if not image_id:
                raise QueryError("give a photo or a catalogue product to find similar products")
            position = self.position_of(image_id, index)
            if position is None:
                raise QueryError(f"product {brief_repr(image_id)} is not in the catalogue", "image_id")
            vector = self._stored_vector(index, position)
            if vector is None:  # an index type that cannot give its vectors back (IVF): encode the photo
                from cti_ir.model.images import load_image

                pixels = self.preprocess(load_image(index.items[position]["path"]))
        notes = [f"similar products at granularity {granularity}"] if granularity else []
        return SearchQuery(pixels=pixels, text="", k=k, category=category or None, weights=None, notes=notes,
                           exclude=image_id or None, similar=True, granularity=granularity, vector=vector)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """A decoded image as the image encoder's input ``(C, H, W)``; what :meth:`prepare` takes as ``pixels``."""
        if self.pixel_pipeline is not None:
            return self.pixel_pipeline.pixels(image.convert("RGB"))
        return self.model.preprocess(image.convert("RGB"))

    def prepare(self, image: Image.Image | None = None, text: str | None = None, k: Any = 10,
                category: str | None = None, weights: Sequence[float] | None = None,
                pixels: torch.Tensor | None = None, exclude: str | None = None,
                session: Session | list | None = None, filters: dict | None = None,
                reference_id: str | None = None, read_requests: bool | None = None,
                upload_key: Hashable | None = None) -> SearchQuery:
        """Check and clean one query and preprocess its image; raises :class:`QueryError` naming what is wrong.

        Cheap (no encoder runs), so a server calls it in the request's own thread and sends only valid queries
        to :meth:`search_batch`. ``pixels`` replaces ``image`` with its :meth:`preprocess` output; ``exclude``
        leaves one product out of the results (the reference, when it is a catalogue product). ``category``
        ``"auto"`` keeps the reference's category unless the text asks another, ``"all"`` (or None) searches
        every category; ``session`` (a :class:`~cti_ir.serve.session.Session` or its JSON list of turns) makes
        this a turn of a shopping session (``cti_ir.serve.session``). ``reference_id`` makes a catalogue product the
        reference (``cti_ir.serve.stored_references``: its stored vector, no decoding, no encoding), left out of
        the results. ``read_requests`` (default: the engine's) rewrites a request the request reader understands
        fully into its canonical wording (``cti_ir.index.request_reading``) and says so in the notes.
        ``upload_key`` names the reference photo in :attr:`uploads` (:meth:`upload_pixels` made ``pixels``): its
        vector is then encoded once and reused, and so is its category guess.
        """
        text, notes = clean_text(text)
        if image is None and pixels is None and not reference_id and not text:
            raise QueryError("give a reference image, a text, or both")
        k = parse_k(k)
        if category not in (None, "", SAME_CATEGORY, ALL_CATEGORIES) and category not in self.index.categories:
            raise QueryError(f"unknown category {brief_repr(category)}; choose one of "
                             f"{', '.join(self.index.categories)}", "category")
        manual = _normalised_weights(weights) if weights is not None else None
        vector = None
        if reference_id:
            position = self.position_of(reference_id) if isinstance(reference_id, str) else None
            if position is None:
                raise QueryError(f"product {brief_repr(reference_id)} is not in the catalogue", "reference_id")
            pixels, vector, why_encoded = stored_references.catalogue_reference(self, position, image, pixels)
            notes += why_encoded
            exclude = exclude or reference_id
        elif image is not None:
            pixels = self.preprocess(image)
        if reference_id or pixels is None:
            upload_key = None
        elif upload_key is not None:
            vector = self.uploads.vector(upload_key)  # None until a batch has encoded this photo once
        category, why = session_search.resolve_category(self, category, text, exclude)
        notes += [n for n in [session_search.category_note(category, why)] if n]
        try:
            plan = session_search.plan_session(self, session, text, exclude) if session is not None else None
        except HistoryError as e:
            raise QueryError(str(e), "history") from None
        if text and (self.read_requests if read_requests is None else read_requests):
            text, note = self._read_request(text, exclude, category)
            notes += [note] if note else []
        try:  # product fields: in stock, price range, brand, size, any column (cti_ir.index.filters)
            product_filter = self.index.parse_filters(filters)
        except ValueError as e:
            raise QueryError(str(e), "filters") from None
        return SearchQuery(pixels=pixels, text=text, k=k, category=category, weights=manual, notes=notes,
                           exclude=exclude or None, plan=plan, filters=product_filter, vector=vector,
                           upload_key=upload_key)

    def upload_pixels(self, data: bytes, decode: Callable[[bytes], Image.Image]) -> tuple[torch.Tensor, str | None]:
        """``(pixels, key)`` of an uploaded photo's bytes: decoded by ``decode`` (which checks the photo and
        raises for a bad one) and preprocessed once while :attr:`uploads` keeps it; pass both to :meth:`prepare`
        (``pixels=``, ``upload_key=``)."""
        if not self.uploads.keeps:
            return self.preprocess(decode(data)), None
        key = upload_key(data)
        return self.uploads.pixels(key, lambda: self.preprocess(decode(data))), key

    @torch.no_grad()
    def encode_queries(self, queries: Sequence[SearchQuery], image_vectors: dict | None = None
                       ) -> tuple[torch.Tensor, list[tuple[float, float]]]:
        """The query vectors ``(N, D)`` (float32, on the CPU) and the (image, text) weights used.

        Every reference image of the batch goes through the image encoder at once, every text through the text
        encoder at once; composed queries are composed together (those with manual weights in a second call).
        "More like this" queries use their stored vector, or are encoded together per granularity.
        ``image_vectors``, when given, receives query number -> its reference image's own vector.
        """
        vectors: list[torch.Tensor | None] = [None] * len(queries)
        weights: list[tuple[float, float]] = [(1.0, 0.0)] * len(queries)
        plain = [i for i, q in enumerate(queries) if not q.similar]
        if plain:
            out, used, images = self._encode_plain([queries[i] for i in plain])
            for r, i in enumerate(plain):
                vectors[i], weights[i] = out[r], used[r]
                if image_vectors is not None and images[r] is not None:
                    image_vectors[i] = images[r].float().cpu().numpy()
        by_granularity: dict[str | None, list[int]] = {}
        for i, q in enumerate(queries):
            if q.similar and q.vector is not None:
                vectors[i] = q.vector
            elif q.similar:
                by_granularity.setdefault(q.granularity, []).append(i)
        adapters = getattr(self.model, "adapters", None)
        for granularity, rows in by_granularity.items():
            pixels = torch.stack([queries[i].pixels for i in rows]).to(self.model.device)
            if adapters is not None and granularity is not None:
                with adapters.using(granularity):
                    out = self.model.encode_images(pixels)
            else:
                out = self.model.encode_images(pixels)
            for r, i in enumerate(rows):
                vectors[i] = out[r]
        return torch.stack([v.float().cpu() for v in vectors]), weights

    def _encode_plain(self, queries: Sequence[SearchQuery]) -> tuple[list, list[tuple[float, float]], list]:
        model = self.model
        with_image = [i for i, q in enumerate(queries) if q.pixels is not None or q.vector is not None]
        with_text = [i for i, q in enumerate(queries) if q.text]
        img = stored_references.image_features(model, queries, with_image)
        txt = model.encode_texts([queries[i].text for i in with_text]) if with_text else None
        img_row = {i: r for r, i in enumerate(with_image)}
        txt_row = {i: r for r, i in enumerate(with_text)}
        vectors: list[torch.Tensor | None] = [None] * len(queries)
        weights: list[tuple[float, float]] = [(0.0, 0.0)] * len(queries)
        for i, q in enumerate(queries):
            if q.mode == "image":
                vectors[i], weights[i] = img[img_row[i]], (1.0, 0.0)
            elif q.mode == "text":
                vectors[i], weights[i] = txt[txt_row[i]], (0.0, 1.0)
        composed = [i for i, q in enumerate(queries) if q.mode == "composed"]
        for manual in (False, True):
            rows = [i for i in composed if (queries[i].weights is not None) == manual]
            if not rows:
                continue
            image_features = img[[img_row[i] for i in rows]]
            text_features = txt[[txt_row[i] for i in rows]]
            w = None
            if manual:  # on the features' device and dtype: CPU tensors would fail against a model on the GPU
                w = (image_features.new_tensor([queries[i].weights[0] for i in rows]),
                     image_features.new_tensor([queries[i].weights[1] for i in rows]))
            out = model.compose(image_features, text_features, w)
            for r, i in enumerate(rows):
                vectors[i] = out.query[r]
                weights[i] = (float(out.image_weight[r]), float(out.text_weight[r]))
        return vectors, weights, [img[img_row[i]] if i in img_row else None for i in range(len(queries))]

    def search_batch(self, queries: Sequence[SearchQuery]) -> list[SearchResult]:
        """Answer prepared queries together; result ``i`` is exactly what ``search`` gives for query ``i``.

        FAISS searches all the queries of one index and category filter in one call, for the largest ``k`` among
        them; each query keeps its own first ``k`` hits (the top-k of a longer exact ranking are the same items).
        """
        if not queries:
            return []
        self.index_watcher.poll()  # a new index version is opened in the background, then served
        images: dict[int, Any] = {}
        vectors, weights = self.encode_queries(queries, images)
        vectors = vectors.numpy()
        for i, q in enumerate(queries):  # an uploaded photo encoded now: its vector serves its next searches
            if q.upload_key is not None and q.vector is None and i in images:
                self.uploads.keep_vector(q.upload_key, torch.from_numpy(images[i]))
        self._use_search_threads()  # after encoding: torch sets OpenMP's count when it first computes in a thread
        groups: dict[tuple, list[int]] = {}
        results: list[SearchResult | None] = [None] * len(queries)
        # "auto" with an uploaded reference: the photo's category as the index's category model guesses it
        decided = session_search.final_categories(self.index, queries, images, self.uploads)
        for i, (q, (category, notes, guess)) in enumerate(zip(queries, decided)):
            if q.plan is not None:
                index = self.index  # one version for the whole search: a live reload may swap it meanwhile
                scores, positions = session_search.search_planned(self, q.plan, vectors[i], q.k, category, q.exclude,
                                                                  q.filters, index=index)
                results[i] = SearchResult(self._hits(scores, positions, index), q.mode, weights[i][0], weights[i][1],
                                          q.text, notes, category, q.plan.describe(), guess)
            else:
                groups.setdefault((q.similar, q.granularity if q.similar else None, category, q.filters),
                                  []).append(i)
        for (similar, granularity, category, product_filter), rows in groups.items():
            index = self.similar_indexes[granularity] if similar else self.index
            # One more for a query whose reference product comes first and is left out.
            k_max = max(queries[i].k + (1 if queries[i].exclude else 0) for i in rows)
            scores, ids = index.search(vectors[rows], k_max, category, filters=product_filter)
            for r, i in enumerate(rows):
                q = queries[i]
                hits = [h for h in self._hits(scores[r], ids[r], index) if h.image_id != q.exclude][:q.k]
                results[i] = SearchResult(hits=hits, mode=q.mode, image_weight=weights[i][0],
                                          text_weight=weights[i][1], text=q.text, notes=decided[i][1],
                                          category=category, category_guess=decided[i][2])
        return results

    def _use_search_threads(self) -> None:
        """Give FAISS ``threads`` OpenMP threads in the calling thread.

        OpenMP keeps this setting per thread: ``faiss.omp_set_num_threads`` in the entry point does not reach the
        batcher's or the web server's threads, which then search with one OpenMP thread per core (and PyTorch
        sets it to its own count the first time it computes in a thread). Measured on the demo index (17,860
        products, 2 cores): an unfiltered search took 2.7 ms in such a thread against 0.23 ms with one thread,
        and the idle OpenMP workers it wakes spin on the other core, which the requests need. Setting it costs a
        microsecond, so it is set before every search rather than remembered.
        """
        if self.threads is not None:
            import faiss

            faiss.omp_set_num_threads(self.threads)

    def submit(self, query: SearchQuery) -> SearchResult:
        """Answer one prepared query (a :class:`~cti_ir.serve.batching.SearchBatcher` has the same method)."""
        return self.search_batch([query])[0]

    def _read_request(self, text: str, exclude: str | None, category: str | None) -> tuple[str, str | None]:
        """(text to encode, note) of the request reader, read once per text, reference description and category."""
        item = self.item(exclude) if exclude else None
        key = (getattr(self.model, "fingerprint", None), text, category, item is not None,
               item.get("description") if item else None)
        return self.readings.read(key, lambda: read_for_engine(text, item, category, self.model.fits_context,
                                                               getattr(self.model, "learned_word", None)))

    def item(self, image_id: str) -> dict | None:
        """The main index's entry (image_id, path, categories, description) of a product, or None."""
        position = self.position_of(image_id)
        return None if position is None else self.index.items[position]

    def position_of(self, image_id: str, index: CatalogueIndex | None = None) -> int | None:
        """Where product ``image_id`` is in ``index`` (default: the main index), or None."""
        index = index or self.index
        # A table made on first use and kept on the index (read-only after that, so threads may share it).
        table = getattr(index, "_positions_by_id", None)
        if table is None:
            table = {it["image_id"]: i for i, it in enumerate(index.items)}
            index._positions_by_id = table
        return table.get(image_id) if isinstance(image_id, str) else None

    @staticmethod
    def _stored_vector(index: CatalogueIndex, position: int) -> torch.Tensor | None:
        """The vector the index holds for ``position``, or None when its type cannot give it back."""
        return stored_references.stored_vector(index, position)

    def _hits(self, scores, ids, index: CatalogueIndex | None = None) -> list[Hit]:
        index = index or self.index
        items = index.items
        hits = []
        for score, i in zip(scores, ids):
            if i < 0:  # FAISS pads with -1 when fewer than k items match (small category)
                continue
            item = items[int(i)]
            hits.append(Hit(id=int(i), image_id=item["image_id"], path=item["path"], score=float(score),
                            categories=list(item.get("categories") or []), description=item.get("description", ""),
                            product=index.products.get(item["image_id"])))
        return hits

    def search(self, image: Image.Image | None = None, text: str | None = None, k: int = 10,
               category: str | None = None, weights: tuple[float, float] | None = None,
               session: Session | list | None = None, exclude: str | None = None,
               filters: dict | None = None) -> SearchResult:
        """Top-``k`` products for a reference image, a modification text, or both.

        ``category`` restricts results to one catalogue category (``"auto"``: the reference's, see
        :meth:`prepare`); ``weights`` = (w_img, w_txt) overrides the composer's predicted weights (renormalised to
        sum to one); ``session`` and ``exclude`` as in :meth:`prepare`; ``filters`` keeps only the products whose
        fields pass (``{"in_stock": True, "price_max": 50, "brand": "Acme", "size": "M"}``: ``cti_ir.index.filters``,
        inside the search, combined with the category). Raises :class:`QueryError` for a query that
        cannot be answered.
        """
        return self.submit(self.prepare(image, text, k, category, weights, exclude=exclude, session=session,
                                        filters=filters))
