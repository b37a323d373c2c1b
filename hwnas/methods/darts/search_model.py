"""Weight-sharing search models that hold their architecture parameters (the DARTS alphas).

Two models share one interface, which `Architect`, the Hessian and the search loop use:
`forward(x)` logits, `arch_parameters()`, `weight_parameters()`, `derive()` (the discrete
architecture value) and `space`:

- `CellSearchNetwork`: the DARTS CNN search network for a cell space (`darts`, `s1`..`s4`),
  normal and reduction alphas (14, num_ops) each; derives a `Genotype`.
- `NB201SearchModel`: `NB201Supernet` with one (6, 5) alpha matrix; derives an `NB201Arch`.

BatchNorm layers inside candidate operations are not affine, as in DARTS's search network.
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.core.spaces.darts import EDGES, STEPS, CellSpace
from hwnas.core.spaces.darts_genotype import Genotype, derive_genotype
from hwnas.core.spaces.darts_ops import FactorizedReduce, ReLUConvBN, build_macro, make_op
from hwnas.core.spaces.nb201 import NB201Arch
from hwnas.core.spaces.nb201_supernet import ARCH_SHAPE, NB201Supernet, arch_from_weights

_POOLS = ("max_pool_3x3", "avg_pool_3x3")


class MixedOp(nn.Module):
    """The softmax-weighted sum of an edge's candidate operations; `none` adds exactly zero."""

    def __init__(self, candidates: tuple[str, ...], channels: int, stride: int) -> None:
        super().__init__()
        self.names = candidates
        ops = []
        for name in candidates:
            op = make_op(name, channels, stride, affine=False)
            if name in _POOLS:  # DARTS normalises pooling outputs in the search network
                op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)
        self.stride = stride

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        total = None
        for weight, name, op in zip(weights, self.names, self.ops):
            if name == "none":
                continue
            term = weight * op(x)
            total = term if total is None else total + term
        if total is None:  # every candidate is `none`
            return op(x)
        return total


class SearchCell(nn.Module):
    """A cell of mixed edges: inputs (s0, s1), output the concatenation of its 4 nodes."""

    def __init__(
        self,
        candidates: tuple[tuple[str, ...], ...],
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, channels, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(ops, channels, 2 if reduction and source < 2 else 1)
            for ops, (_, source) in zip(candidates, EDGES)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(STEPS):
            total = None
            for row, ((target, source), edge) in enumerate(zip(EDGES, self.edges)):
                if target != node:
                    continue
                term = edge(states[source], weights[row])
                total = term if total is None else total + term
            states.append(total)
        return torch.cat(states[2:], dim=1)


class CellSearchNetwork(nn.Module):
    """The DARTS search network: stem, `layers` cells (reductions at 1/3 and 2/3), classifier.

    Args:
        space: The cell space.
        channels: Channels of the first cells (DARTS searches with 16).
        layers: Cells in total (DARTS searches with 8).
        num_classes: Classifier outputs.
        in_channels: Input image channels.
        seed: Seed of the alpha initialisation (1e-3 * N(0, 1), as in DARTS).
    """

    def __init__(
        self,
        space: CellSpace,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if min(channels, layers, num_classes, in_channels) < 1:
            raise ValueError("channels, layers, num_classes and in_channels must be positive")
        self.space = space.name
        self._cell_space = space
        self.stem, self.cells, c_out = build_macro(
            in_channels,
            channels,
            layers,
            lambda reduction, c_pp, c_p, c, reduction_prev: SearchCell(
                space.reduce if reduction else space.normal,
                c_pp,
                c_p,
                c,
                reduction,
                reduction_prev,
            ),  # fmt: skip
            STEPS,
        )
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)
        generator = torch.Generator().manual_seed(seed)
        shape = (len(EDGES), space.num_ops)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(*shape, generator=generator))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(*shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normal = torch.softmax(self.alphas_normal, dim=-1)
        reduce = torch.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def derive(self) -> Genotype:
        """The genotype of the current alphas (two strongest inputs per node, no `none`)."""
        with torch.no_grad():
            normal = torch.softmax(self.alphas_normal, dim=-1).numpy()
            reduce = torch.softmax(self.alphas_reduce, dim=-1).numpy()
        return derive_genotype(self._cell_space, normal, reduce)


class NB201SearchModel(nn.Module):
    """DARTS on the NAS-Bench-201 supernet: one (6, 5) alpha matrix shared by all cells."""

    space = "nb201"

    def __init__(
        self,
        num_classes: int = 10,
        channels: int = 16,
        cells_per_stage: int = 5,
        in_channels: int = 3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.supernet = NB201Supernet(num_classes, channels, cells_per_stage, in_channels)
        generator = torch.Generator().manual_seed(seed)
        self.alphas = nn.Parameter(1e-3 * torch.randn(*ARCH_SHAPE, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x, torch.softmax(self.alphas, dim=-1))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas]

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.supernet.parameters())

    def derive(self) -> NB201Arch:
        """The argmax cell of the current alphas."""
        return arch_from_weights(self.alphas)
