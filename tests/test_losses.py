"""Losses, and the self-supervised modality-weight target."""

import torch
import torch.nn.functional as F

from cti_ir.losses import contrastive_loss, modality_weight_loss, modality_weight_target


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
