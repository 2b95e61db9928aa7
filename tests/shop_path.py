"""Steps the shop's-path tests share: the shipped model's open_clip folder exported offline as any open_clip model,
and a search served from an index built with a trained checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image


def export_demo_open_clip_folder(tmp_path: Path, monkeypatch) -> Path:
    """The demo model's open_clip folder (config + weights, as open_clip's ``local-dir:`` reads it) made into a
    checkpoint by ``cti_ir.model.export``, with the hubs switched off; returns the checkpoint folder."""
    from cti_ir.model import export

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    demo = Path(__file__).resolve().parents[1] / "demo_model"
    source = tmp_path / "open_clip_folder"
    source.mkdir()
    for name in ("open_clip_config.json", "open_clip_model.safetensors"):
        shutil.copy(demo / name, source / name)
    out = tmp_path / "exported"
    assert export.main(["--model", f"local-dir:{source}", "--out", str(out)]) == 0
    return out


def search_shoes_index(checkpoint: Path, shoes: Path, index_dir: Path, reference: Path, text: str):
    """Build an index of the Shoes-layout folder ``shoes`` with ``checkpoint`` and search it once from the photo
    ``reference``; returns the engine and the three hits (asserted best first)."""
    import cti_ir.index.cli as index
    from cti_ir.serve.engine import SearchEngine

    assert index.main(["build", "--checkpoint", str(checkpoint), "--dataset", "shoes", "--root", str(shoes),
                       "--out", str(index_dir), "--no-progress"]) == 0
    engine = SearchEngine(checkpoint, index_dir)
    hits = engine.search(image=Image.open(reference), text=text, k=3).hits
    assert len(hits) == 3 and hits[0].score >= hits[-1].score
    return engine, hits
