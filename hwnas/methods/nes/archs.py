"""Sampling and mutating the architectures of a NES pool, in the NB201 and DARTS spaces.

NB201 uses `NB201Arch.sample` / `NB201Arch.mutate` (one edge's operation changed). A DARTS
genotype is drawn by giving each intermediate node two distinct inputs with uniformly chosen
operations (never ``none``); a mutation changes one operation or one input of one node of
the normal or the reduction cell, as in NES-RE (Zaidi, Zela et al., NeurIPS 2021), which
follows regularised evolution's mutations (Real et al., AAAI 2019).
"""

from __future__ import annotations

import numpy as np

from hwnas.core.spaces.darts import EDGES, STEPS, cell_space
from hwnas.core.spaces.darts_genotype import Genotype
from hwnas.methods.nes.pool import SPACES, PoolError


def _allowed(space: str, cell: str, node: int, source: int) -> tuple[str, ...]:
    candidates = cell_space(space).candidates(cell)[EDGES.index((node, source))]
    return tuple(op for op in candidates if op not in ("none", "noise"))


def _pick(rng: np.random.Generator, options) -> object:
    return options[int(rng.integers(len(options)))]


def sample_genotype(rng: np.random.Generator, space: str = "darts") -> Genotype:
    """A DARTS genotype drawn at random: per node, 2 distinct inputs, each with a random op."""
    cells = {}
    for cell in ("normal", "reduce"):
        genes = []
        for node in range(STEPS):
            sources = sorted(rng.choice(node + 2, size=2, replace=False).tolist())
            genes.extend((_pick(rng, _allowed(space, cell, node, s)), s) for s in sources)
        cells[cell] = tuple(genes)
    return Genotype(space, cells["normal"], cells["reduce"])


def mutate_genotype(genotype: Genotype, rng: np.random.Generator) -> Genotype:
    """A genotype that differs from `genotype` in one operation or one input of one node.

    An input mutation keeps the node's two inputs distinct and keeps the operation when the
    new edge allows it (else draws one the new edge allows).
    """
    cell = _pick(rng, ("normal", "reduce"))
    genes = list(getattr(genotype, cell))
    position = int(rng.integers(len(genes)))
    node, (op, source) = position // 2, genes[position]
    other_source = genes[position ^ 1][1]
    new_sources = [s for s in range(node + 2) if s not in (source, other_source)]
    if new_sources and rng.random() < 0.5:
        new_source = _pick(rng, new_sources)
        allowed = _allowed(genotype.space, cell, node, new_source)
        genes[position] = (op if op in allowed else _pick(rng, allowed), new_source)
    else:
        allowed = [o for o in _allowed(genotype.space, cell, node, source) if o != op]
        genes[position] = (_pick(rng, allowed), source)
    pair = sorted(genes[2 * node : 2 * node + 2], key=lambda gene: gene[1])
    genes[2 * node : 2 * node + 2] = pair
    cells = {"normal": genotype.normal, "reduce": genotype.reduce, cell: tuple(genes)}
    return Genotype(genotype.space, cells["normal"], cells["reduce"])


def sample_arch(space: str, rng: np.random.Generator) -> str:
    """The canonical string of an architecture drawn uniformly from `space`."""
    if space == "nb201":
        from hwnas.core.spaces.nb201 import NB201Arch

        return str(NB201Arch.sample(rng))
    if space == "darts":
        return str(sample_genotype(rng))
    raise PoolError(f"unknown NES space {space!r}; expected one of {', '.join(SPACES)}")


def mutate_arch(space: str, arch: str, rng: np.random.Generator) -> str:
    """The canonical string of a one-step mutation of `arch`."""
    if space == "nb201":
        from hwnas.core.spaces.nb201 import NB201Arch

        return str(NB201Arch.from_string(arch).mutate(rng))
    if space == "darts":
        return str(mutate_genotype(Genotype.from_string(arch), rng))
    raise PoolError(f"unknown NES space {space!r}; expected one of {', '.join(SPACES)}")
