"""BatchNorm statistics of a network, re-estimated from data (no training of weights)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Replaces every BatchNorm's running mean/variance by their average over `batches`.

    Gives an untrained (or weight-shared) network the normalised activations of a trained
    one, so that export checks and latency runs see realistic magnitudes. Returns `model` in
    eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average over the batches
    model.train()
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.eval()
    return model


def random_batches(shape: tuple[int, ...], count: int = 4, seed: int = 0) -> list[torch.Tensor]:
    """`count` standard-normal batches of `shape` (B, C, H, W), seeded."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator) for _ in range(count)]
