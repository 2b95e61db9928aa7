"""A catalogue product as a query's reference image: the vector the index already holds for it, nothing encoded.

Every turn of a shopping session after the first, a product picked from the results, "more like this": the
reference is a catalogue product, whose photo the index build has already decoded and embedded. With a symmetric
index (built by this model's own image tower) that stored vector *is* the reference's embedding, so the engine uses
it as it is: no file read, no decoding, no image-encoder pass. An asymmetric index holds the gallery models' vectors
carried into the query space (``cti_ir.asymmetric``), which are not what the query model makes of a photo: there the
photo is encoded as an upload would be, and the result's notes say why. So is it when the index type cannot give its
vectors back (IVF-PQ keeps only codes).
"""

from __future__ import annotations

from typing import Sequence

import torch

from cti_ir.serve.query_input import QueryError

ASYMMETRIC_NOTE = ("the reference product's photo was encoded: this index holds the gallery models' vectors "
                   "(asymmetric search), not the query model's own")


def catalogue_reference(engine, position: int, image=None, pixels: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor | None, torch.Tensor | None, list[str]]:
    """(pixels, stored vector, notes) for the product at ``position`` of ``engine``'s main index.

    Exactly one of pixels and vector is returned. ``image`` / ``pixels`` are the caller's copy of the photo, used
    when the stored vector cannot be (otherwise the photo is read from the catalogue).
    """
    index = engine.index
    notes: list[str] = []
    vector = None
    if (index.info.get("gallery") or {}).get("mode", "symmetric") == "symmetric":
        vector = engine._stored_vector(index, position)
    else:
        notes.append(ASYMMETRIC_NOTE)
    if vector is not None:
        return None, vector, notes
    if image is not None:
        return engine.preprocess(image), None, notes
    if pixels is None:
        from cti_ir.model.images import ImageLoadError, load_image

        item = index.items[position]
        try:
            pixels = engine.preprocess(load_image(item["path"]))
        except ImageLoadError:
            raise QueryError(f"the photo of product {item['image_id'][:60]!r} can no longer be read on the server",
                             "reference_id") from None
    return pixels, None, notes


def image_features(model, queries: Sequence, rows: list[int]) -> torch.Tensor | None:
    """The reference-image features of ``queries[rows]``: stored vectors as they are, the others' pixels encoded in
    one pass of ``model``'s image tower."""
    if not rows:
        return None
    to_encode = [i for i in rows if queries[i].vector is None]
    encoded = model.encode_images(torch.stack([queries[i].pixels for i in to_encode]).to(model.device)) \
        if to_encode else None
    row_of = {i: r for r, i in enumerate(to_encode)}
    device = encoded.device if encoded is not None else model.device
    return torch.stack([queries[i].vector.to(device, torch.float32) if queries[i].vector is not None
                        else encoded[row_of[i]] for i in rows])


def stored_vector(index, position: int) -> torch.Tensor | None:
    """The vector ``index`` (a ``CatalogueIndex``) holds for ``position``, or None when its type cannot give it
    back."""
    if getattr(index, "index", None) is None:  # a vector database (Milvus) gives its vectors back itself
        return torch.from_numpy(index.vector_at(position))
    rows = getattr(index, "_rows_by_position", None)
    if rows is None:
        rows = index._rows_by_position = _rows_by_position(index.index)
    if rows is False:
        return None
    index_type, row_of = rows
    return torch.from_numpy(index_type.reconstruct(int(row_of[position]) if row_of is not None else position))


def _rows_by_position(faiss_index):
    """``(index, rows)`` such that ``index.reconstruct(rows[p])`` is the stored vector of position ``p``
    (``rows`` None: the row is the position), or False when the index type cannot give its vectors back.

    Only types whose ``reconstruct`` reads the full vectors are used: flat storage, HNSW over flat storage, and
    a refined index (its exact re-ranking copy). An ``IndexIDMap`` itself has no ``reconstruct`` (calling it
    aborts the process), so the index under it is used, with the rows its id map gives (the wrapper, which owns
    it, stays alive on the ``CatalogueIndex``).
    """
    import faiss
    import numpy as np

    outer = faiss.downcast_index(faiss_index)
    inner, rows = outer, None
    if isinstance(outer, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = faiss.downcast_index(outer.index)
        ids = faiss.vector_to_array(outer.id_map)
        if len(ids) != inner.ntotal or (len(ids) and (ids.min() < 0 or ids.max() >= len(ids))):
            return False
        rows = np.empty(len(ids), dtype=np.int64)
        rows[ids] = np.arange(len(ids), dtype=np.int64)
    if isinstance(inner, faiss.IndexRefine):
        inner = faiss.downcast_index(inner.refine_index)
    if not isinstance(inner, (faiss.IndexFlat, faiss.IndexHNSWFlat)):
        return False
    return inner, rows
