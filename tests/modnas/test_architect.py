"""The Architect's estimators: one-hot forward, the right distribution, useful gradients."""

from __future__ import annotations

import pytest
import torch

from hwnas.methods.modnas.architect import SamplerError, most_likely, sample_cells

LOGITS = torch.tensor([[1.0, 0.0, -1.0, 0.5, 2.0]])


@pytest.mark.parametrize("sampler", ["gumbel", "reinmax"])
def test_samples_are_one_hot_and_follow_the_softmax(sampler):
    generator = torch.Generator().manual_seed(0)
    samples = sample_cells(LOGITS.expand(20000, 5), sampler, 1.0, generator)
    assert torch.allclose(samples.detach().sum(-1), torch.ones(20000))
    assert set(samples.detach().unique().tolist()) <= {0.0, 1.0}
    frequency = samples.detach().mean(0)
    assert torch.allclose(frequency, LOGITS.softmax(-1)[0], atol=0.015)


@pytest.mark.parametrize("sampler", ["gumbel", "reinmax"])
def test_gradient_points_along_the_true_gradient_of_a_linear_loss(sampler):
    cost = torch.tensor([0.3, -1.0, 0.5, 0.0, 0.2])
    logits = LOGITS.clone().requires_grad_(True)
    exact = torch.autograd.grad((logits.softmax(-1) * cost).sum(), logits)[0]
    generator = torch.Generator().manual_seed(1)
    samples = sample_cells(logits.expand(20000, 5), sampler, 1.0, generator)
    estimate = torch.autograd.grad((samples * cost).sum(-1).mean(), logits)[0]
    cosine = torch.nn.functional.cosine_similarity(estimate.flatten(), exact.flatten(), dim=0)
    assert cosine > 0.9


def test_bad_sampler_or_temperature():
    with pytest.raises(SamplerError, match="gumbel, reinmax"):
        sample_cells(LOGITS, "softmax")
    with pytest.raises(SamplerError, match="positive"):
        sample_cells(LOGITS, "gumbel", 0.0)


def test_most_likely_is_the_argmax():
    assert most_likely(LOGITS).argmax(-1).item() == 4
