"""Session fixtures of the label-free adaptation tests: a tiny multi-view catalogue and a tiny adapted checkpoint."""

import pytest

from data_prep import synth_views
import training.adapt.trainer as adapt

#: A short adaptation of cti-tiny: two adapter sets (4 and 8 clusters), one epoch each, two fusion epochs.
FAST = ["--granularities", "4,8", "--set-epochs", "1", "--fusion-epochs", "2", "--batch-size", "16",
        "--save-every", "1", "--warmup-steps", "2", "--no-progress", "--threads", "2"]


@pytest.fixture(scope="session")
def views(tmp_path_factory):
    """A multi-view catalogue: 4 categories x 6 adaptation products x 2 photos (48 images), 2 eval products each."""
    out = tmp_path_factory.mktemp("views") / "catalogue"
    assert synth_views.main(["--out", str(out), "--adapt-products", "6", "--eval-products", "2", "--views", "2",
                             "--quiet", "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="session")
def adapted(views, tiny_checkpoint, tmp_path_factory):
    """The adapted checkpoint of an uninterrupted run of ``training.adapt`` on the catalogue's adaptation photos."""
    out = tmp_path_factory.mktemp("adapted") / "ckpt"
    assert adapt.main(["--checkpoint", str(tiny_checkpoint), "--images", str(views / "adapt"), "--out", str(out),
                       *FAST]) == 0
    return out
