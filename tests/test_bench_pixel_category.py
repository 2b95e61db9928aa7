"""The pixel-classifier feasibility benchmark for an upload's category: its labels, its fit, its report."""

from __future__ import annotations

import argparse

import torch

from benchmarks.session import bench_pixel_category as bench


def test_the_network_learns_a_difference_the_photos_carry():
    generator = torch.Generator().manual_seed(0)
    dark = torch.randint(0, 60, (64, 3, 16, 16), generator=generator, dtype=torch.uint8)
    light = torch.randint(180, 255, (64, 3, 16, 16), generator=generator, dtype=torch.uint8)
    pixels, labels = torch.cat([dark, light]), torch.tensor([0] * 64 + [1] * 64)
    guesses, seconds = bench.fit_and_guess(pixels, labels, torch.cat([dark[:8], light[:8]]), 2, steps=30, seed=0)
    assert list(guesses) == [0] * 8 + [1] * 8 and seconds >= 0


def test_a_layout_is_measured_per_category_on_photos_outside_the_fit(synth_small):
    args = argparse.Namespace(photos=3, pixels=16, steps=2, seed=0, checkpoint="none")
    result = bench.measure_layout(args, synth_small, "shoes")
    rows = bench.products(synth_small, "shoes")
    folders = sorted({r["file_name"].split("/")[0] for r in rows})
    assert sorted(result["categories"]) == folders and all(f.startswith("womens_") for f in folders)
    assert result["train_photos"] == sum(r["split"] == "train" for r in rows)
    for cell in result["categories"].values():
        assert 1 <= cell["photos"] <= 3 and 0 <= cell["pixels"] <= 100 and cell["linear"] is None
    table = bench.tables({"settings": {"catalogue_seed": 0, "pixels": 16, "steps": 2, "seed": 0, "checkpoint": "none"},
                          "layouts": {"shoes": result}})
    assert "| shoes | **mean** |" in table and "on 0 photos" not in table


def test_bad_flags_are_refused_in_our_words(capsys, tmp_path):
    assert bench.main(["--pixels", "8", "--work", str(tmp_path)]) == 2
    assert "--pixels must be at least 16" in capsys.readouterr().err
    assert bench.main(["--checkpoint", str(tmp_path), "--work", str(tmp_path)]) == 2
    assert "is not a checkpoint folder" in capsys.readouterr().err
