"""LRNN architectures: recurrence kind, eigenvalue range, depth, width and state size.

An architecture is written ``lrnn:{recurrence}-{range}-L{layers}-W{width}-S{state}``, for
example ``lrnn:deltanet-11-L2-W64-S16``: two DeltaNet layers of width 64 with 16-dimensional
keys and values whose transitions may have eigenvalues in [-1, 1]. The space holds
2 x 2 x 4 x 4 x 4 = 256 architectures. Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, replace

import numpy as np

from hwnas.errors import InputError

RECURRENCES: tuple[str, ...] = ("diag", "deltanet")
"""``diag``: h_t = a_t * h_{t-1} + b_t; ``deltanet``: S_t = (I - beta_t k_t k_t^T) S_{t-1} + ..."""
EIGEN_RANGES: tuple[str, ...] = ("01", "11")
"""``01``: transition eigenvalues in [0, 1]; ``11``: in [-1, 1] (Grazzi et al., ICLR 2025)."""
LAYERS: tuple[int, ...] = (1, 2, 3, 4)
WIDTHS: tuple[int, ...] = (16, 32, 64, 128)
STATES: tuple[int, ...] = (4, 8, 16, 32)
MLP_RATIO = 2
"""Hidden width of each block's MLP over the model width."""
PREFIX = "lrnn:"
_PATTERN = re.compile(r"lrnn:(?P<rec>[a-z]+)-(?P<rng>\d+)-L(?P<L>\d+)-W(?P<W>\d+)-S(?P<S>\d+)")
_EXAMPLE = "lrnn:deltanet-11-L2-W64-S16"
_CHOICES = {"layers": LAYERS, "width": WIDTHS, "state": STATES}


class LRNNArchError(InputError):
    """A string or value that is not an architecture of the LRNN space."""


@functools.total_ordering
@dataclass(frozen=True)
class LRNNArch:
    """One LRNN architecture: an immutable, hashable value keyed by its canonical string.

    Attributes:
        recurrence: One of `RECURRENCES`.
        eigen_range: One of `EIGEN_RANGES`.
        layers: Number of residual LRNN blocks, one of `LAYERS`.
        width: Model (embedding) width, one of `WIDTHS`.
        state: State size: the diagonal recurrence has `state` channels; DeltaNet has
            ``max(1, width // state)`` heads, each with a (state x state) matrix state.
            One of `STATES`.
    """

    recurrence: str
    eigen_range: str
    layers: int
    width: int
    state: int

    def __post_init__(self) -> None:
        if self.recurrence not in RECURRENCES:
            raise LRNNArchError(
                f"unknown recurrence {self.recurrence!r}; expected one of {', '.join(RECURRENCES)}"
            )
        if self.eigen_range not in EIGEN_RANGES:
            raise LRNNArchError(
                f"unknown eigenvalue range {self.eigen_range!r}; expected '01' ([0, 1]) or "
                "'11' ([-1, 1])"
            )
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise LRNNArchError(f"{name} must be an integer, got {value!r}")
            if value not in choices:
                raise LRNNArchError(
                    f"{name} {value} is not in the space; expected one of "
                    f"{', '.join(map(str, choices))}"
                )
            object.__setattr__(self, name, int(value))

    @classmethod
    def from_string(cls, text: str) -> LRNNArch:
        """Parses the canonical string; surrounding whitespace is ignored.

        Raises:
            LRNNArchError: naming the part that is wrong and what was expected there.
        """
        if not isinstance(text, str):
            raise LRNNArchError(f"expected an architecture string, got {type(text).__name__}")
        stripped = text.strip()
        if not stripped.startswith(PREFIX):
            raise _fail(text, f"it must begin with {PREFIX!r}")
        match = _PATTERN.fullmatch(stripped)
        if match is None:
            parts = stripped[len(PREFIX) :].split("-")
            problem = f"found {len(parts)} '-'-separated part(s), expected 5"
            if len(parts) == 5:
                wrong = [
                    f"{part!r} should be {letter}<number>"
                    for part, letter in zip(parts[2:], "LWS")
                    if not re.fullmatch(f"{letter}\\d+", part)
                ]
                problem = "; ".join(wrong) or "the recurrence and range are words and digits"
            raise _fail(text, problem)
        try:
            return cls(
                match["rec"], match["rng"], int(match["L"]), int(match["W"]), int(match["S"])
            )
        except LRNNArchError as err:
            raise _fail(text, str(err)) from None

    def __str__(self) -> str:
        return (
            f"{PREFIX}{self.recurrence}-{self.eigen_range}-L{self.layers}-W{self.width}"
            f"-S{self.state}"
        )

    def __lt__(self, other: LRNNArch) -> bool:
        if not isinstance(other, LRNNArch):
            return NotImplemented
        return _key(self) < _key(other)

    @property
    def negative_eigenvalues(self) -> bool:
        """Whether transitions may have eigenvalues below 0 (the ``11`` range)."""
        return self.eigen_range == "11"

    def mutate(self, rng: np.random.Generator) -> LRNNArch:
        """A new architecture with one attribute changed (numbers move to a neighbouring choice)."""
        field = ("recurrence", "eigen_range", "layers", "width", "state")[int(rng.integers(5))]
        if field == "recurrence":
            return replace(self, recurrence=_other(RECURRENCES, self.recurrence))
        if field == "eigen_range":
            return replace(self, eigen_range=_other(EIGEN_RANGES, self.eigen_range))
        choices = _CHOICES[field]
        i = choices.index(getattr(self, field))
        steps = [j for j in (i - 1, i + 1) if 0 <= j < len(choices)]
        return replace(self, **{field: choices[steps[int(rng.integers(len(steps)))]]})

    @classmethod
    def sample(cls, rng: np.random.Generator) -> LRNNArch:
        """An architecture drawn uniformly from the space."""
        all_archs = _all_archs()
        return all_archs[int(rng.integers(len(all_archs)))]


def _fail(text: str, problem: str) -> LRNNArchError:
    return LRNNArchError(
        f"not an LRNN architecture string: {text!r}: {problem}. Expected "
        f"lrnn:RECURRENCE-RANGE-L<layers>-W<width>-S<state> with RECURRENCE one of "
        f"{'/'.join(RECURRENCES)}, RANGE 01 or 11, layers in {LAYERS}, width in {WIDTHS}, "
        f"state in {STATES}; for example {_EXAMPLE}"
    )


def _other(choices: tuple[str, ...], current: str) -> str:
    return next(c for c in choices if c != current)


def _key(arch: LRNNArch) -> tuple:
    return (
        RECURRENCES.index(arch.recurrence),
        EIGEN_RANGES.index(arch.eigen_range),
        arch.layers,
        arch.width,
        arch.state,
    )


@functools.cache
def _all_archs() -> tuple[LRNNArch, ...]:
    return tuple(
        LRNNArch(*values)
        for values in itertools.product(RECURRENCES, EIGEN_RANGES, LAYERS, WIDTHS, STATES)
    )


def parse_lrnn_arch(text: str) -> LRNNArch:
    """Shorthand for `LRNNArch.from_string`."""
    return LRNNArch.from_string(text)


def delta_heads(width: int, state: int) -> int:
    """DeltaNet heads of a layer: ``width // state``, at least one."""
    return max(1, width // state)


def macs_per_token(arch: LRNNArch, vocab_size: int = 2, num_classes: int = 2) -> int:
    """Multiply-accumulates of one recurrent step of the network `build` makes.

    Counts the linear layers and the state update; the embedding lookup, norms and
    activations are not counted.
    """
    w, s = arch.width, arch.state
    if arch.recurrence == "diag":
        mixer = w * 2 * s + s * w + 2 * s  # in-projection (beta, v), out-projection, beta*v, a*h
    else:
        # per head: q, k, v, beta projection; S^T k, rank-one update, S^T q; out-projection
        h = delta_heads(w, s)
        mixer = h * (w * (3 * s + 1) + 3 * s * s + s * w)
    mlp = 2 * w * MLP_RATIO * w
    return arch.layers * (mixer + mlp) + w * num_classes


def state_floats(arch: LRNNArch) -> int:
    """Numbers of recurrent state carried from one token to the next."""
    if arch.recurrence == "diag":
        per_layer = arch.state
    else:
        per_layer = delta_heads(arch.width, arch.state) * arch.state * arch.state
    return arch.layers * per_layer


FEATURES: tuple[str, ...] = (
    "is_deltanet",
    "negative_eigenvalues",
    "layers",
    "width",
    "state",
    "kmacs_per_token",
    "kstate_floats",
)
"""Names of the predictor features, in `encode` order."""


def encode(archs) -> np.ndarray:
    """Predictor features, (N, 7) float32; `FEATURES` names them."""
    rows = [
        (
            float(a.recurrence == "deltanet"),
            float(a.negative_eigenvalues),
            a.layers,
            a.width,
            a.state,
            macs_per_token(a) / 1e3,
            state_floats(a) / 1e3,
        )
        for a in archs
    ]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURES))


_REFERENCES = (
    "lrnn:diag-01-L1-W16-S4",
    "lrnn:diag-11-L1-W32-S8",
    "lrnn:diag-11-L2-W64-S16",
    "lrnn:diag-01-L3-W128-S32",
    "lrnn:diag-11-L4-W64-S8",
    "lrnn:deltanet-01-L1-W16-S4",
    "lrnn:deltanet-11-L1-W32-S16",
    "lrnn:deltanet-11-L2-W64-S16",
    "lrnn:deltanet-01-L3-W64-S32",
    "lrnn:deltanet-11-L4-W128-S32",
)
