"""Losses, and the self-supervised modality-weight target."""

import pytest
import torch
import torch.nn.functional as F

from cti_ir.model.losses import contrastive_loss, modality_weight_loss, modality_weight_target


def test_contrastive_loss_rewards_matching_pairs():
    g = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
    scale = torch.tensor(20.0)
    matched = contrastive_loss(a, a, scale)
    shuffled = contrastive_loss(a, a.roll(1, dims=0), scale)
    assert matched < 0.1 < shuffled


def test_weight_target_favours_the_modality_that_finds_the_target():
    g = torch.Generator().manual_seed(0)
    targets = F.normalize(torch.randn(16, 32, generator=g), dim=-1)
    noise = F.normalize(torch.randn(16, 32, generator=g), dim=-1)
    scale = torch.tensor(20.0)
    # The image alone finds the target; the text is noise -> the image should count more, and vice versa.
    w = modality_weight_target(targets, noise, targets, scale)
    assert (w[:, 0] > 0.9).all()
    w = modality_weight_target(noise, targets, targets, scale)
    assert (w[:, 1] > 0.9).all()
    # A higher temperature softens the target towards 50/50.
    soft = modality_weight_target(targets, noise, targets, scale, temperature=100.0)
    assert (soft[:, 0] < w[:, 1]).all() and (soft[:, 0] > 0.5).all()


def test_weight_target_is_detached_and_loss_is_zero_at_the_target():
    img = F.normalize(torch.randn(4, 8), dim=-1).requires_grad_()
    w = modality_weight_target(img, img, img, torch.tensor(10.0))
    assert not w.requires_grad
    logits = torch.log(torch.tensor([[0.7, 0.3]] * 4))
    assert modality_weight_loss(logits, torch.tensor([[0.7, 0.3]] * 4)).abs() < 1e-6
    assert modality_weight_loss(logits, torch.tensor([[0.1, 0.9]] * 4)) > 0.1


def _mixed_targets(image_share: float, n: int = 32, d: int = 64, seed: int = 0):
    """Targets built as normalize(image_share * image + (1 - image_share) * text) from random image/text pairs."""
    g = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    text = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    return image, text, F.normalize(image_share * image + (1 - image_share) * text, dim=-1)


def test_balance_target_recovers_the_mix_that_made_the_target():
    from cti_ir.model.losses import balance_weight_target

    scale = torch.tensor(5.0)  # a batch that is not trivially easy, so the weights matter
    for share in (0.2, 0.5, 0.8):
        image, text, target = _mixed_targets(share)
        w = balance_weight_target(image, text, target, scale, temperature=0.01)
        assert w[:, 0].mean().item() == pytest.approx(share, abs=0.04), share
        assert torch.allclose(w.sum(dim=1), torch.ones(len(w)))


def test_balance_target_with_the_references_as_negatives_leans_away_from_the_image():
    from cti_ir.model.losses import balance_weight_target

    image, text, target = _mixed_targets(0.6)
    scale = torch.tensor(5.0)
    plain = balance_weight_target(image, text, target, scale, temperature=0.01)
    hard = balance_weight_target(image, text, target, scale, temperature=0.01, hard_negatives=image)
    # The image alone now also finds its own reference, which competes with the target.
    assert (hard[:, 0] <= plain[:, 0] + 1e-6).all() and hard[:, 0].mean() < plain[:, 0].mean() - 0.05


def test_balance_target_uses_the_composers_residual_and_is_detached():
    from cti_ir.model.losses import balance_weight_target

    image, text, target = _mixed_targets(0.5)
    image.requires_grad_()
    scale = torch.tensor(5.0)
    # A residual that carries the whole way to the target on the text side: then the text side alone suffices.
    residual = (target - text).requires_grad_()
    w = balance_weight_target(image, text, target, scale, temperature=0.01, residual=residual, residual_mode="text")
    assert not w.requires_grad
    assert w[:, 0].mean() < 0.1


def test_a_queue_of_earlier_targets_makes_the_balance_target_see_a_harder_gallery():
    from cti_ir.model.losses import balance_weight_target

    image, text, target = _mixed_targets(0.5, n=16)
    scale = torch.tensor(5.0)
    easy = balance_weight_target(image, text, target, scale, temperature=0.01)
    # Earlier targets that look like the references (products close to what the image alone points at): the
    # image-heavy mixes now also find them, so the target leans towards the text.
    look_alikes = F.normalize(image + 0.05 * torch.randn_like(image), dim=-1)
    hard = balance_weight_target(image, text, target, scale, temperature=0.01, extra_candidates=look_alikes)
    assert hard[:, 0].mean() < easy[:, 0].mean() - 0.05


def test_stage3_target_queue_keeps_the_latest_targets_in_a_ring():
    from cti_ir.model.cir_model import CIRModel
    from training.stage3 import HybridQueryModule

    module = HybridQueryModule(CIRModel.create("cti-tiny"), 0.1, 1.0, "balance", target_queue=5)
    dim = module.target_queue.shape[1]
    for start in (0, 3, 6):  # 9 rows through a ring of 5
        module._enqueue(torch.arange(start, start + 3).float().unsqueeze(1).repeat(1, dim))
    assert int(module.queue_size) == 5
    assert sorted(module.target_queue[:, 0].tolist()) == [4.0, 5.0, 6.0, 7.0, 8.0]
    assert "target_queue" in module.state_dict()  # saved with the training state: a resumed run has the same queue
