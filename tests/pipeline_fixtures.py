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
    """A randomly initialised cti-tiny model saved as a checkpoint folder, without a record of the words it was
    trained on (as a model from pretrained weights): the request reader treats every word as learned."""
    torch.manual_seed(0)
    model = CIRModel.create("cti-tiny")
    model.text_vocabulary = None
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny")
