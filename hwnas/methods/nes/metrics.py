"""Metrics of classifiers and ensembles of them: NLL, error, ECE, oracle and base-learner NLL.

Probabilities are arrays of shape (N, C) (one predictor: N examples, C classes, rows summing to
1) or (M, N, C) (M ensemble members); labels are integer arrays of shape (N,) in 0..C-1. The
ensemble metrics follow Zaidi, Zela et al., "Neural Ensemble Search for Uncertainty
Estimation and Dataset Shift" (NeurIPS 2021): for NLL, oracle <= ensemble <= mean member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROB_FLOOR = 1e-12
"""Probabilities are clamped to at least this value before taking logs, so a confident wrong
prediction costs -log(1e-12) ~ 27.6 nats instead of infinity."""

ROW_SUM_ATOL = 1e-3
"""How far a row of probabilities may sum from 1 (float32 softmax is within ~1e-6)."""


def _check_labels(labels, num_examples: int, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != num_examples:
        raise ValueError(
            f"labels must have shape ({num_examples},) to match the probabilities, "
            f"got {labels.shape}"
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1} for {num_classes} classes, "
            f"got values from {labels.min()} to {labels.max()}"
        )
    return labels.astype(np.int64)


def _check_probs(probs, ndim: int, what: str) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    shape = "(N, C)" if ndim == 2 else "(M, N, C)"
    if probs.ndim != ndim:
        raise ValueError(f"{what} must have shape {shape}, got {probs.shape}")
    if probs.shape[-2] == 0 or probs.shape[-1] < 2:
        raise ValueError(f"{what} needs at least 1 example and 2 classes, got shape {probs.shape}")
    if ndim == 3 and probs.shape[0] == 0:
        raise ValueError(f"{what} needs at least 1 member, got shape {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ValueError(f"{what} contain NaN or infinite values")
    if probs.min() < 0:
        raise ValueError(f"{what} contain negative values (min {probs.min():.3g}); pass softmax")
    sums = probs.sum(axis=-1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > ROW_SUM_ATOL:
        raise ValueError(
            f"{what} rows must sum to 1 (within {ROW_SUM_ATOL:g}), but one sums to "
            f"{sums.flat[np.argmax(np.abs(sums - 1.0))]:.6g}; pass softmax outputs, not logits"
        )
    return probs


def _pair(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs = _check_probs(probs, 2, "probs")
    return probs, _check_labels(labels, probs.shape[0], probs.shape[1])


def _members(member_probs, labels) -> tuple[np.ndarray, np.ndarray]:
    member_probs = _check_probs(member_probs, 3, "member_probs")
    return member_probs, _check_labels(labels, member_probs.shape[1], member_probs.shape[2])


def _example_nll(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log p(label) per example, for (..., N, C) probabilities; shape (..., N)."""
    index = np.broadcast_to(labels[:, None], (*probs.shape[:-1], 1))
    taken = np.take_along_axis(probs, index, axis=-1)[..., 0]
    return -np.log(np.maximum(taken, PROB_FLOOR))


def nll(probs, labels) -> float:
    """Mean negative log-likelihood in nats, with probabilities clamped at `PROB_FLOOR`."""
    probs, labels = _pair(probs, labels)
    return float(np.mean(_example_nll(probs, labels)))


def error(probs, labels) -> float:
    """Classification error: the fraction of examples whose arg-max class is not the label."""
    probs, labels = _pair(probs, labels)
    return float(np.mean(np.argmax(probs, axis=1) != labels))


@dataclass(frozen=True)
class Reliability:
    """Per-bin confidence and accuracy of a predictor, over equal-width confidence bins.

    Bin i holds the examples whose confidence (largest probability) lies in
    (edges[i], edges[i+1]]; the first bin also holds a confidence of exactly 0.

    Attributes:
        edges: Bin edges, shape (bins + 1,), from 0 to 1.
        confidence: Mean confidence per bin, shape (bins,); NaN where the bin is empty.
        accuracy: Fraction of correct arg-max predictions per bin; NaN where empty.
        count: Number of examples per bin.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of count/N * |accuracy - confidence|."""
        filled = self.count > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(self.count[filled] * gaps) / np.sum(self.count))


def reliability(probs, labels, bins: int = 10) -> Reliability:
    """Bins the predictions by confidence into `bins` equal-width bins over [0, 1]."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    probs, labels = _pair(probs, labels)
    confidence = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    return Reliability(edges=edges, confidence=mean_confidence, accuracy=accuracy, count=count)


def ece(probs, labels, bins: int = 10) -> float:
    """Expected calibration error over `bins` equal-width confidence bins (Guo et al., 2017)."""
    return reliability(probs, labels, bins).ece


def ensemble_probs(member_probs, weights=None) -> np.ndarray:
    """The ensemble's probabilities (N, C): the (weighted) mean of the members' (M, N, C).

    Args:
        member_probs: Softmax outputs of the M members.
        weights: Non-negative weight per member, shape (M,), normalised here to sum to 1
            (selection with replacement passes how often each member was picked);
            None weighs the members equally.
    """
    member_probs = _check_probs(member_probs, 3, "member_probs")
    if weights is None:
        return member_probs.mean(axis=0)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (member_probs.shape[0],):
        raise ValueError(
            f"weights must have shape ({member_probs.shape[0]},), one per member, "
            f"got {weights.shape}"
        )
    if not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all 0, got {weights}")
    return np.tensordot(weights / weights.sum(), member_probs, axes=1)


def oracle_nll(member_probs, labels) -> float:
    """NLL of the oracle ensemble: per example, the member with the lowest NLL, averaged."""
    member_probs, labels = _members(member_probs, labels)
    return float(np.mean(np.min(_example_nll(member_probs, labels), axis=0)))


def mean_member_nll(member_probs, labels) -> float:
    """The average base learner's NLL: the members' NLLs, averaged over the members."""
    member_probs, labels = _members(member_probs, labels)
    return float(np.mean(_example_nll(member_probs, labels)))


def ensemble_metrics(member_probs, labels, weights=None, bins: int = 10) -> dict[str, float]:
    """All metrics of one ensemble on one data set, as a JSON-ready dict.

    Returns:
        ``nll``, ``error`` and ``ece`` of the (weighted) ensemble's probabilities,
        ``oracle_nll`` and ``mean_member_nll`` over the M given members (unweighted), and
        ``members`` (M).
    """
    probs = ensemble_probs(member_probs, weights)
    return {
        "nll": nll(probs, labels),
        "error": error(probs, labels),
        "ece": ece(probs, labels, bins),
        "oracle_nll": oracle_nll(member_probs, labels),
        "mean_member_nll": mean_member_nll(member_probs, labels),
        "members": int(np.shape(member_probs)[0]),
    }
