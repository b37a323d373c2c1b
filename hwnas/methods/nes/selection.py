"""Ensemble selection from a pool, with a latency-aware variant.

Forward step-wise selection on validation NLL, with or without replacement (Caruana et al.,
"Ensemble Selection from Libraries of Models", ICML 2004), and its latency-aware variant that
keeps the members' summed latency within a budget.

Selection reads only stored predictions: member probabilities (K, N, C) on the validation
split and the labels (N,).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.errors import InputError
from hwnas.methods.nes.metrics import ensemble_probs, nll


class LatencyBudgetError(InputError):
    """No ensemble of the asked size fits the latency budget."""


@dataclass(frozen=True)
class Selection:
    """The result of forward selection.

    Attributes:
        picks: Pool indices in the order they were added (repeats when with replacement).
        valid_nll: The ensemble's validation NLL after each pick.
        latency_ms: Summed latency of the picks, where latencies were given.
    """

    picks: tuple[int, ...]
    valid_nll: tuple[float, ...]
    latency_ms: float | None = None

    @property
    def members(self) -> tuple[int, ...]:
        """The distinct pool indices, in the order first picked."""
        return tuple(dict.fromkeys(self.picks))

    @property
    def weights(self) -> tuple[int, ...]:
        """How often each of `members` was picked (all 1 without replacement)."""
        counts = Counter(self.picks)
        return tuple(counts[i] for i in self.members)


def _check(member_probs, labels, size: int) -> np.ndarray:
    member_probs = np.asarray(member_probs)
    if member_probs.ndim != 3 or len(member_probs) == 0:
        raise ValueError(f"member_probs must be (K, N, C) with K >= 1, got {member_probs.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(f"the ensemble size must be a positive integer, got {size!r}")
    if np.shape(labels) != member_probs.shape[1:2]:
        raise ValueError(f"labels must be ({member_probs.shape[1]},), got {np.shape(labels)}")
    return member_probs


def forward_select(
    member_probs,
    labels,
    size: int,
    replace: bool = False,
    latencies_ms: Sequence[float] | None = None,
    budget_ms: float | None = None,
    names: Sequence[str] | None = None,
) -> Selection:
    """Greedy forward selection of `size` members minimising the ensemble's NLL.

    Starting from the empty ensemble, each step adds the member whose addition gives the
    lowest NLL of the averaged probabilities; ties go to the lower index. Without replacement
    a member is picked at most once (so `size` <= K); with replacement it may be picked again,
    weighting it more.

    With `latencies_ms` (one per member) and `budget_ms`, a member is only a candidate if the
    ensemble can still be completed to `size` members within the budget: its latency, the
    picks' and those of the fastest members still available must sum to at most `budget_ms`.

    Args:
        member_probs: (K, N, C) validation probabilities of the pool.
        labels: (N,) validation labels.
        names: Member names for error messages (default: indices).

    Raises:
        InputError: if `size` exceeds the pool without replacement.
        LatencyBudgetError: naming the fastest ensemble of `size` when none fits the budget.
    """
    member_probs = _check(member_probs, labels, size)
    count = len(member_probs)
    if not replace and size > count:
        raise InputError(
            f"cannot select {size} members without replacement from a pool of {count}; "
            "lower the ensemble size, grow the pool, or select with replacement"
        )
    latency = None
    if budget_ms is not None:
        latency = np.asarray(latencies_ms, dtype=np.float64)
        if latency.shape != (count,) or not np.all(np.isfinite(latency)) or latency.min() < 0:
            raise InputError(
                f"need one finite, non-negative latency per pool member ({count}), "
                f"got {latencies_ms!r}"
            )
        _check_budget(latency, budget_ms, size, replace, names)
    picks: list[int] = []
    trajectory: list[float] = []
    for step in range(size):
        available = [k for k in range(count) if replace or k not in picks]
        if latency is not None:
            spent = float(latency[picks].sum()) if picks else 0.0
            remaining = size - step - 1
            available = [
                k
                for k in available
                if spent + latency[k] + _fastest(latency, picks + [k], remaining, replace)
                <= budget_ms + 1e-9
            ]
        scores = [nll(ensemble_probs(member_probs[picks + [k]]), labels) for k in available]
        best = int(np.argmin(scores))
        picks.append(available[best])
        trajectory.append(float(scores[best]))
    total = float(latency[picks].sum()) if latency is not None else None
    return Selection(tuple(picks), tuple(trajectory), total)


def _fastest(latency: np.ndarray, taken: list[int], count: int, replace: bool) -> float:
    """Summed latency of the `count` fastest members still available after `taken`."""
    if count == 0:
        return 0.0
    if replace:
        return float(latency.min()) * count
    free = np.delete(latency, taken)
    return float(np.sort(free)[:count].sum())


def _check_budget(latency: np.ndarray, budget_ms: float, size: int, replace: bool, names) -> None:
    fastest = np.argsort(latency, kind="stable")[:1] if replace else np.argsort(latency)[:size]
    picks = [int(fastest[0])] * size if replace else [int(k) for k in fastest]
    total = float(latency[picks].sum())
    if total <= budget_ms + 1e-9:
        return
    label = [str(names[k]) if names is not None else f"#{k}" for k in picks]
    raise LatencyBudgetError(
        f"no ensemble of {size} members fits {budget_ms:g} ms: the fastest, "
        f"{' + '.join(label)}, takes {total:.4g} ms "
        f"({' + '.join(f'{latency[k]:.4g}' for k in picks)} ms); raise the budget or lower "
        "the ensemble size"
    )


def predicted_latencies_ms(
    archs: Sequence[str], predictor_dir: str | Path, device: str | None, space: str
) -> dict[str, float]:
    """Each distinct architecture's latency (ms) on `device`, predicted by a MetaPredictor.

    The prediction is for the architecture's network as the predictor was trained on it (for
    NAS-Bench-201, the benchmark's CIFAR network), so it ranks the members' costs on the
    device rather than timing the smaller networks of the pool.

    Raises:
        InputError: if the predictor is for another space or does not know `device`.
    """
    from hwnas.methods.predictor import load_model

    model = load_model(predictor_dir)
    if model.target != "latency_ms":
        raise InputError(f"{predictor_dir} predicts {model.target}, not latency_ms")
    if model.space != space:
        raise InputError(
            f"{predictor_dir} is a predictor of the {model.space} space, but the pool is of "
            f"the {space} space; fit one on {space} latencies or pass measured latencies"
        )
    distinct = list(dict.fromkeys(archs))
    return dict(zip(distinct, (float(v) for v in model.predict(distinct, device))))


def member_latencies_ms(archs: Sequence[str], latency_by_arch: Mapping[str, float]) -> list[float]:
    """Each member's latency (ms) looked up by its architecture string.

    Raises:
        InputError: naming the first architecture without a latency.
    """
    missing = [arch for arch in archs if arch not in latency_by_arch]
    if missing:
        raise InputError(
            f"no latency for {len(missing)} pool architecture(s), e.g. {missing[0]}; measure "
            "or predict every architecture of the pool"
        )
    return [float(latency_by_arch[arch]) for arch in archs]
