"""The DARTS CNN cell space and the RobustDARTS spaces S1-S4.

A cell has 2 input nodes (the outputs of the two previous cells), 4 intermediate nodes and
the concatenation of the intermediate nodes as output. Intermediate node i (0..3) reads from
nodes 0..i+1, so a cell has 2+3+4+5 = 14 edges; edge order is node by node, input by input,
as in DARTS. A space fixes the candidate operations of every edge of the normal and of the
reduction cell.

S1-S4 are from Zela et al., "Understanding and Robustifying Differentiable Architecture
Search", ICLR 2020. The per-edge pairs of S1 are those of the authors' code
(automl/RobustDARTS, `src/spaces.py`, Apache-2.0), reproduced as data.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwnas.core.spaces.base import UnknownSpaceError

PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The 8 operations of the DARTS CNN space, in DARTS's order."""

EXTRA_PRIMITIVES: tuple[str, ...] = ("noise",)
"""Operations that only the RobustDARTS spaces use."""


def known_ops() -> tuple[str, ...]:
    """Every operation name `hwnas.core.spaces.darts_ops.make_op` builds."""
    return PRIMITIVES + EXTRA_PRIMITIVES


STEPS = 4
"""Intermediate nodes per cell."""

EDGES: tuple[tuple[int, int], ...] = tuple(
    (node, source) for node in range(STEPS) for source in range(node + 2)
)
"""The 14 edges as (intermediate node 0..3, input node 0..node+1), in alpha-row order."""

_S1_NORMAL = (
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("max_pool_3x3", "skip_connect"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "sep_conv_3x3"),
    ("max_pool_3x3", "skip_connect"),
    ("skip_connect", "dil_conv_3x3"),
    ("dil_conv_3x3", "dil_conv_5x5"),
    ("dil_conv_3x3", "dil_conv_5x5"),
)
_S1_REDUCE = (
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "dil_conv_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
)


@dataclass(frozen=True)
class CellSpace:
    """The candidate operations of each edge of the normal and the reduction cell.

    Attributes:
        name: The space's name (`darts`, `s1`..`s4`); stored in every genotype of the space.
        normal: For each of the 14 edges, its candidate operations (same count on every edge).
        reduce: The same for the reduction cell.
    """

    name: str
    normal: tuple[tuple[str, ...], ...]
    reduce: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for kind, edges in (("normal", self.normal), ("reduce", self.reduce)):
            if len(edges) != len(EDGES):
                raise ValueError(f"{self.name}: {kind} cell needs {len(EDGES)} edges")
            for ops in edges:
                unknown = [op for op in ops if op not in known_ops()]
                if unknown or len(set(ops)) != len(ops) or len(ops) != self.num_ops:
                    raise ValueError(f"{self.name}: bad {kind} candidates {ops}")

    @property
    def num_ops(self) -> int:
        """Candidate operations per edge: the width of an alpha matrix (14, num_ops)."""
        return len(self.normal[0])

    def candidates(self, cell: str) -> tuple[tuple[str, ...], ...]:
        """The per-edge candidates of the `normal` or `reduce` cell."""
        if cell == "normal":
            return self.normal
        if cell == "reduce":
            return self.reduce
        raise ValueError(f"cell must be 'normal' or 'reduce', got {cell!r}")


def _uniform(name: str, ops: tuple[str, ...]) -> CellSpace:
    return CellSpace(name, (ops,) * len(EDGES), (ops,) * len(EDGES))


_SPACES = {
    "darts": _uniform("darts", PRIMITIVES),
    "s1": CellSpace("s1", _S1_NORMAL, _S1_REDUCE),
    "s2": _uniform("s2", ("skip_connect", "sep_conv_3x3")),
    "s3": _uniform("s3", ("none", "skip_connect", "sep_conv_3x3")),
    "s4": _uniform("s4", ("noise", "sep_conv_3x3")),
}

CELL_SPACES: tuple[str, ...] = tuple(_SPACES)
"""The names of the cell spaces."""


def cell_space(name: str) -> CellSpace:
    """The cell space called `name` (`darts`, `s1`, `s2`, `s3`, `s4`).

    Raises:
        UnknownSpaceError: naming the known spaces.
    """
    try:
        return _SPACES[name]
    except KeyError:
        raise UnknownSpaceError(
            f"unknown DARTS cell space {name!r}; known: {', '.join(CELL_SPACES)}"
        ) from None
