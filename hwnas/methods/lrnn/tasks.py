"""State-tracking tasks with seeded generators: parity and modular arithmetic (with brackets).

As in Grazzi et al. (ICLR 2025), after Deletang et al., "Neural networks and the Chomsky
hierarchy" (ICLR 2023): models train on sequences of length 3-40 and are tested on longer
ones. Every generator takes a `numpy.random.Generator`, so a seed fixes the data.

- ``parity``: a bit string; the label is the parity of its ones.
- ``modarith``: ``d op d op ... d`` with digits 0-4 and ``+ - *`` (``*`` binds first); the
  label is the value mod 5. Lengths are odd; an even length is shortened by one.
- ``modarith_brackets``: a bracketed expression of exactly the given length, with unary minus;
  the label is its value mod 5.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from hwnas.errors import InputError

MODULUS = 5


class TaskError(InputError):
    """An unknown task name or lengths a task cannot generate."""


@dataclass(frozen=True)
class Batch:
    """Token ids with per-position targets and the positions that carry a label.

    Attributes:
        tokens: (B, T) int64; positions past a sequence's end hold token 0 and are never
            labelled (the models are causal, so they do not affect earlier outputs).
        targets: (B, T) int64 class per position (0 where unlabelled).
        mask: (B, T) bool, True where ``targets`` is a label.
    """

    tokens: np.ndarray
    targets: np.ndarray
    mask: np.ndarray


class Task(ABC):
    """A sequence classification task whose label is read at the last position."""

    name: str
    vocab: tuple[str, ...]
    num_classes: int
    prefix_labels: bool = False
    """Whether every prefix of a sequence that is itself an instance has a label, so a long
    training sequence teaches all shorter lengths at once (`prefix_targets`)."""

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def valid_length(self, length: int) -> int:
        """The length actually generated when `length` is asked for."""
        if length < 1:
            raise TaskError(f"{self.name}: sequence length must be >= 1, got {length}")
        return length

    @abstractmethod
    def sample(self, rng: np.random.Generator, batch: int, length: int):
        """Sequences (batch, valid_length(length)) int64 and their labels (batch,) int64."""

    def prefix_targets(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels of every prefix (B, T) and whether that prefix is an instance (B, T) bool."""
        raise TaskError(f"{self.name} labels only whole sequences")

    def decode(self, tokens) -> str:
        """The sequence as text, e.g. ``3+4*(2-1)``."""
        return "".join(self.vocab[int(t)] for t in tokens)


class Parity(Task):
    """Parity of a bit sequence."""

    name = "parity"
    vocab = ("0", "1")
    num_classes = 2
    prefix_labels = True

    def sample(self, rng, batch, length):
        tokens = rng.integers(0, 2, size=(batch, self.valid_length(length)), dtype=np.int64)
        return tokens, tokens.sum(1) % 2

    def prefix_targets(self, tokens):
        return np.cumsum(tokens, axis=1) % 2, np.ones(tokens.shape, dtype=bool)


_DIGITS = tuple(str(d) for d in range(MODULUS))
_PLUS, _MINUS, _TIMES, _OPEN, _CLOSE = range(MODULUS, MODULUS + 5)


class ModArith(Task):
    """An arithmetic expression modulo `MODULUS`, without brackets."""

    name = "modarith"
    vocab = (*_DIGITS, "+", "-", "*")
    num_classes = MODULUS
    prefix_labels = True

    def valid_length(self, length):
        length = super().valid_length(length)
        return length if length % 2 else length - 1 or 1

    def sample(self, rng, batch, length):
        length = self.valid_length(length)
        tokens = np.empty((batch, length), dtype=np.int64)
        tokens[:, 0::2] = rng.integers(0, MODULUS, size=(batch, (length + 1) // 2))
        tokens[:, 1::2] = rng.integers(_PLUS, _TIMES + 1, size=(batch, length // 2))
        targets, _ = self.prefix_targets(tokens)
        return tokens, targets[:, -1]

    def prefix_targets(self, tokens):
        """Values of the prefixes ending at a digit (even positions), operator precedence kept."""
        batch, length = tokens.shape
        targets = np.zeros((batch, length), dtype=np.int64)
        total = np.zeros(batch, dtype=np.int64)  # sum of the finished terms
        term = tokens[:, 0].copy()  # the signed product being built
        targets[:, 0] = term % MODULUS
        for i in range(2, length, 2):
            op, digit = tokens[:, i - 1], tokens[:, i]
            new_term = op != _TIMES
            total = np.where(new_term, (total + term) % MODULUS, total)
            term = (
                np.where(op == _TIMES, term * digit, np.where(op == _MINUS, -digit, digit))
                % MODULUS
            )
            targets[:, i] = (total + term) % MODULUS
        valid = np.zeros((batch, length), dtype=bool)
        valid[:, 0::2] = True
        return targets, valid


class ModArithBrackets(Task):
    """An arithmetic expression modulo `MODULUS`, with brackets."""

    name = "modarith_brackets"
    vocab = (*_DIGITS, "+", "-", "*", "(", ")")
    num_classes = MODULUS

    def sample(self, rng, batch, length):
        length = self.valid_length(length)
        tokens = np.empty((batch, length), dtype=np.int64)
        labels = np.empty(batch, dtype=np.int64)
        for row in range(batch):
            out: list[int] = []
            labels[row] = _expression(rng, length, out) % MODULUS
            tokens[row] = out
        return tokens, labels


def _expression(rng: np.random.Generator, length: int, out: list[int]) -> int:
    """Appends a random expression of exactly `length` tokens to `out`; returns its value."""
    if length <= 4:
        # d, -d, (d), (-d)
        digit = int(rng.integers(MODULUS))
        bracket, minus = length >= 3, length % 2 == 0
        out.extend([_OPEN] * bracket + [_MINUS] * minus + [digit] + [_CLOSE] * bracket)
        return -digit if minus else digit
    left = int(rng.integers(1, length - 3))  # ( left op right ): left + right = length - 3
    out.append(_OPEN)
    a = _expression(rng, left, out)
    op = int(rng.integers(_PLUS, _TIMES + 1))
    out.append(op)
    b = _expression(rng, length - 3 - left, out)
    out.append(_CLOSE)
    return a + b if op == _PLUS else a - b if op == _MINUS else a * b


TASKS: dict[str, type[Task]] = {t.name: t for t in (Parity, ModArith, ModArithBrackets)}


def create_task(name: str) -> Task:
    """The task registered as `name`."""
    try:
        return TASKS[name]()
    except KeyError:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


SUPERVISIONS = ("prefixes", "last")


def training_batch(
    task: Task,
    rng: np.random.Generator,
    batch: int,
    min_length: int,
    max_length: int,
    supervision: str = "prefixes",
) -> Batch:
    """A batch balanced over the lengths min_length..max_length.

    ``prefixes`` (tasks with `Task.prefix_labels`): every sequence has the longest length and
    labels at each prefix whose length lies in range, so each length is taught equally often.
    ``last``: the rows cycle through the lengths, each labelled at its last position.
    """
    if not 1 <= min_length <= max_length:
        raise TaskError(f"need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    if supervision not in SUPERVISIONS:
        raise TaskError(f"supervision must be one of {SUPERVISIONS}, got {supervision!r}")
    if supervision == "prefixes":
        if not task.prefix_labels:
            raise TaskError(f"{task.name} labels only whole sequences: use supervision='last'")
        tokens, _ = task.sample(rng, batch, max_length)
        targets, mask = task.prefix_targets(tokens)
        mask[:, : min_length - 1] = False
        return Batch(tokens, targets, mask)
    lengths = sorted({task.valid_length(n) for n in range(min_length, max_length + 1)})
    width = max(lengths)
    tokens = np.zeros((batch, width), dtype=np.int64)
    targets = np.zeros((batch, width), dtype=np.int64)
    mask = np.zeros((batch, width), dtype=bool)
    row_lengths = np.array(lengths)[rng.permutation(batch) % len(lengths)]
    for length in lengths:
        rows = np.flatnonzero(row_lengths == length)
        if rows.size:
            seqs, labels = task.sample(rng, rows.size, length)
            tokens[rows, :length] = seqs
            targets[rows, length - 1] = labels
            mask[rows, length - 1] = True
    return Batch(tokens, targets, mask)
