"""The discrete DARTS cell (a genotype): value, canonical string, JSON, derivation from alphas.

A genotype names, for each of the 4 intermediate nodes of the normal and of the reduction
cell, two (operation, input node) pairs; the cell output concatenates nodes 2..5 (DARTS's
numbering: 0 and 1 are the cell inputs). Its canonical string is::

    darts:normal=sep_conv_3x3~0,sep_conv_3x3~1,...;reduce=max_pool_3x3~0,...

with the space's name first, so a genotype of one space is never read as one of another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.core.spaces.darts import EDGES, STEPS, CellSpace, cell_space
from hwnas.errors import DivergedError, InputError

FORMAT = "hwnas-darts-genotype"
CONCAT: tuple[int, ...] = tuple(range(2, 2 + STEPS))
"""Nodes concatenated into the cell output."""


class GenotypeError(InputError):
    """A genotype (string, JSON file or value) that is malformed or not of its space."""


class ArchitectureDivergedError(DivergedError):
    """Architecture weights that are NaN or infinite: no cell can be derived from them."""


def _edge_index(node: int, source: int) -> int:
    return EDGES.index((node, source))


@dataclass(frozen=True)
class Genotype:
    """One discrete DARTS cell pair; an immutable, hashable value keyed by `str(genotype)`.

    Attributes:
        space: The cell space's name (`darts`, `s1`..`s4`).
        normal: 8 (operation, input node) pairs, two per intermediate node, in node order.
        reduce: The same for the reduction cell.
    """

    space: str
    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        try:
            space = cell_space(self.space)
        except KeyError as err:
            raise GenotypeError(str(err)) from None
        for cell in ("normal", "reduce"):
            genes = tuple((str(op), int(source)) for op, source in getattr(self, cell))
            _check_genes(space, cell, genes)
            object.__setattr__(self, cell, genes)

    def __str__(self) -> str:
        def cell(genes: tuple[tuple[str, int], ...]) -> str:
            return ",".join(f"{op}~{source}" for op, source in genes)

        return f"{self.space}:normal={cell(self.normal)};reduce={cell(self.reduce)}"

    @classmethod
    def from_string(cls, text: str) -> Genotype:
        """Parses the canonical string.

        Raises:
            GenotypeError: naming the part that is wrong.
        """
        space, sep, body = text.strip().partition(":")
        parts = dict(part.partition("=")[::2] for part in body.split(";"))
        if not sep or set(parts) != {"normal", "reduce"}:
            raise GenotypeError(
                f"not a genotype string: {text!r}; expected SPACE:normal=op~i,...;reduce=op~i,..."
            )
        cells = {}
        for cell, genes in parts.items():
            pairs = []
            for token in genes.split(","):
                op, tilde, source = token.partition("~")
                if not tilde or not source.isdigit():
                    raise GenotypeError(f"{cell} gene {token!r} of {text!r} is not op~input")
                pairs.append((op, int(source)))
            cells[cell] = tuple(pairs)
        return cls(space, cells["normal"], cells["reduce"])

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "space": self.space,
            "normal": [list(gene) for gene in self.normal],
            "normal_concat": list(CONCAT),
            "reduce": [list(gene) for gene in self.reduce],
            "reduce_concat": list(CONCAT),
            "string": str(self),
        }

    @classmethod
    def from_dict(cls, data: dict, space: str | None = None, source: str = "genotype") -> Genotype:
        """The genotype of `to_dict`; `space`, if given, must be the genotype's space.

        Raises:
            GenotypeError: for a malformed dict or one of another space.
        """
        if isinstance(data, dict) and data.get("space") == "nb201":
            raise GenotypeError(
                f"{source} is a NAS-Bench-201 cell ({data.get('arch')}), not a DARTS cell-space "
                "genotype; build and export it with `hwnas export --arch`"
            )
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise GenotypeError(f"{source} is not a DARTS genotype (no 'format': '{FORMAT}')")
        if space is not None and data.get("space") != space:
            raise GenotypeError(
                f"{source} is a genotype of space {data.get('space')!r}, expected {space!r}: "
                "a cell is only meaningful in the space it was searched in"
            )
        for key in ("normal_concat", "reduce_concat"):
            if tuple(data.get(key, CONCAT)) != CONCAT:
                raise GenotypeError(f"{source}: {key} must be {list(CONCAT)}")
        try:
            return cls(
                data["space"], tuple(map(tuple, data["normal"])), tuple(map(tuple, data["reduce"]))
            )
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, GenotypeError):
                raise
            raise GenotypeError(f"{source}: malformed genotype: {err!r}") from None

    def save(self, path: str | Path) -> Path:
        """Writes the genotype as JSON to `path`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def load_genotype(path: str | Path, space: str | None = None) -> Genotype:
    """Reads a genotype JSON file; `space`, if given, must be the genotype's space.

    Raises:
        GenotypeError: for a missing, unreadable or malformed file, or one of another space.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise GenotypeError(f"cannot read genotype file {path}: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GenotypeError(f"genotype file {path} is not JSON: {err}") from None
    return Genotype.from_dict(data, space=space, source=f"genotype file {path}")


def _check_genes(space: CellSpace, cell: str, genes: tuple[tuple[str, int], ...]) -> None:
    if len(genes) != 2 * STEPS:
        raise GenotypeError(f"{cell} cell has {len(genes)} genes, expected {2 * STEPS}")
    candidates = space.candidates(cell)
    for position, (op, source) in enumerate(genes):
        node = position // 2
        if not 0 <= source < node + 2:
            raise GenotypeError(
                f"{cell} gene {position} ({op}~{source}): node {node + 2} reads from "
                f"nodes 0..{node + 1}"
            )
        allowed = candidates[_edge_index(node, source)]
        if op == "none" or op not in allowed:
            raise GenotypeError(
                f"{cell} gene {position} ({op}~{source}) is not an operation of space "
                f"{space.name!r} on that edge; allowed: "
                f"{', '.join(o for o in allowed if o != 'none')}"
            )
    for node in range(STEPS):
        if genes[2 * node][1] == genes[2 * node + 1][1]:
            raise GenotypeError(f"{cell} node {node + 2} reads twice from the same input")


def derive_cell(candidates: tuple[tuple[str, ...], ...], weights: np.ndarray) -> tuple:
    """DARTS's discretisation of one cell.

    Per node, the 2 inputs whose strongest non-`none` operation weighs most, each with that
    operation.

    Args:
        candidates: The 14 edges' candidate operations.
        weights: (14, num_ops) operation weights (softmax of the alphas).

    Raises:
        ArchitectureDivergedError: if a weight is NaN or infinite.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(weights)):
        raise ArchitectureDivergedError(
            "architecture weights contain NaN or inf: the search diverged and no cell can be "
            "derived (lower the architecture learning rate or use --mode es/ada)"
        )
    genes = []
    for node in range(STEPS):
        best = []
        for source in range(node + 2):
            edge = _edge_index(node, source)
            scored = [(w, op) for w, op in zip(weights[edge], candidates[edge]) if op != "none"]
            weight, op = max(scored)
            best.append((weight, -source, op, source))
        best.sort(reverse=True)
        genes.extend((op, source) for _, _, op, source in sorted(best[:2], key=lambda b: b[3]))
    return tuple(genes)


def derive_genotype(space: CellSpace, normal_weights, reduce_weights) -> Genotype:
    """The genotype of (14, num_ops) normal and reduction operation weights."""
    return Genotype(
        space.name,
        derive_cell(space.normal, normal_weights),
        derive_cell(space.reduce, reduce_weights),
    )
