"""The DARTS cell spaces as registered search spaces: ``darts`` and RobustDARTS's ``s1``..``s4``.

An architecture is a `Genotype` (a normal and a reduction cell), written as its canonical
string. A genotype is drawn by giving each intermediate node two distinct inputs with uniformly
chosen operations (never ``none``); a mutation changes one operation or one input of one node
of the normal or the reduction cell, as in NES-RE (Zaidi, Zela et al., NeurIPS 2021), which
follows regularised evolution's mutations (Real et al., AAAI 2019). The network is DARTS's
evaluation network (`hwnas.core.spaces.darts_net.DartsNetwork`).

No latency table ships for these spaces: their 10 reference genotypes are the first 10
distinct ones drawn with seed 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwnas.core.spaces.base import SearchSpace, register_space
from hwnas.core.spaces.darts import EDGES, STEPS, CellSpace, cell_space, known_ops
from hwnas.core.spaces.darts_genotype import Genotype, GenotypeError

REFERENCE_SEED = 0
"""The seed whose first 10 distinct genotypes are a DARTS space's reference architectures."""

FEATURES: tuple[str, ...] = tuple(
    f"{cell}:{kind}:{name}"
    for cell in ("normal", "reduce")
    for kind, names in (("count", known_ops()), ("input", tuple(map(str, range(STEPS + 1)))))
    for name in names
)
"""Names of the `encode` columns: per cell, each operation's count and each input's reads."""


def _allowed(space: str, cell: str, node: int, source: int, skip: Sequence[str]) -> tuple:
    candidates = cell_space(space).candidates(cell)[EDGES.index((node, source))]
    return tuple(op for op in candidates if op not in skip)


def _pick(rng: np.random.Generator, options) -> object:
    return options[int(rng.integers(len(options)))]


def sample_genotype(
    rng: np.random.Generator, space: str = "darts", skip: Sequence[str] = ("none",)
) -> Genotype:
    """A genotype drawn at random: per node, 2 distinct inputs, each with a random operation.

    Args:
        rng: The random generator.
        space: The cell space's name.
        skip: Operations never drawn (``none`` always; NES also skips ``noise``).
    """
    cells = {}
    for cell in ("normal", "reduce"):
        genes = []
        for node in range(STEPS):
            sources = sorted(rng.choice(node + 2, size=2, replace=False).tolist())
            genes.extend((_pick(rng, _allowed(space, cell, node, s, skip)), s) for s in sources)
        cells[cell] = tuple(genes)
    return Genotype(space, cells["normal"], cells["reduce"])


def mutate_genotype(
    genotype: Genotype, rng: np.random.Generator, skip: Sequence[str] = ("none",)
) -> Genotype:
    """A genotype that differs from `genotype` in one operation or one input of one node.

    An input mutation keeps the node's two inputs distinct and keeps the operation when the
    new edge allows it (else draws one the new edge allows). Operations in `skip` are never
    drawn.
    """
    cell = _pick(rng, ("normal", "reduce"))
    genes = list(getattr(genotype, cell))
    position = int(rng.integers(len(genes)))
    node, (op, source) = position // 2, genes[position]
    other_source = genes[position ^ 1][1]
    new_sources = [s for s in range(node + 2) if s not in (source, other_source)]
    others = [o for o in _allowed(genotype.space, cell, node, source, skip) if o != op]
    if new_sources and (rng.random() < 0.5 or not others):
        new_source = _pick(rng, new_sources)
        allowed = _allowed(genotype.space, cell, node, new_source, skip)
        genes[position] = (op if op in allowed else _pick(rng, allowed), new_source)
    else:
        genes[position] = (_pick(rng, others), source)
    pair = sorted(genes[2 * node : 2 * node + 2], key=lambda gene: gene[1])
    genes[2 * node : 2 * node + 2] = pair
    cells = {"normal": genotype.normal, "reduce": genotype.reduce, cell: tuple(genes)}
    return Genotype(genotype.space, cells["normal"], cells["reduce"])


def encode(genotypes: Sequence[Genotype]) -> np.ndarray:
    """Predictor features, (N, 2 * (ops + 5)) float32; `FEATURES` names the columns.

    Per cell: how often each operation of `known_ops` occurs, and how often each of the nodes
    0..4 is read (the cell inputs 0, 1 and the intermediate nodes 2..4).
    """
    ops = {op: i for i, op in enumerate(known_ops())}
    width = len(ops) + STEPS + 1
    out = np.zeros((len(genotypes), 2 * width), dtype=np.float32)
    for row, genotype in enumerate(genotypes):
        for c, genes in enumerate((genotype.normal, genotype.reduce)):
            for op, source in genes:
                out[row, c * width + ops[op]] += 1.0
                out[row, c * width + len(ops) + source] += 1.0
    return out


class DartsSpace(SearchSpace):
    """A DARTS cell space: genotypes and DARTS's evaluation network (32x32 RGB input).

    Subclasses name their `CellSpace` (`cells`); ``darts`` has DARTS's 8 operations on every
    edge, ``s1``..``s4`` are RobustDARTS's reduced spaces.
    """

    input_shape = (3, 32, 32)
    arch_noun = "genotypes"
    size_defaults = {"channels": 16, "layers": 8}
    depth_keyword = "layers"

    @property
    def cells(self) -> CellSpace:
        """The candidate operations of every edge of the two cells."""
        return cell_space(self.name)

    def check_sizes(self, **sizes: int) -> None:
        """As `SearchSpace.check_sizes`; DARTS's factorised reduction also needs even channels."""
        super().check_sizes(**sizes)
        if sizes.get("channels", 2) % 2:
            raise GenotypeError(
                f"DARTS networks need an even channel count, got {sizes['channels']}"
            )

    def parse(self, text: str) -> Genotype:
        genotype = Genotype.from_string(text)
        if genotype.space != self.name:
            raise GenotypeError(
                f"{text!r} is a genotype of space {genotype.space!r}, not {self.name!r}"
            )
        return genotype

    def sample(self, rng: np.random.Generator) -> Genotype:
        return sample_genotype(rng, self.name)

    def mutate(self, arch: Genotype, rng: np.random.Generator) -> Genotype:
        return mutate_genotype(arch, rng)

    def encode(self, archs) -> np.ndarray:
        return encode(list(archs))

    def build(
        self,
        arch: Genotype,
        num_classes: int = 10,
        channels: int = 16,
        layers: int = 8,
        in_channels: int = 3,
    ):
        """A `hwnas.core.spaces.darts_net.DartsNetwork` (input (B, in_channels, H, W))."""
        from hwnas.core.spaces.darts_net import DartsNetwork

        return DartsNetwork(arch, channels, layers, num_classes, in_channels)

    def reference_archs(self) -> tuple[Genotype, ...]:
        rng = np.random.default_rng(REFERENCE_SEED)
        archs: list[Genotype] = []
        while len(archs) < 10:
            arch = self.sample(rng)
            if arch not in archs:
                archs.append(arch)
        return tuple(archs)


@register_space("darts")
class DartsCellSpace(DartsSpace):
    """The DARTS CNN cell space (Liu et al., ICLR 2019): 8 operations on each of 14 edges."""


@register_space("s1")
class RobustDartsS1(DartsSpace):
    """RobustDARTS S1: the two strongest operations per edge of a DARTS search."""

    variant_of = "darts"


@register_space("s2")
class RobustDartsS2(DartsSpace):
    """RobustDARTS S2: ``skip_connect`` and ``sep_conv_3x3`` on every edge."""

    variant_of = "darts"


@register_space("s3")
class RobustDartsS3(DartsSpace):
    """RobustDARTS S3: ``none``, ``skip_connect`` and ``sep_conv_3x3`` on every edge."""

    variant_of = "darts"


@register_space("s4")
class RobustDartsS4(DartsSpace):
    """RobustDARTS S4: ``noise`` and ``sep_conv_3x3`` on every edge."""

    variant_of = "darts"
