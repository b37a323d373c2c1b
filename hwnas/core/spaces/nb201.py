"""The NAS-Bench-201 cell space as a registered search space.

The cell value, its string, index and encodings live in `hwnas.core.spaces.nb201_arch` (and
are re-exported here); the network in `hwnas.core.spaces.nb201_net`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwnas.core.spaces.base import SearchSpace, register_space
from hwnas.core.spaces.nb201_arch import (
    EDGES,
    FEATURES,
    NUM_ARCHS,
    OPS,
    ArchIndexError,
    ArchStringError,
    NB201Arch,
    _code_by_index,
    all_codes,
    encode,
    encode_codes,
    one_hot,
    parse_arch,
)

__all__ = [
    "EDGES",
    "FEATURES",
    "NUM_ARCHS",
    "OPS",
    "ArchIndexError",
    "ArchStringError",
    "NB201Arch",
    "NB201Space",
    "all_codes",
    "encode",
    "encode_codes",
    "one_hot",
    "parse_arch",
]


@register_space("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space with its CIFAR network (32x32 RGB input)."""

    input_shape = (3, 32, 32)
    index_column = "nb201_index"
    arch_noun = "cells"
    size_defaults = {"channels": 16, "cells_per_stage": 5}
    depth_keyword = "cells_per_stage"

    def parse(self, text: str) -> NB201Arch:
        return NB201Arch.from_string(text)

    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return NB201Arch.sample(rng)

    def mutate(self, arch: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        return arch.mutate(rng)

    def encode(self, archs) -> np.ndarray:
        return encode(list(archs))

    def build(
        self,
        arch: NB201Arch,
        num_classes: int = 10,
        channels: int = 16,
        cells_per_stage: int = 5,
        in_channels: int = 3,
    ):
        """A `hwnas.core.spaces.nb201_net.NB201Network` (input (B, in_channels, H, W))."""
        from hwnas.core.spaces.nb201_net import NB201Network

        return NB201Network(arch, num_classes, channels, cells_per_stage, in_channels)

    def reference_archs(self) -> tuple[NB201Arch, ...]:
        from hwnas.core.tables import reference_indices

        return tuple(NB201Arch.from_index(i) for i in reference_indices("nb201"))

    def all_archs(self) -> tuple[NB201Arch, ...]:
        """All 15,625 cells in NAS-Bench-201 index order."""
        return tuple(NB201Arch.from_code(int(c)) for c in _code_by_index())

    def table_archs(self) -> tuple[NB201Arch, ...]:
        """All 15,625 cells, in `nb201_index` order (the shipped table holds every cell)."""
        return self.all_archs()

    def table_index(self, arch: NB201Arch) -> int:
        """The NAS-Bench-201 index of `arch` (every cell has one)."""
        return arch.index

    def predictor_features(self, archs: Sequence[NB201Arch]) -> np.ndarray:
        """The MetaPredictor's features, (N, 40) float32.

        The one-hot operation of each of the 6 edges (30) and the operation counts over all
        edges and over the edges that reach the output, divided by 6 (10).
        """
        archs = list(archs)
        return np.concatenate([one_hot(archs), encode(archs) / 6.0], axis=1).astype(np.float32)

    def network_costs(self, archs: Sequence[NB201Arch]) -> tuple[np.ndarray, np.ndarray]:
        """(parameters, MACs) of each cell's default network (`nb201_net.network_costs`)."""
        from hwnas.core.spaces.nb201_net import network_costs

        return network_costs(list(archs))
