"""Linear regression with non-negative coefficients, by least squares or a robust loss, in
absolute or relative error."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

LOSSES = ("linear", "huber")


class NonNegativeLinearRegressor(RegressorMixin, BaseEstimator):
    """y = X w + b with w >= 0 (b and the ``free`` columns' weights unbounded), least squares.

    For features that count operations whose costs add up (latency, energy), a negative
    weight has no physical meaning, and an unconstrained fit uses one to trade features off
    against each other: it then predicts absurdly low costs for architectures unlike the
    training ones, exactly the ones a budgeted search picks.

    Args:
        loss: ``"linear"`` (least squares) or ``"huber"`` (quadratic for residuals within
            `huber_fraction` of the median target, linear beyond: robust to a few inflated
            measurements).
        huber_fraction: The Huber threshold relative to the median target.
        free: Columns whose weights may be negative: corrections, not costs (e.g. a
            profiler's own time per kernel, which a kernel count takes back out of a sum of
            profiled kernel times).
        relative: Minimise the error relative to each target, (prediction - y) / y, instead
            of the absolute error. Absolute least squares over latencies spanning 30x fits
            the large networks and leaves the small ones a third off; a relative fit weighs
            every network alike, which is what mean absolute percentage error (and a
            budget near the fastest networks) measures. Needs positive targets.
    """

    def __init__(
        self,
        loss: str = "linear",
        huber_fraction: float = 0.1,
        free: tuple[int, ...] = (),
        relative: bool = False,
    ) -> None:
        self.loss = loss
        self.huber_fraction = huber_fraction
        self.free = free
        self.relative = relative

    def fit(self, X, y) -> NonNegativeLinearRegressor:
        from scipy.optimize import least_squares

        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if not self.huber_fraction > 0:
            raise ValueError(f"huber_fraction must be positive, got {self.huber_fraction}")
        X, y = check_X_y(X, y, dtype=np.float64, y_numeric=True)
        self.n_features_in_ = X.shape[1]
        n_features = X.shape[1]
        if self.relative:
            if np.any(~np.isfinite(y)) or np.any(y <= 0):
                raise ValueError("a relative-error fit needs positive, finite targets")
            weight = 1.0 / y
            scale = self.huber_fraction
        else:
            weight = np.ones_like(y)
            scale = self.huber_fraction * max(float(np.median(np.abs(y))), 1e-12)

        def residuals(params: np.ndarray) -> np.ndarray:
            return (X @ params[:n_features] + params[n_features] - y) * weight

        lower = np.r_[np.zeros(n_features), -np.inf]
        for column in self.free:
            if not 0 <= column < n_features:
                raise ValueError(f"free column {column} is not one of the {n_features} columns")
            lower[column] = -np.inf
        start = np.r_[np.zeros(n_features), np.median(y)]
        result = least_squares(
            residuals,
            start,
            bounds=(lower, np.inf),
            loss=self.loss,
            f_scale=scale if self.loss == "huber" else 1.0,
        )
        self.coef_ = result.x[:n_features]
        self.intercept_ = float(result.x[n_features])
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_
