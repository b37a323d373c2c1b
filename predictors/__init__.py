"""Latency and energy predictors: regressors on architecture features, and their metrics.

Predictors consume feature arrays; they never build networks or know a search space.
Importing this package imports neither scikit-learn nor scipy: each name below is imported
from its module on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from predictors.metrics import kendall_tau, mape, spearman, within
    from predictors.regressor import LatencyRegressor

_MODULE_OF = {
    "LatencyRegressor": "predictors.regressor",
    "kendall_tau": "predictors.metrics",
    "mape": "predictors.metrics",
    "spearman": "predictors.metrics",
    "within": "predictors.metrics",
}

__all__ = ["LatencyRegressor", "kendall_tau", "mape", "spearman", "within"]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'predictors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
