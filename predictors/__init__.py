"""Latency and energy predictors: regressors on architecture features, and their metrics.

Predictors consume feature arrays; they never build networks or know a search space.
"""

from predictors.metrics import kendall_tau, mape, spearman, within
from predictors.regressor import LatencyRegressor

__all__ = ["LatencyRegressor", "kendall_tau", "mape", "spearman", "within"]
