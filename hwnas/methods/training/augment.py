"""Batch augmentation on raw pixels: random crops of a 4-pixel zero-padded image, flips."""

from __future__ import annotations

import torch

PADDING = 4


def augment_batch(x: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """`x` (B, C, H, W) augmented per image; every random draw comes from `generator`.

    Args:
        mode: ``none``, ``crop`` (a random H x W window of the image padded by `PADDING`
            zeros on each side) or ``crop-flip`` (the same, then a horizontal flip with
            probability 1/2).
    """
    if mode == "none":
        return x
    batch, _, height, width = x.shape
    padded = torch.nn.functional.pad(x, (PADDING, PADDING, PADDING, PADDING))
    offsets = torch.randint(0, 2 * PADDING + 1, (batch, 2), generator=generator)
    rows = offsets[:, :1] + torch.arange(height)  # (B, H)
    cols = offsets[:, 1:] + torch.arange(width)  # (B, W)
    index = torch.arange(batch)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    out = out.permute(0, 3, 1, 2).contiguous()
    if mode == "crop-flip":
        flip = torch.rand(batch, generator=generator) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out
