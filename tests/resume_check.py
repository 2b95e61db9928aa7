"""A crash-and-resume check shared by the trainers' tests: a run killed after a saved state, then resumed, must
end bit-identical to an uninterrupted one (weights and log, the speed aside)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file


def log_rows(run: Path) -> list[dict]:
    """The records of a run's ``log.jsonl``."""
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]


def assert_resumes_bit_identically(train: Callable[..., int], crashed: Path, finished: Path, crash_step: int,
                                   monkeypatch, weights: str = "composer.safetensors") -> None:
    """``train(out, *extra_flags)`` runs the trainer into ``out``; it is crashed after logging step ``crash_step``
    (later than its last saved state), resumed with ``--resume``, and compared with the run in ``finished``."""
    from training.loop import Trainer

    real_log = Trainer.log

    def crash(self, record):
        real_log(self, record)
        if record.get("step") == crash_step:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(Trainer, "log", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(crashed)
    monkeypatch.setattr(Trainer, "log", real_log)
    assert train(crashed, "--resume") == 0
    a, b = load_file(str(finished / "last" / weights)), load_file(str(crashed / "last" / weights))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def strip(rows):  # the speed differs between runs, nothing else may
        return [{k: v for k, v in r.items() if k != "examples_per_s"} for r in rows]

    assert strip(log_rows(finished)) == strip(log_rows(crashed))
