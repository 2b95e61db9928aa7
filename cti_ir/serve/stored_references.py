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
        from cti_ir.model.images import load_image

        pixels = engine.preprocess(load_image(index.items[position]["path"]))
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
