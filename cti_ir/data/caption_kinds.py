"""Caption kinds of a generated catalogue, read from its ``caption_provenance.jsonl``.

The published layouts have no place for a caption's kind, so the generator (``python -m data_prep.synth``) writes
it beside them: one JSON object per triplet with ``candidate``, ``target``, ``category`` (Fashion-IQ only) and
``kind`` (relative, partial, absolute, vague or mistake). Catalogues generated with ``--caption-mix relative``
(and those written before caption kinds existed) have no ``kind`` field: every caption is relative. Real
Fashion-IQ and Shoes folders have no provenance file at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence, Union

from cti_ir.data.common import EvalSplit

PROVENANCE_FILE = "caption_provenance.jsonl"
#: The kinds in the order tables show them (data_prep.synth_caption_kinds defines what each means).
KIND_ORDER = ("relative", "partial", "absolute", "vague", "mistake")


class CaptionKindsError(ValueError):
    """The folder carries no caption kinds, or they do not match its annotation files."""


def read_caption_kinds(root: Union[str, Path]) -> dict[tuple[str, str, str], str]:
    """{(category, reference, target): kind} for every annotated triplet of a generated catalogue folder.

    Shoes rows have no category and get ``"shoes"``. Raises `CaptionKindsError` when the folder has no provenance
    file (real data) or a line is not what the generator writes.
    """
    path = Path(root) / PROVENANCE_FILE
    if not path.is_file():
        raise CaptionKindsError(
            f"{root} has no {PROVENANCE_FILE}, so its captions carry no kinds: only catalogues written by "
            "`python -m data_prep.synth` have them (real Fashion-IQ and Shoes folders do not); leave out --by-kind")
    kinds: dict[tuple[str, str, str], str] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = (row.get("category", "shoes"), row["candidate"], row["target"])
            except (ValueError, KeyError, TypeError):
                raise CaptionKindsError(f"{path}, line {number}: not a provenance row with candidate and target; "
                                        "regenerate the catalogue with `python -m data_prep.synth`") from None
            kind = row.get("kind", "relative")
            if kind not in KIND_ORDER:
                raise CaptionKindsError(f"{path}, line {number}: unknown caption kind {kind!r} "
                                        f"(known: {', '.join(KIND_ORDER)})")
            kinds[key] = kind
    return kinds


def query_kinds(split: EvalSplit, kinds: dict[tuple[str, str, str], str]) -> list[str]:
    """The caption kind of each query of ``split``, in query order.

    Raises `CaptionKindsError` naming the first query the provenance file does not know (the annotation files
    were changed after generation, or belong to another catalogue).
    """
    category = split.name
    out = []
    for q in split.queries:
        kind: Optional[str] = kinds.get((category, q.reference, q.target))
        if kind is None:
            raise CaptionKindsError(
                f"query {q.reference} -> {q.target} of {category} is not in {PROVENANCE_FILE}: the annotation files "
                "and the provenance file come from different catalogues; regenerate the folder")
        out.append(kind)
    return out


def ordered_kinds(present: Sequence[str]) -> list[str]:
    """The kinds in ``present`` in table order."""
    return [k for k in KIND_ORDER if k in set(present)]
