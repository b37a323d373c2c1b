"""Predictor metrics against hand-computed cases, and the LatencyRegressor estimator contract."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from predictors import LatencyRegressor, kendall_tau, mape, spearman, within


def test_rank_correlations_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1,2,3) vs (1,3,2): 1 - 6*(0+1+1)/(3*(9-1)) = 0.5
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # pairs: (1,2) concordant, (1,3) concordant, (2,3) discordant -> (2-1)/3
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)


def test_errors_by_hand():
    assert mape([1.0, 2.0, 4.0], [1.1, 1.8, 4.0]) == pytest.approx((0.1 + 0.1 + 0.0) / 3)
    assert within([1.0, 2.0, 4.0], [1.05, 2.5, 4.3]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="undefined"):
        mape([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="has 2 values"):
        spearman([1, 2], [1, 2, 3])


def _linear_problem(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, size=(n, 12)).astype(float)
    y = 1.0 + X @ rng.uniform(0.1, 1.0, 12)
    return X, y


def test_regressor_fits_and_chooses_by_cross_validation():
    X, y = _linear_problem()
    model = LatencyRegressor()
    assert model.fit(X[:40], y[:40]) is model
    assert set(model.cv_mape_) == {"linear", "gbr", "huber"}
    assert model.model_ in {"linear", "huber"}  # the target is linear in the features
    assert mape(y[40:], model.predict(X[40:])) < 0.02


def test_regressor_contract():
    X, y = _linear_problem()
    model = LatencyRegressor(model="gbr", cv=3)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict(X)
    model.fit(X, y)
    assert model.model_ == "gbr" and model.predict(X).shape == (len(X),)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :5])
    with pytest.raises(ValueError, match="positive"):
        LatencyRegressor().fit(X, -y)
    with pytest.raises(ValueError, match="unknown model"):
        LatencyRegressor(model="svm").fit(X, y)


def test_conformal_bound_factor_by_hand():
    X, y = _linear_problem(n=40)
    model = LatencyRegressor(model="linear").fit(X, y)
    assert model.cv_ratio_.shape == (40,)
    # Replace the ratios by known values: n = 9, confidence 0.8 -> rank ceil(10 * 0.8) = 8.
    model.cv_ratio_ = np.array([0.7, 0.9, 1.0, 1.05, 1.1, 1.2, 1.3, 1.4, 2.0])
    assert model.bound_factor(0.8) == pytest.approx(1.4)
    assert model.bound_factor(0.95) == float("inf")  # rank 10 > 9 samples
    np.testing.assert_allclose(model.upper_bound(X[:3], 0.8), model.predict(X[:3]) * 1.4)
    model.cv_ratio_ = np.array([0.5, 0.6, 0.7, 0.8])
    assert model.bound_factor(0.5) == 1.0  # never below the prediction itself
    with pytest.raises(ValueError, match="confidence"):
        model.upper_bound(X, 1.5)


@pytest.mark.parametrize("confidence", [0, 0.0, 1, 1.5, -3, float("nan")])
def test_bound_factor_refuses_a_confidence_outside_0_1(confidence):
    X, y = _linear_problem(n=40)
    model = LatencyRegressor(model="linear").fit(X, y)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        model.bound_factor(confidence)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        model.upper_bound(X, confidence)


def test_huber_resists_a_few_inflated_measurements():
    X, y = _linear_problem()
    noisy = y.copy()
    noisy[[3, 17, 29]] *= 3  # 3 of the 40 training latencies hit by interference
    model = LatencyRegressor().fit(X[:40], noisy[:40])
    assert model.cv_mape_["huber"] < model.cv_mape_["linear"]
    assert mape(y[40:], model.predict(X[40:])) < 0.1  # judged on clean held-out latencies
    huber = LatencyRegressor(model="huber").fit(X[:40], noisy[:40])
    assert huber.model_ == "huber" and huber.estimator_.loss == "huber"


def test_predictions_never_fall_below_the_floor():
    X = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    y = 2 * X[:, 0] - 1.5  # 0.5 .. 10.5
    model = LatencyRegressor(model="linear").fit(X, y)
    assert model.floor_ms_ == 0.25
    assert model.predict(np.array([[0.0]]))[0] == 0.25  # the line itself gives -1.5


def test_feature_sets_let_cross_validation_pick_the_columns_that_matter():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 3, size=(40, 8)).astype(float)
    # The latency depends on columns 0-2 only; the other five are noise features that
    # 40 noisy samples cannot rule out when every column is offered.
    y = (0.2 + X[:, :3] @ np.array([0.3, 0.5, 0.2])) * rng.lognormal(0.0, 0.15, 40)
    sets = (("all", None), ("first3", (0, 1, 2)))
    model = LatencyRegressor(model="huber", feature_sets=sets).fit(X, y)
    assert set(model.cv_mape_) == {"huber:all", "huber:first3"}
    assert model.model_ == "huber:first3", model.cv_mape_
    assert model.columns_ == [0, 1, 2]
    assert model.estimator_.coef_.shape == (3,)
    # predict reads the full feature matrix and ignores the columns not chosen
    changed = X.copy()
    changed[:, 3:] = 9.0
    np.testing.assert_allclose(model.predict(changed), model.predict(X))
    assert clone(model).get_params() == model.get_params()


def test_a_feature_set_may_free_a_column_to_take_a_negative_weight():
    rng = np.random.default_rng(4)
    X = np.c_[rng.uniform(1, 5, 30), rng.integers(10, 300, 30), rng.uniform(0, 1, 30)]
    y = 1.1 * X[:, 0] - 0.005 * X[:, 1] + 0.05  # a kernel sum less a per-kernel overhead
    sets = (("sum", (0,)), ("sum+count", (0, 1), (1,)))
    model = LatencyRegressor(model="linear", feature_sets=sets).fit(X, y)
    assert model.model_ == "linear:sum+count", model.cv_mape_
    assert model.estimator_.coef_[1] < 0
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-4)


@pytest.mark.parametrize(
    "sets, fragment",
    [
        ((), "feature_sets is empty"),
        ((("a", (0,), (1,)),), "free columns"),
        ((("a", (0, 12)),), "non-empty selection"),
        ((("a", ()),), "non-empty selection"),
        ((("a", None), ("a", (0,))), "named twice"),
    ],
)
def test_bad_feature_sets(sets, fragment):
    X, y = _linear_problem()
    with pytest.raises(ValueError, match=fragment):
        LatencyRegressor(feature_sets=sets).fit(X, y)
