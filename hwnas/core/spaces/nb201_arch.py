"""NAS-Bench-201 cells: the architecture value, its string and index, encoding, sampling.

A cell is a DAG of 4 nodes; each of the 6 edges (node <- input) 1<-0, 2<-0, 2<-1, 3<-0, 3<-1,
3<-2 carries one of 5 operations, so the space holds 5**6 = 15,625 cells (Dong & Yang,
"NAS-Bench-201", ICLR 2020). The canonical string is NAS-Bench-201's own notation::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

import numpy as np

from hwnas.errors import InputError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The operation vocabulary, in the order used by `NB201Arch.code` and the encoding."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""The edges as (node, input node), in the order of the canonical string."""

NUM_ARCHS = len(OPS) ** len(EDGES)
ARCH_SHAPE: tuple[int, int] = (len(EDGES), len(OPS))
"""The shape of a cell's architecture weights or logits: one row per edge, one column per op."""
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"  # noqa: E501


class ArchStringError(InputError):
    """A string that is not a valid NAS-Bench-201 architecture."""


class ArchIndexError(InputError):
    """An index outside 0..15624, or an architecture without an index."""


def _fail(text: str, problem: str) -> ArchStringError:
    return ArchStringError(
        f"not a NAS-Bench-201 architecture string: {text!r}: {problem}. "
        f"Expected the form |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with op one of "
        f"{', '.join(OPS)}; for example {_EXAMPLE}"
    )


def _parse_token(text: str, node: int, position: int, token: str) -> str:
    where = f"node {node}, edge {position + 1} ({token!r})"
    op, sep, source = token.partition("~")
    if not sep:
        raise _fail(text, f"{where} has no '~': each edge is written op~input")
    if op not in _OP_INDEX:
        close = difflib.get_close_matches(op, OPS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _fail(text, f"{where} names the unknown operation {op!r}{hint}")
    if source != str(position):
        raise _fail(
            text,
            f"{where} reads from input {source!r}, but edge {position + 1} of node "
            f"{node} must read from node {position} (write {op}~{position})",
        )
    return op


@functools.total_ordering
@dataclass(frozen=True)
class NB201Arch:
    """One NAS-Bench-201 cell: an immutable, hashable value keyed by its canonical string.

    Attributes:
        ops: The 6 edge operations in `EDGES` order.
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != len(EDGES):
            raise ArchStringError(f"a NAS-Bench-201 cell has {len(EDGES)} edges, got {len(ops)}")
        unknown = [op for op in ops if op not in _OP_INDEX]
        if unknown:
            raise ArchStringError(f"unknown operation(s) {unknown}; expected one of {OPS}")
        object.__setattr__(self, "ops", ops)

    @classmethod
    def from_string(cls, text: str) -> NB201Arch:
        """Parses the canonical string; surrounding whitespace is ignored.

        Raises:
            ArchStringError: naming the part that is wrong and what was expected there.
        """
        if not isinstance(text, str):
            raise ArchStringError(f"expected an architecture string, got {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            raise _fail(text, "the string is empty")
        groups = stripped.split("+")
        if len(groups) != 3:
            raise _fail(text, f"found {len(groups)} node group(s) separated by '+', expected 3")
        ops: list[str] = []
        for node, group in enumerate(groups, start=1):
            if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
                raise _fail(text, f"node {node} ({group!r}) must begin and end with '|'")
            tokens = group[1:-1].split("|")
            if len(tokens) != node:
                raise _fail(
                    text, f"node {node} ({group!r}) has {len(tokens)} edge(s), expected {node}"
                )
            ops.extend(_parse_token(text, node, i, token) for i, token in enumerate(tokens))
        return cls(tuple(ops))

    def __str__(self) -> str:
        parts, start = [], 0
        for node in (1, 2, 3):
            edges = self.ops[start : start + node]
            parts.append("|" + "|".join(f"{op}~{i}" for i, op in enumerate(edges)) + "|")
            start += node
        return "+".join(parts)

    def __lt__(self, other: NB201Arch) -> bool:
        if not isinstance(other, NB201Arch):
            return NotImplemented
        return self.code < other.code

    @property
    def code(self) -> int:
        """A base-5 number 0..15624 in `OPS` order (not the NAS-Bench-201 index)."""
        return sum(_OP_INDEX[op] * len(OPS) ** i for i, op in enumerate(self.ops))

    @classmethod
    def from_code(cls, code: int) -> NB201Arch:
        """The inverse of `code`."""
        if not 0 <= int(code) < NUM_ARCHS:
            raise ArchIndexError(f"code {code} is outside 0..{NUM_ARCHS - 1}")
        code = int(code)
        ops = []
        for _ in EDGES:
            code, digit = divmod(code, len(OPS))
            ops.append(OPS[digit])
        return cls(tuple(ops))

    @property
    def index(self) -> int:
        """The NAS-Bench-201 index (0..15624) of this cell, as in the benchmark's own files."""
        return int(_index_by_code()[self.code])

    @classmethod
    def from_index(cls, index: int) -> NB201Arch:
        """The cell with the given NAS-Bench-201 index."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ArchIndexError(f"a NAS-Bench-201 index is an integer, got {index!r}")
        if not 0 <= index < NUM_ARCHS:
            raise ArchIndexError(f"NAS-Bench-201 index {index} is outside 0..{NUM_ARCHS - 1}")
        return cls.from_code(int(_code_by_index()[index]))

    def live_edges(self) -> tuple[tuple[int, int, str], ...]:
        """The (node, input, op) edges that are not `none`."""
        return tuple((n, i, op) for (n, i), op in zip(EDGES, self.ops) if op != "none")

    def mutate(self, rng: np.random.Generator) -> NB201Arch:
        """A new cell with one edge's operation changed to a different one."""
        ops = list(self.ops)
        edge = int(rng.integers(len(EDGES)))
        choices = [op for op in OPS if op != ops[edge]]
        ops[edge] = choices[int(rng.integers(len(choices)))]
        return NB201Arch(tuple(ops))

    @classmethod
    def sample(cls, rng: np.random.Generator) -> NB201Arch:
        """A cell drawn uniformly from the 15,625."""
        return cls.from_code(int(rng.integers(NUM_ARCHS)))


def parse_arch(text: str) -> NB201Arch:
    """Shorthand for `NB201Arch.from_string`."""
    return NB201Arch.from_string(text)


FEATURES: tuple[str, ...] = tuple(f"count:{op}" for op in OPS) + tuple(
    f"live_count:{op}" for op in OPS
)
"""Names of the predictor features, in `encode` order."""


def encode(archs: list[NB201Arch] | tuple[NB201Arch, ...]) -> np.ndarray:
    """Predictor features, (N, 10) float32; `FEATURES` names them.

    Columns 0-4 count each operation over the 6 edges; 5-9 count it over the edges whose
    result reaches the cell output (the others are removed as dead code by exporters and
    runtimes). Every edge of a cell sees tensors of one shape, so a device's latency is close
    to linear in these counts: on the shipped latency tables a linear model on them ranks
    cells better from 15-40 samples than one on the one-hot edge encoding (`one_hot`).
    """
    return encode_codes(_codes(archs))


def encode_codes(codes: np.ndarray) -> np.ndarray:
    """`encode` for an array of `NB201Arch.code` values: (N, 10) float32."""
    return _feature_table()[np.asarray(codes, dtype=np.int64), len(EDGES) * len(OPS) :]


def one_hot(archs: list[NB201Arch] | tuple[NB201Arch, ...]) -> np.ndarray:
    """The operation of each edge one-hot, (N, 30) float32: edge e, op k at column 5e + k."""
    return _feature_table()[_codes(archs), : len(EDGES) * len(OPS)]


def _codes(archs: list[NB201Arch] | tuple[NB201Arch, ...]) -> np.ndarray:
    return np.fromiter((a.code for a in archs), dtype=np.int64, count=len(archs))


def _features(arch: NB201Arch) -> np.ndarray:
    """One-hot (30), counts (5) and live counts (5) of one cell."""
    one_hot = np.zeros((len(EDGES), len(OPS)), dtype=np.float32)
    one_hot[np.arange(len(EDGES)), [_OP_INDEX[op] for op in arch.ops]] = 1.0
    reaches_output = {3}
    for node in (2, 1):
        if any(n in reaches_output and i == node for n, i, _ in arch.live_edges()):
            reaches_output.add(node)
    live = np.array([n in reaches_output for n, _ in EDGES], dtype=np.float32)
    return np.concatenate([one_hot.ravel(), one_hot.sum(0), (one_hot * live[:, None]).sum(0)])


@functools.cache
def _feature_table() -> np.ndarray:
    """`_features` of every code, (15625, 40), computed for all codes at once."""
    codes = np.arange(NUM_ARCHS)
    digits = (codes[:, None] // len(OPS) ** np.arange(len(EDGES))) % len(OPS)  # (N, 6)
    one_hot = np.eye(len(OPS), dtype=np.float32)[digits]  # (N, 6, 5)
    live_op = digits != _OP_INDEX["none"]
    edge = {pair: e for e, pair in enumerate(EDGES)}
    reaches = {3: np.ones(NUM_ARCHS, dtype=bool)}
    reaches[2] = live_op[:, edge[(3, 2)]]
    reaches[1] = live_op[:, edge[(3, 1)]] | (live_op[:, edge[(2, 1)]] & reaches[2])
    live = np.stack([reaches[n] for n, _ in EDGES], axis=1).astype(np.float32)  # (N, 6)
    table = np.concatenate(
        [one_hot.reshape(NUM_ARCHS, -1), one_hot.sum(1), (one_hot * live[:, :, None]).sum(1)],
        axis=1,
    )
    table.flags.writeable = False
    return table


def all_codes() -> np.ndarray:
    """Every cell's `code`, in NAS-Bench-201 index order: (15625,) int64."""
    return _code_by_index().copy()


@functools.cache
def _code_by_index() -> np.ndarray:
    from hwnas.core.tables import nb201_index_archs

    archs = nb201_index_archs()
    codes = np.array([NB201Arch.from_string(a).code for a in archs], dtype=np.int64)
    if len(codes) != NUM_ARCHS or len(np.unique(codes)) != NUM_ARCHS:
        raise ArchIndexError("the shipped NAS-Bench-201 index table does not hold every cell once")
    return codes


@functools.cache
def _index_by_code() -> np.ndarray:
    by_code = np.empty(NUM_ARCHS, dtype=np.int64)
    by_code[_code_by_index()] = np.arange(NUM_ARCHS)
    return by_code
