"""Per-device latency regressor: a scikit-learn model chosen by cross-validation.

Only ``sklearn.base`` is imported with this module (``LatencyRegressor`` subclasses it); the
candidate models and model selection are imported when first used.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from predictors.regressor_names import CANDIDATES

FLOOR_FRACTION = 0.5
"""Predictions are clipped below at this fraction of the fastest training latency: a linear
model can extrapolate to zero or below, no latency can."""


def make_candidate(
    name: str, random_state: int = 0, free: tuple[int, ...] = (), relative: bool = True
) -> BaseEstimator:
    """A fresh candidate model.

    ``"linear"`` and ``"huber"`` are linear in the features with non-negative weights
    (`NonNegativeLinearRegressor`): features are counts of operations whose costs add up.
    Huber's loss grows linearly beyond 10 % of the latency (the median latency with
    ``relative=False``), so a few measurements inflated by interference from other processes
    (a shared VM) pull its fit far less. With ``relative`` (the default) they minimise the
    error relative to each latency, the measure cross-validation chooses by. ``"gbr"`` is
    gradient-boosted trees, for devices whose costs do not add up. ``free`` names the
    columns a linear model may weigh negatively (ignored by trees).
    """
    if name in ("linear", "huber"):
        from predictors.linear import NonNegativeLinearRegressor

        return NonNegativeLinearRegressor(loss=name, free=tuple(free), relative=relative)
    if name == "gbr":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(
            n_estimators=200,
            max_depth=3,
            learning_rate=0.05,
            subsample=0.8,
            random_state=random_state,
        )
    raise ValueError(f"unknown model {name!r}; expected 'auto' or one of {CANDIDATES}")


class LatencyRegressor(RegressorMixin, BaseEstimator):
    """Predicts one device's latency (ms) from architecture features.

    With `model="auto"`, each candidate's K-fold cross-validated mean absolute percentage
    error on the training samples decides which one is refit on all of them. With
    `feature_sets`, every model is also tried on each named subset of the feature columns,
    so cross-validation decides between a rich encoding and a smaller one that 40 noisy
    measurements can pin down.

    Args:
        model: ``"auto"`` or one of ``CANDIDATES`` (``"linear"``, ``"huber"``, ``"gbr"``).
        cv: Number of cross-validation folds (at most the number of samples).
        random_state: Seed of the fold split and of the randomised candidates.
        feature_sets: None (every column), or ``((name, columns), ...)`` where `columns` is
            a tuple of column indices or None for every column. Candidates are then named
            ``"model:name"``, e.g. ``"huber:live"``. A third element, ``(name, columns,
            free)``, names columns (of the full matrix, among `columns`) whose linear
            weights may be negative.

    Attributes:
        model_: The chosen candidate's name (``"model:features"`` with `feature_sets`).
        columns_: The feature columns the chosen candidate reads (None: all of them).
        estimator_: The fitted scikit-learn model.
        floor_ms_: The lowest latency `predict` returns (`FLOOR_FRACTION` of the fastest
            training sample).
        cv_mape_: Cross-validated MAPE (fraction) of every candidate that was tried.
        cv_ratio_: For each training sample, true / cross-validated prediction of the chosen
            model, (n,); empty where too few samples for cross-validation. Its quantiles
            bound the prediction error (see `upper_bound`).
    """

    def __init__(
        self,
        model: str = "auto",
        cv: int = 5,
        random_state: int = 0,
        feature_sets: tuple[tuple[str, tuple[int, ...] | None], ...] | None = None,
        relative: bool = True,
    ) -> None:
        self.model = model
        self.cv = cv
        self.random_state = random_state
        self.feature_sets = feature_sets
        self.relative = relative

    def _candidates(self, n_features: int) -> dict[str, tuple[str, list[int] | None, tuple]]:
        """Candidate name -> (model name, feature columns or None, free columns among them)."""
        names = CANDIDATES if self.model == "auto" else (self.model,)
        for name in names:
            make_candidate(name)  # fail early on an unknown name
        if self.feature_sets is None:
            return {name: (name, None, ()) for name in names}
        if len(self.feature_sets) == 0:
            raise ValueError("feature_sets is empty: give at least one (name, columns) pair")
        sets = {}
        for set_name, columns, *rest in self.feature_sets:
            free = tuple(rest[0]) if rest else ()
            if columns is not None:
                columns = [int(c) for c in columns]
                if not columns or not all(0 <= c < n_features for c in columns):
                    raise ValueError(
                        f"feature set {set_name!r}: columns {columns} must be a non-empty "
                        f"selection of the {n_features} feature columns"
                    )
            if set_name in sets:
                raise ValueError(f"feature set {set_name!r} is named twice")
            selected = list(range(n_features)) if columns is None else columns
            if not set(free) <= set(selected):
                raise ValueError(f"feature set {set_name!r}: free columns {free} are not in it")
            sets[set_name] = (columns, tuple(selected.index(c) for c in free))
        return {
            f"{name}:{set_name}": (name, columns, free)
            for name in names
            for set_name, (columns, free) in sets.items()
        }

    def fit(self, X, y) -> LatencyRegressor:
        from sklearn.model_selection import KFold, cross_val_predict

        X, y = check_X_y(X, y, dtype=np.float64, y_numeric=True)
        self.n_features_in_ = X.shape[1]
        if np.any(~np.isfinite(y)) or np.any(y <= 0):
            raise ValueError("latencies must be positive and finite")
        candidates = self._candidates(X.shape[1])
        self.cv_mape_ = {}
        cv_predictions = {}
        folds = min(self.cv, len(y))
        if len(candidates) > 1 or folds >= 2:
            splitter = KFold(folds, shuffle=True, random_state=self.random_state)
            for key, (name, columns, free) in candidates.items():
                estimator = make_candidate(name, self.random_state, free, self.relative)
                features = X if columns is None else X[:, columns]
                predicted = cross_val_predict(estimator, features, y, cv=splitter)
                self.cv_mape_[key] = float(np.mean(np.abs(predicted - y) / y))
                cv_predictions[key] = predicted
        self.model_ = (
            min(self.cv_mape_, key=self.cv_mape_.get) if self.cv_mape_ else next(iter(candidates))
        )
        chosen = cv_predictions.get(self.model_)
        self.cv_ratio_ = (
            y / np.maximum(chosen, 1e-3 * y.min()) if chosen is not None else np.empty(0)
        )
        name, self.columns_, free = candidates[self.model_]
        features = X if self.columns_ is None else X[:, self.columns_]
        self.estimator_ = clone(make_candidate(name, self.random_state, free, self.relative))
        self.estimator_.fit(features, y)
        self.floor_ms_ = float(FLOOR_FRACTION * y.min())
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.columns_ is not None:
            X = X[:, self.columns_]
        return np.maximum(self.estimator_.predict(X), self.floor_ms_)

    def upper_bound(self, X, confidence: float = 0.9) -> np.ndarray:
        """A latency that the true one stays below with about `confidence` probability.

        Split-conformal bound on the ratio true / predicted: the prediction times the
        ceil((n + 1) * confidence)-th smallest cross-validated ratio (never below 1).
        """
        factor = self.bound_factor(confidence)
        return self.predict(X) * factor

    def bound_factor(self, confidence: float = 0.9) -> float:
        """The factor `upper_bound` applies to predictions; inf with too few samples for it.

        Raises:
            ValueError: If `confidence` is not strictly between 0 and 1.
        """
        check_is_fitted(self, "estimator_")
        if not 0 < confidence < 1:
            raise ValueError(
                f"confidence must be a probability strictly between 0 and 1, e.g. 0.9, "
                f"got {confidence!r}"
            )
        n = self.cv_ratio_.size
        rank = int(np.ceil((n + 1) * confidence))
        if n == 0 or rank > n:
            return float("inf")
        return max(1.0, float(np.sort(self.cv_ratio_)[rank - 1]))
