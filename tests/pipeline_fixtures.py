"""Session fixtures shared by the pipeline tests: the generated catalogue and a tiny checkpoint."""

import pytest
import torch

from cti_ir.model.checkpoint import save_checkpoint
from cti_ir.model.cir_model import CIRModel


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory):
    """The generator's ``small`` catalogue (Fashion-IQ + Shoes layouts + open-domain set), made once."""
    from data_prep import synth

    out = tmp_path_factory.mktemp("synth") / "data"
    assert synth.main(["--out", str(out), "--size", "small", "--seed", "0", "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A randomly initialised cti-tiny model saved as a checkpoint folder."""
    torch.manual_seed(0)
    return save_checkpoint(CIRModel.create("cti-tiny"), tmp_path_factory.mktemp("ckpt") / "tiny")
