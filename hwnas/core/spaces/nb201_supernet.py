"""The NAS-Bench-201 weight-sharing supernet, driven by external architecture weights.

Same macro skeleton as `hwnas.core.spaces.nb201_net.NB201Network` (stem, 3 stages of cells,
residual reduction blocks, BN-ReLU, pooling, classifier), but every one of the 6 cell edges
is a mixed operation over the 5 NAS-Bench-201 operations. The architecture weights are an
argument of `forward`, a (6, 5) tensor whose rows follow `EDGES` and columns `OPS`: a softmax
of DARTS alphas, or one-hot / straight-through Gumbel samples from another module (MODNAS's
hypernetwork). All cells share the one weight matrix, as in NAS-Bench-201's DARTS baseline.
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.core.spaces.nb201_arch import ARCH_SHAPE, EDGES, OPS, NB201Arch
from hwnas.core.spaces.nb201_net import ResNetBasicBlock, make_op
from hwnas.errors import InputError

__all__ = ["ARCH_SHAPE", "NB201Supernet", "arch_from_weights", "weights_from_arch"]
"""The shape of the architecture weights: (edges, operations)."""


class ArchWeightsError(InputError):
    """Architecture weights of the wrong shape or with non-finite values."""


class MixedEdge(nn.Module):
    """One edge: the weighted sum of the 5 operations (`none` contributes exactly zero)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({op: make_op(op, channels) for op in OPS if op != "none"})

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """X (B, C, H, W); weights (5,) in `OPS` order."""
        total = None
        for column, op in enumerate(OPS):
            if op == "none":
                continue
            term = weights[column] * self.ops[op](x)
            total = term if total is None else total + term
        return total


class NB201SearchCell(nn.Module):
    """A NAS-Bench-201 cell with a mixed operation on each of its 6 edges; shape-preserving."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(channels) for _ in EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in (1, 2, 3):
            terms = [
                edge(nodes[source], weights[row])
                for row, ((target, source), edge) in enumerate(zip(EDGES, self.edges))
                if target == node
            ]
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            nodes.append(total)
        return nodes[3]


class NB201Supernet(nn.Module):
    """The NAS-Bench-201 supernet: input (B, in_channels, H, W), output logits (B, classes).

    Args:
        num_classes: Classifier outputs.
        channels: Channels of the first stage (NAS-Bench-201 uses 16).
        cells_per_stage: Cells per stage (NAS-Bench-201 uses 5); 1 keeps it cheap on a CPU.
        in_channels: Input image channels.
    """

    def __init__(
        self,
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
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        layers: list[nn.Module] = []
        c_prev = channels
        for stage in range(3):
            c_stage = channels * 2**stage
            if stage > 0:
                layers.append(ResNetBasicBlock(c_prev, c_stage))
            layers.extend(NB201SearchCell(c_stage) for _ in range(cells_per_stage))
            c_prev = c_stage
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, arch_weights: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes) of `x` under `arch_weights` (6, 5), rows `EDGES`, columns `OPS`.

        Raises:
            ArchWeightsError: if `arch_weights` is not (6, 5).
        """
        if tuple(arch_weights.shape) != ARCH_SHAPE:
            raise ArchWeightsError(
                f"architecture weights must be {ARCH_SHAPE} (edges x operations), "
                f"got {tuple(arch_weights.shape)}"
            )
        features = self.stem(x)
        for layer in self.cells:
            if isinstance(layer, NB201SearchCell):
                features = layer(features, arch_weights)
            else:
                features = layer(features)
        features = self.lastact(features)
        return self.classifier(torch.flatten(self.global_pooling(features), 1))


def arch_from_weights(arch_weights) -> NB201Arch:
    """The argmax cell of (6, 5) architecture weights (a tensor or an array).

    Ties go to the first operation in `OPS` order.

    Raises:
        ArchWeightsError: for the wrong shape or a NaN/infinite weight (a diverged search has
            no argmax cell).
    """
    values = torch.as_tensor(arch_weights).detach().to(torch.float64)
    if tuple(values.shape) != ARCH_SHAPE:
        raise ArchWeightsError(
            f"architecture weights must be {ARCH_SHAPE}, got {tuple(values.shape)}"
        )
    if not bool(torch.isfinite(values).all()):
        raise ArchWeightsError(
            "architecture weights contain NaN or inf: the search diverged and has no argmax cell"
        )
    return NB201Arch(tuple(OPS[int(i)] for i in values.argmax(dim=1)))


def weights_from_arch(arch: NB201Arch) -> torch.Tensor:
    """The one-hot (6, 5) architecture weights of `arch` (float32)."""
    weights = torch.zeros(ARCH_SHAPE)
    for row, op in enumerate(arch.ops):
        weights[row, OPS.index(op)] = 1.0
    return weights
