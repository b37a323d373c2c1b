"""NonNegativeLinearRegressor: bounded least squares, robust loss, the estimator contract."""

import numpy as np
import pytest
from sklearn.base import clone

from predictors.linear import NonNegativeLinearRegressor


def test_recovers_non_negative_weights_and_a_free_intercept():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(30, 3)).astype(float)
    y = X @ np.array([0.5, 0.0, 2.0]) - 1.0
    model = NonNegativeLinearRegressor().fit(X, y)
    np.testing.assert_allclose(model.coef_, [0.5, 0.0, 2.0], atol=1e-6)
    assert model.intercept_ == pytest.approx(-1.0, abs=1e-6)


def test_a_negative_weight_is_clamped_at_zero():
    # y falls with x: the best non-negative fit is flat at the mean.
    X = np.arange(6, dtype=float)[:, None]
    y = 10.0 - X[:, 0]
    model = NonNegativeLinearRegressor().fit(X, y)
    assert model.coef_[0] == pytest.approx(0.0, abs=1e-9)
    assert model.intercept_ == pytest.approx(y.mean())


def test_no_trade_off_between_collinear_counts():
    # Two features equal on every training row (a dead op is always live here); an
    # unconstrained fit may give them +w and -w. With w >= 0 a row where they differ cannot
    # be predicted below the intercept.
    rng = np.random.default_rng(1)
    base = rng.integers(0, 4, size=(20, 1)).astype(float)
    X = np.hstack([base, base])
    y = 1.0 + 0.3 * base[:, 0]
    model = NonNegativeLinearRegressor().fit(X, y)
    assert model.predict(np.array([[4.0, 0.0]]))[0] >= model.intercept_
    assert np.all(model.coef_ >= 0)


def test_huber_loss_resists_outliers():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 4, size=(40, 2)).astype(float)
    y = 1.0 + X @ np.array([0.4, 0.2])
    noisy = y.copy()
    noisy[[1, 5, 9]] *= 3
    plain = NonNegativeLinearRegressor().fit(X, noisy)
    huber = NonNegativeLinearRegressor(loss="huber").fit(X, noisy)
    assert np.abs(huber.coef_ - [0.4, 0.2]).max() < np.abs(plain.coef_ - [0.4, 0.2]).max()
    assert np.abs(huber.coef_ - [0.4, 0.2]).max() < 0.05


def test_free_columns_may_take_negative_weights():
    # y = 2 a - 0.5 b + 1: a kernel sum with a per-kernel overhead taken back out
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 10, size=(30, 2))
    y = 2 * X[:, 0] - 0.5 * X[:, 1] + 1
    bounded = NonNegativeLinearRegressor().fit(X, y)
    assert bounded.coef_[1] == pytest.approx(0.0, abs=1e-9)  # clipped at zero
    free = NonNegativeLinearRegressor(free=(1,)).fit(X, y)
    assert free.coef_ == pytest.approx([2.0, -0.5], abs=1e-6)
    assert free.intercept_ == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="free column 2"):
        NonNegativeLinearRegressor(free=(2,)).fit(X, y)


def test_a_relative_fit_keeps_the_small_targets_close():
    # Latencies over two decades that grow a little faster than the feature (as larger
    # networks spill caches). A line fitted by absolute error serves the large ones and is
    # several times off on the small ones; fitted by relative error, every one is within
    # half and the mean squared relative error is far lower.
    x = np.geomspace(0.1, 10.0, 30)
    y = 0.05 + x**1.3
    X = x[:, None]
    absolute = NonNegativeLinearRegressor().fit(X, y)
    relative = NonNegativeLinearRegressor(relative=True).fit(X, y)
    abs_error = (absolute.predict(X) - y) / y
    rel_error = (relative.predict(X) - y) / y
    assert np.abs(abs_error[:5]).max() > 1.0
    assert np.abs(rel_error).max() < 0.5
    assert np.mean(rel_error**2) < 0.1 * np.mean(abs_error**2)
    huber = NonNegativeLinearRegressor(loss="huber", relative=True).fit(X, y)
    assert np.abs((huber.predict(X) - y) / y).max() < 0.5
    with pytest.raises(ValueError, match="positive"):
        NonNegativeLinearRegressor(relative=True).fit(X, -y)


def test_contract():
    model = NonNegativeLinearRegressor(loss="huber", huber_fraction=0.2)
    assert clone(model).get_params() == {
        "loss": "huber",
        "huber_fraction": 0.2,
        "free": (),
        "relative": False,
    }
    with pytest.raises(ValueError, match="loss"):
        NonNegativeLinearRegressor(loss="cauchy").fit(np.ones((3, 1)), np.ones(3))
    X = np.arange(8, dtype=float).reshape(4, 2)
    fitted = NonNegativeLinearRegressor().fit(X, X.sum(1))
    with pytest.raises(ValueError, match="features"):
        fitted.predict(np.ones((2, 3)))
