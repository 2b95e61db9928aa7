"""The benchmark of an upload's category: every guesser on photos kept out of its fit, its tables, its flags."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.session import bench_upload_category as bench
from cti_ir.index.category_model import CategoryGuess


@pytest.fixture(scope="module")
def gallery(synth_small, tiny_checkpoint, tmp_path_factory):
    from benchmarks.session.gallery import ensure_index, load_gallery

    index = tmp_path_factory.mktemp("upload_category") / "index"
    ensure_index(tiny_checkpoint, synth_small, index)
    return load_gallery(index, synth_small)


def test_every_guesser_is_measured_per_group_on_photos_outside_its_fit(gallery, tiny_checkpoint, monkeypatch):
    from cti_ir.index import photo_category_model
    from cti_ir.model.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_checkpoint)
    rng = np.random.default_rng(0)
    photos = np.concatenate([rng.choice(np.flatnonzero(gallery.layout_category == g), 4, replace=False)
                             for g in bench.GROUPS])
    guessed = bench.guesses(gallery, photos, folds=2, seed=0)
    fitted_on = []
    real_fit = photo_category_model.fit_photo_category_model
    monkeypatch.setattr(photo_category_model, "fit_photo_category_model",
                        lambda thumbs, labels, *a, **k: fitted_on.append(len(labels)) or real_fit(thumbs, labels,
                                                                                                   *a, **k))
    guessed["photo"], seconds = bench.photo_guesses(model, gallery, photos, 2, 0, 2, guessed["model"])
    assert all(isinstance(g, CategoryGuess) for g in guessed["photo"]) and seconds >= 0
    # The small catalogue's shoe types have too few photos a fold for the network, so (as the engine does) every
    # photo is guessed by the linear model there; the network is fit only where every category qualifies.
    categories = {c[0] for c in gallery.index_categories}
    counts = {c: sum(1 for x in gallery.index_categories if x[0] == c) for c in categories}
    assert min(counts.values()) < photo_category_model.MIN_PHOTOS
    assert guessed["photo"] == guessed["model"] and fitted_on == []
    groups = bench.measure(model, gallery, photos, bench.requests(gallery, photos, 0), guessed)
    for g in bench.GROUPS:
        cell = groups[g]
        assert cell["photos"] + cell["asking_another"] == 4
        assert set(cell["accuracy"]) == set(bench.GUESSERS) and set(cell["sure"]) == {"model", "photo"}
        assert all(v is None or 0 <= v <= 100 for v in cell["share"].values())
    table = bench.tables({"settings": {"catalogue_seed": 0, "photos": 4, "folds": 2, "seed": 0,
                                       "unsure_below": 0.8}, "groups": groups, "photo_fit_cpu_s": seconds})
    assert "| photo | " in table and "| photo, photos not unsure" in table and "fits took" in table


def test_bad_flags_are_refused_in_our_words(capsys):
    assert bench.main(["--folds", "1"]) == 2
    assert bench.main(["--photo-steps", "-1"]) == 2
    assert "--photo-steps at least 0" in capsys.readouterr().err


def test_the_network_is_fit_per_fold_where_every_category_has_photos_enough(gallery, tiny_checkpoint):
    from benchmarks.session.gallery import Gallery
    from cti_ir.model.checkpoint import load_checkpoint

    # The garments alone: each of the three categories has well over 50 photos in each half of the catalogue.
    keep = np.flatnonzero(gallery.layout_category != "shoes")
    garments = Gallery(gallery.vectors[keep], [gallery.ids[i] for i in keep],
                       [gallery.index_categories[i] for i in keep], [gallery.descriptions[i] for i in keep],
                       gallery.products, gallery.folder, [gallery.paths[i] for i in keep])
    photos = np.concatenate([np.flatnonzero(garments.layout_category == g)[:5] for g in ("dress", "shirt", "toptee")])
    linear = bench.guesses(garments, photos, folds=2, seed=0)["model"]
    guessed, seconds = bench.photo_guesses(load_checkpoint(tiny_checkpoint), garments, photos, 2, 0, 3, linear)
    assert seconds > 0 and all(g.category in ("dress", "shirt", "toptee") for g in guessed)
    assert guessed != linear  # the network's own guesses (its confidences differ from the linear model's)
