"""Ranking and error metrics for latency/energy predictors, as plain functions.

scipy is imported by the rank correlations when first called, not with this module.
"""

from __future__ import annotations

import numpy as np


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values, y_pred has {y_pred.size}")
    if y_true.size < 2:
        raise ValueError("a metric needs at least 2 values")
    return y_true, y_pred


def spearman(y_true, y_pred) -> float:
    """Spearman's rank correlation (ties get average ranks)."""
    from scipy import stats

    return float(stats.spearmanr(*_pair(y_true, y_pred)).statistic)


def kendall_tau(y_true, y_pred) -> float:
    """Kendall's tau-b rank correlation."""
    from scipy import stats

    return float(stats.kendalltau(*_pair(y_true, y_pred)).statistic)


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error, as a fraction (0.1 = 10 %); y_true must be non-zero."""
    y_true, y_pred = _pair(y_true, y_pred)
    if np.any(y_true == 0):
        raise ValueError("MAPE is undefined where a true value is 0")
    return float(np.mean(np.abs(y_pred - y_true) / np.abs(y_true)))


def within(y_true, y_pred, tolerance: float = 0.10) -> float:
    """The share of predictions within +-`tolerance` (relative) of the true value."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y_pred - y_true) <= tolerance * np.abs(y_true)))
