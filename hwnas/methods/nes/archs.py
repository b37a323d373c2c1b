"""Sampling and mutating the architectures of a NES pool, through the pool's search space.

NB201 uses `NB201Arch.sample` / `NB201Arch.mutate` (one edge's operation changed); a DARTS
genotype is drawn and mutated by `hwnas.core.spaces.darts_space` (one operation or one input
of one node, as in NES-RE).
"""

from __future__ import annotations

import numpy as np

from hwnas.core.spaces import create_space
from hwnas.core.spaces.darts_space import mutate_genotype, sample_genotype
from hwnas.methods.nes.member import check_pool_space

__all__ = ["mutate_arch", "mutate_genotype", "sample_arch", "sample_genotype"]


def sample_arch(space: str, rng: np.random.Generator) -> str:
    """The canonical string of an architecture drawn uniformly from `space`."""
    check_pool_space(space)
    return str(create_space(space).sample(rng))


def mutate_arch(space: str, arch: str, rng: np.random.Generator) -> str:
    """The canonical string of a one-step mutation of `arch`."""
    check_pool_space(space)
    searched = create_space(space)
    return str(searched.mutate(searched.parse(arch), rng))
