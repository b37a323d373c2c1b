"""FBNet layer-wise networks: the architecture value, its string, encodings, sampling.

An FBNet network is the fixed skeleton of `hwnas.core.spaces.fbnet_macro` with one of 9 choices in
each of its 22 searchable layers (Wu et al., "FBNet", CVPR 2019; benchmarked by HW-NAS-Bench,
Li et al., ICLR 2021, and HELP, Lee et al., NeurIPS 2021), so the space holds 9**22 (about
9.8e20) networks. The canonical string is the one of the shipped latency table: the 22 choices
joined by ``-``, for example::

    k5_e6-skip-k3_e1_g2-skip-k5_e1-skip-skip-skip-k5_e6-k5_e1-k3_e1_g2-...

There is no official index: ``fbnet_index`` in the shipped table is just its row number.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hwnas.core.spaces.fbnet_macro import (
    NUM_LAYERS,
    OPS,
    SKIP,
    block_spec,
)
from hwnas.core.spaces.nb201_arch import ArchIndexError, ArchStringError

NUM_ARCHS = len(OPS) ** NUM_LAYERS
"""9**22; larger than int64, so `FBNetArch.code` is a Python int."""

_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_VALID_OPS = frozenset(OPS)
_VALID_INDICES = frozenset(range(len(OPS)))
_ALIASES = {"identity": SKIP, "id": SKIP, "skip_connect": SKIP}
FBNET_C = (
    "k3_e1-k3_e6-k3_e1-k3_e1-skip-k5_e6-k5_e3-k5_e6-k3_e6-k5_e6-k5_e3-"
    "k5_e6-k5_e6-k5_e6-k5_e6-k5_e6-k5_e3-k5_e6-k5_e6-k5_e6-k5_e6-k3_e6"
)
"""FBNet-C (Wu et al. 2019) in this space: timm's `fbnetc_100` blocks, with the one skip of its
21-block body placed last in stage 2 (an identity there, so where in the stage is immaterial)."""


def _fail(text: str, problem: str) -> ArchStringError:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return ArchStringError(
        f"not an FBNet architecture string: {shown!r}: {problem}. Expected {NUM_LAYERS} layer "
        f"choices joined by '-', each one of {', '.join(OPS)}; for example {FBNET_C}"
    )


def _suggest(token: str) -> str:
    lowered = token.strip().lower()
    if lowered in _OP_INDEX:
        return lowered
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    close = difflib.get_close_matches(lowered, OPS, n=1, cutoff=0.6)
    return close[0] if close else ""


def _parse_token(text: str, layer: int, token: str) -> int:
    try:
        return _OP_INDEX[token]
    except KeyError:
        pass
    if not token:
        raise _fail(
            text,
            f"layer {layer + 1} of {NUM_LAYERS} is empty (two '-' in a row, or one at an end?)",
        )
    close = _suggest(token)
    hint = f" (did you mean {close!r}?)" if close else ""
    raise _fail(text, f"layer {layer + 1} of {NUM_LAYERS} is the unknown choice {token!r}{hint}")


@functools.total_ordering
@dataclass(frozen=True)
class FBNetArch:
    """One FBNet network: an immutable, hashable value keyed by its canonical string.

    Attributes:
        ops: The 22 layer choices, first layer first, each one of `OPS`.
    """

    ops: tuple[str, ...]
    op_indices: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """The position of each layer's choice in `OPS`."""

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != NUM_LAYERS:
            raise ArchStringError(f"an FBNet network has {NUM_LAYERS} layers, got {len(ops)}")
        indices = tuple(map(_OP_INDEX.get, ops))
        if None in indices:
            unknown = [op for op, i in zip(ops, indices) if i is None]
            raise ArchStringError(f"unknown layer choice(s) {unknown}; expected one of {OPS}")
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "op_indices", indices)

    @classmethod
    def from_string(cls, text: str) -> FBNetArch:
        """Parses the canonical string; surrounding whitespace is ignored.

        Raises:
            ArchStringError: naming the layer that is wrong and what was expected there.
        """
        if not isinstance(text, str):
            raise ArchStringError(f"expected an architecture string, got {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            raise _fail(text, "the string is empty")
        tokens = stripped.split("-")
        if len(tokens) != NUM_LAYERS:
            other = next((sep for sep in (",", "|", " ", ";") if sep in stripped), None)
            hint = f" (layers are joined by '-', not {other!r})" if other else ""
            raise _fail(text, f"found {len(tokens)} layer choice(s), expected {NUM_LAYERS}{hint}")
        if not _VALID_OPS.issuperset(tokens):
            for layer, token in enumerate(tokens):
                _parse_token(text, layer, token)  # raises at the first bad layer
        return cls(tuple(tokens))

    @classmethod
    def from_indices(cls, indices: Sequence[int]) -> FBNetArch:
        """The network whose layer l has choice `OPS[indices[l]]` (HW-NAS-Bench's `op_idx_list`)."""
        if len(indices) != NUM_LAYERS:
            raise ArchIndexError(f"expected {NUM_LAYERS} choice indices, got {len(indices)}")
        try:
            valid = _VALID_INDICES.issuperset(indices)
        except TypeError:  # unhashable entries
            valid = False
        if not valid or any(isinstance(i, (bool, float)) for i in indices):
            raise ArchIndexError(
                f"choice indices must be integers in 0..{len(OPS) - 1}, got {list(indices)}"
            )
        return cls(tuple(map(OPS.__getitem__, indices)))

    def __str__(self) -> str:
        return "-".join(self.ops)

    def __lt__(self, other: FBNetArch) -> bool:
        if not isinstance(other, FBNetArch):
            return NotImplemented
        return self.code < other.code

    @property
    def code(self) -> int:
        """A base-9 number 0..9**22-1, layer 0 the least significant digit, in `OPS` order."""
        return sum(i * len(OPS) ** layer for layer, i in enumerate(self.op_indices))

    @classmethod
    def from_code(cls, code: int) -> FBNetArch:
        """The inverse of `code`."""
        if isinstance(code, bool) or not isinstance(code, (int, np.integer)):
            raise ArchIndexError(f"an FBNet code is an integer, got {code!r}")
        if not 0 <= code < NUM_ARCHS:
            raise ArchIndexError(f"code {code} is outside 0..9**22-1")
        code, digits = int(code), []
        for _ in range(NUM_LAYERS):
            code, digit = divmod(code, len(OPS))
            digits.append(digit)
        return cls.from_indices(digits)

    def mutate(self, rng: np.random.Generator) -> FBNetArch:
        """A new network with one layer's choice changed to a different one."""
        indices = list(self.op_indices)
        layer = int(rng.integers(NUM_LAYERS))
        indices[layer] = (indices[layer] + 1 + int(rng.integers(len(OPS) - 1))) % len(OPS)
        return FBNetArch.from_indices(indices)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> FBNetArch:
        """A network drawn uniformly: each layer's choice independently and uniformly."""
        return cls.from_indices(rng.integers(len(OPS), size=NUM_LAYERS).tolist())


def parse_fbnet_arch(text: str) -> FBNetArch:
    """Shorthand for `FBNetArch.from_string`."""
    return FBNetArch.from_string(text)


def op_index_matrix(archs: Sequence[FBNetArch]) -> np.ndarray:
    """Every network's choice indices, (N, 22) int8: row n is `archs[n].op_indices`."""
    try:
        rows = [arch.op_indices for arch in archs]
    except AttributeError:
        bad = next(a for a in archs if not isinstance(a, FBNetArch))
        raise TypeError(
            f"expected FBNetArch values, got {type(bad).__name__} {bad!r}; "
            "parse strings first with FBNetArch.from_string"
        ) from None
    return np.array(rows, dtype=np.int8).reshape(len(rows), NUM_LAYERS)


def _op_properties() -> np.ndarray:
    """Per choice: [skip, kernel 5, expansion / 6, grouped], (9, 4) float32."""
    rows = []
    for op in OPS:
        spec = block_spec(op)
        if spec is None:
            rows.append((1.0, 0.0, 0.0, 0.0))
        else:
            rows.append((0.0, float(spec.kernel == 5), spec.expansion / 6, float(spec.groups > 1)))
    return np.array(rows, dtype=np.float32)


_PROPERTIES = _op_properties()
_PROPERTY_NAMES = ("skip", "kernel5", "expansion", "grouped")

FEATURES: tuple[str, ...] = tuple(
    f"layer{layer}:{name}" for layer in range(NUM_LAYERS) for name in _PROPERTY_NAMES
)
"""Names of the `encode` columns: layer l's property p at column 4l + p."""

SUMMARY_FEATURES: tuple[str, ...] = ("macs_m", "params_m", "skips")
"""Names of the `FBNetSpace.summary` columns."""

ONE_HOT_FEATURES: tuple[str, ...] = tuple(
    f"layer{layer}:{op}" for layer in range(NUM_LAYERS) for op in OPS
)
"""Names of the `one_hot` columns: layer l, choice k at column 9l + k."""


def encode(archs: Sequence[FBNetArch]) -> np.ndarray:
    """Compact predictor features, (N, 88) float32; `FEATURES` names them.

    Each layer is described by what its choice is: skip (0/1), 5x5 kernel (0/1), expansion
    divided by 6 (0 for skip, 1/6, 1/2 or 1) and grouped 1x1 convolutions (0/1). The same
    property is worth roughly the same cost wherever it appears, so these features need
    fewer samples to fit than the one-hot encoding, of which they are a linear function.
    """
    return encode_indices(op_index_matrix(archs))


def encode_indices(op_indices: np.ndarray) -> np.ndarray:
    """`encode` for an (N, 22) array of choice indices."""
    op_indices = np.asarray(op_indices, dtype=np.intp)
    return _PROPERTIES[op_indices].reshape(len(op_indices), NUM_LAYERS * _PROPERTIES.shape[1])


def one_hot(archs: Sequence[FBNetArch]) -> np.ndarray:
    """Each layer's choice one-hot, (N, 198) float32: layer l, choice k at column 9l + k."""
    return one_hot_indices(op_index_matrix(archs))


def one_hot_indices(op_indices: np.ndarray) -> np.ndarray:
    """`one_hot` for an (N, 22) array of choice indices."""
    op_indices = np.asarray(op_indices, dtype=np.intp)
    return np.eye(len(OPS), dtype=np.float32)[op_indices].reshape(
        len(op_indices), NUM_LAYERS * len(OPS)
    )
