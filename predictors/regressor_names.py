"""The names of the regressors `LatencyRegressor` chooses from, importable without scikit-learn.

`predictors.regressor` and the ``hwnas generate --model`` choices both read `CANDIDATES` here,
so the command line never lists a model the regressor does not know.
"""

CANDIDATES: tuple[str, ...] = ("linear", "huber", "gbr")
"""Non-negative linear (ridge) regression, Huber regression, gradient-boosted trees."""
