"""Parameter and FLOP counts of PyTorch networks, by one traced forward pass."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """The number of trainable and frozen parameters (BatchNorm buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass at `input_shape` (B, C, H, W).

    Counts convolutions (k_h * k_w * C_in / groups per output element) and linear layers
    (in_features per output element); pooling, normalisation and activations are not counted.
    This is the "FLOPs" of the NAS-Bench-201 paper and most NAS tables (one MAC = one FLOP
    there); multiply by 2 for floating-point operations in the strict sense.
    """
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        k_h, k_w = module.kernel_size
        total += output.numel() * k_h * k_w * module.in_channels // module.groups

    def linear_hook(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(*input_shape))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
