"""The NAS-Bench-201 network in PyTorch: stem, 3 stages of cells, residual reduction blocks.

Follows the macro skeleton of NAS-Bench-201 (Dong & Yang, ICLR 2020; `TinyNetwork` with
`InferCell` in the authors' code): a 3x3 conv stem of C channels, N cells per stage at C, 2C
and 4C channels, a ResNet basic block with stride 2 between stages, then BN-ReLU, global
average pooling and a linear classifier.

Edges whose operation is `none` contribute exactly zero to their node's sum and are left out of
the graph (the authors multiply by zero); a node whose every input is `none` is all zeros.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hwnas.core.spaces.nb201_arch import EDGES, OPS, NB201Arch


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ResNetBasicBlock(nn.Module):
    """The stride-2 residual reduction block between stages."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2, padding=1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1, padding=1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def make_op(op: str, channels: int) -> nn.Module:
    """One edge operation of the cell, keeping `channels` and the spatial size."""
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, stride=1, padding=0)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, stride=1, padding=1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity()
    raise ValueError(f"no module for operation {op!r} (the 'none' edge has no module)")


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell with a fixed architecture; shape-preserving."""

    def __init__(self, arch: NB201Arch, channels: int) -> None:
        super().__init__()
        self.edges = [(node, source) for node, source, _ in arch.live_edges()]
        self.ops = nn.ModuleList(make_op(op, channels) for _, _, op in arch.live_edges())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            terms = [
                op(nodes[source])
                for (target, source), op in zip(self.edges, self.ops)
                if target == node
            ]
            if not terms:
                nodes.append(torch.zeros_like(x))
                continue
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            nodes.append(total)
        return nodes[3]


class NB201Network(nn.Module):
    """The NAS-Bench-201 network for one cell; input (B, in_channels, H, W), logits (B, classes)."""

    def __init__(
        self,
        arch: NB201Arch,
        num_classes: int = 10,
        channels: int = 16,
        cells_per_stage: int = 5,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if min(num_classes, channels, cells_per_stage, in_channels) < 1:
            raise ValueError(
                "num_classes, channels, cells_per_stage and in_channels must be positive, got "
                f"{num_classes}, {channels}, {cells_per_stage}, {in_channels}"
            )
        self.arch = arch
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        layers: list[nn.Module] = []
        c_prev = channels
        for stage in range(3):
            c_stage = channels * 2**stage
            if stage > 0:
                layers.append(ResNetBasicBlock(c_prev, c_stage))
            layers.extend(NB201Cell(arch, c_stage) for _ in range(cells_per_stage))
            c_prev = c_stage
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(features), 1))


@functools.cache
def _edge_costs(num_classes: int, channels: int, cells_per_stage: int) -> np.ndarray:
    """(params, MACs) of the network with no operation, and added per edge by each operation.

    Returns (2, 1 + len(OPS)) int64: column 0 the empty cell's network, column 1 + i what one
    edge with ``OPS[i]`` adds over all cells. Every edge of a cell sees the same tensor shape and
    none shares weights, so a network's cost is column 0 plus the sum over its six edges.
    """
    from hwnas.core.complexity import count_macs, count_params

    shape = (1, 3, 32, 32)
    costs = np.zeros((2, 1 + len(OPS)), dtype=np.int64)
    for column, op in enumerate(("none", *OPS)):
        net = NB201Network(NB201Arch((op,) * len(EDGES)), num_classes, channels, cells_per_stage)
        costs[:, column] = count_params(net), count_macs(net, shape)
    costs[:, 1:] = (costs[:, 1:] - costs[:, :1]) // len(EDGES)
    return costs


def network_costs(
    archs: Sequence[NB201Arch], num_classes: int = 10, channels: int = 16, cells_per_stage: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """(parameters, MACs) of each cell's network at 32x32: two (N,) int64, without building them.

    Equal to `count_params` / `count_macs` of the built networks (a test checks it); the
    per-edge costs come from six networks built once per setting.
    """
    costs = _edge_costs(num_classes, channels, cells_per_stage)
    codes = np.array([[OPS.index(op) for op in arch.ops] for arch in archs], dtype=np.int64)
    added = costs[:, 1:][:, codes].sum(axis=-1) if len(archs) else np.zeros((2, 0), np.int64)
    total = costs[:, :1] + added
    return total[0], total[1]
