"""The candidate operations of the DARTS CNN cell and of the RobustDARTS spaces.

Each operation maps (B, C, H, W) to (B, C, H/stride, W/stride). Definitions follow DARTS
(Liu et al., ICLR 2019): separable convolutions are applied twice, dilated convolutions once,
both ReLU-conv-BN; a skip connection with stride 2 is a factorised reduction. `noise` is
RobustDARTS's S4 operation (Zela et al., ICLR 2020): standard normal noise of the output's
shape, independent of the input.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwnas.core.spaces.darts import EXTRA_PRIMITIVES, PRIMITIVES, known_ops

__all__ = ["EXTRA_PRIMITIVES", "PRIMITIVES", "known_ops", "make_op", "build_macro"]


class Zero(nn.Module):
    """The `none` operation: zeros of the output's shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class Noise(nn.Module):
    """RobustDARTS's `noise` operation: N(0, 1) samples of the output's shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return torch.randn_like(x)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BatchNorm2d."""

    def __init__(
        self, channels: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                channels,
                channels,
                kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=channels,
                bias=False,
            ),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two ReLU -> depthwise -> pointwise -> BatchNorm2d blocks, the first with the stride."""

    def __init__(self, channels: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(
            DilConv(channels, kernel, stride, padding, 1, affine),
            DilConv(channels, kernel, 1, padding, 1, affine),
        )


class FactorizedReduce(nn.Module):
    """Halves H and W with two offset stride-2 1x1 convolutions concatenated on channels."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))  # odd sizes stay aligned
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


_FACTORIES: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda c, stride, affine: Zero(stride),
    "noise": lambda c, stride, affine: Noise(stride),
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False
    ),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda c, stride, affine: (
        nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    ),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, 3, stride, 1, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, 5, stride, 2, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, 5, stride, 4, 2, affine),
}


def make_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """The operation `name` on `channels` channels with `stride` (1 or 2).

    Raises:
        ValueError: for an unknown operation name or stride.
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(sorted(_FACTORIES))}")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    return _FACTORIES[name](channels, stride, affine)


def build_macro(
    in_channels: int,
    channels: int,
    layers: int,
    make_cell: Callable[[bool, int, int, int, bool], nn.Module],
    cell_outputs: int,
) -> tuple[nn.Sequential, nn.ModuleList, int]:
    """The DARTS CIFAR skeleton: a 3C stem and `layers` cells, reductions at 1/3 and 2/3.

    Args:
        make_cell: ``make_cell(reduction, c_prev_prev, c_prev, c, reduction_prev)``.
        cell_outputs: How many node outputs a cell concatenates.

    Returns:
        The stem, the cells and the channels of the last cell's output.
    """
    c_stem = 3 * channels
    stem = nn.Sequential(
        nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
    )
    c_pp, c_p, c_cur = c_stem, c_stem, channels
    reduction_prev = False
    cells = []
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c_cur *= 2
        cells.append(make_cell(reduction, c_pp, c_p, c_cur, reduction_prev))
        reduction_prev = reduction
        c_pp, c_p = c_p, cell_outputs * c_cur
    return stem, nn.ModuleList(cells), c_p
