"""The network of a DARTS genotype: DARTS's evaluation network (`NetworkCIFAR`).

Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019, without the auxiliary head
and drop-path: a 3x3 conv stem of 3C channels, `layers` cells with reduction cells at 1/3 and
2/3 of the depth, global average pooling and a linear classifier. Each cell computes every
intermediate node as the sum of its genotype's two operations.
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.core.spaces.darts import STEPS
from hwnas.core.spaces.darts_genotype import CONCAT, Genotype
from hwnas.core.spaces.darts_ops import FactorizedReduce, ReLUConvBN, build_macro, make_op


class Cell(nn.Module):
    """One discrete cell: inputs (s0, s1), output the concatenation of its 4 nodes."""

    def __init__(
        self,
        genes: tuple[tuple[str, int], ...],
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, channels)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        self.inputs = [source for _, source in genes]
        self.ops = nn.ModuleList(
            make_op(op, channels, 2 if reduction and source < 2 else 1) for op, source in genes
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(STEPS):
            a, b = 2 * node, 2 * node + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat([states[i] for i in CONCAT], dim=1)


class DartsNetwork(nn.Module):
    """The network of `genotype`: input (B, in_channels, H, W), output logits (B, classes)."""

    def __init__(
        self,
        genotype: Genotype,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if min(channels, layers, num_classes, in_channels) < 1:
            raise ValueError("channels, layers, num_classes and in_channels must be positive")
        self.genotype = genotype
        self.stem, self.cells, c_out = build_macro(
            in_channels,
            channels,
            layers,
            lambda reduction, c_pp, c_p, c, reduction_prev: Cell(
                genotype.reduce if reduction else genotype.normal,
                c_pp,
                c_p,
                c,
                reduction,
                reduction_prev,
            ),  # fmt: skip
            len(CONCAT),
        )
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))
