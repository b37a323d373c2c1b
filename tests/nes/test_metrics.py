"""Ensemble metrics against cases worked by hand."""

import math

import numpy as np
import pytest

from hwnas.methods.nes.metrics import (
    PROB_FLOOR,
    ece,
    ensemble_metrics,
    ensemble_probs,
    error,
    mean_member_nll,
    nll,
    oracle_nll,
    reliability,
)

PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])
LABELS = np.array([0, 2, 0, 2])


def test_nll_and_error_by_hand():
    expected = -(math.log(0.7) + math.log(0.3) + math.log(0.5) + math.log(0.6)) / 4
    assert nll(PROBS, LABELS) == pytest.approx(expected)
    assert error(PROBS, LABELS) == pytest.approx(0.25)  # example 1 predicts class 1, not 2


def test_perfect_and_uniform_predictors():
    labels = np.array([0, 1, 2, 3, 1])
    perfect = np.eye(4)[labels]
    assert nll(perfect, labels) == pytest.approx(0.0)
    assert error(perfect, labels) == 0.0
    assert ece(perfect, labels) == pytest.approx(0.0)
    uniform = np.full((5, 4), 0.25)
    assert nll(uniform, labels) == pytest.approx(math.log(4))


def test_nll_clamps_zero_probability():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert nll(probs, np.array([1, 1])) == pytest.approx(-math.log(PROB_FLOOR) / 2)


def test_reliability_and_ece_by_hand():
    # confidences 0.7, 0.6, 0.5, 0.6 in 10 bins: (0.4, 0.5] holds example 2 (correct),
    # (0.5, 0.6] holds examples 1 (wrong) and 3 (correct), (0.6, 0.7] holds example 0 (correct)
    table = reliability(PROBS, LABELS, bins=10)
    assert table.count.tolist() == [0, 0, 0, 0, 1, 2, 1, 0, 0, 0]
    assert table.confidence[5] == pytest.approx(0.6)
    assert table.accuracy[5] == pytest.approx(0.5)
    assert np.isnan(table.accuracy[0])
    expected = (1 * abs(1 - 0.5) + 2 * abs(0.5 - 0.6) + 1 * abs(1 - 0.7)) / 4
    assert ece(PROBS, LABELS) == pytest.approx(expected)
    assert table.ece == pytest.approx(expected)


def test_ece_of_calibrated_predictor_is_small_and_overconfident_one_is_not():
    rng = np.random.default_rng(0)
    n = 20_000
    confidence = rng.uniform(0.5, 1.0, n)
    correct = rng.uniform(size=n) < confidence  # correct exactly as often as it claims
    labels = np.where(correct, 0, 1)
    probs = np.stack([confidence, 1 - confidence], axis=1)
    assert ece(probs, labels) < 0.02
    sharpened = np.stack([np.full(n, 0.99), np.full(n, 0.01)], axis=1)
    assert ece(sharpened, labels) == pytest.approx(0.99 - correct.mean(), abs=1e-9)


def test_ensemble_of_members_by_hand():
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    b = np.array([[0.5, 0.5], [0.6, 0.4]])
    members = np.stack([a, b])
    labels = np.array([0, 1])
    np.testing.assert_allclose(ensemble_probs(members), [[0.7, 0.3], [0.4, 0.6]])
    np.testing.assert_allclose(ensemble_probs(members, [3, 1]), 0.75 * a + 0.25 * b)
    assert oracle_nll(members, labels) == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)
    expected_mean = -(math.log(0.9) + math.log(0.8) + math.log(0.5) + math.log(0.4)) / 4
    assert mean_member_nll(members, labels) == pytest.approx(expected_mean)
    metrics = ensemble_metrics(members, labels)
    assert metrics["nll"] == pytest.approx(-(math.log(0.7) + math.log(0.6)) / 2)
    assert metrics["oracle_nll"] <= metrics["nll"] <= metrics["mean_member_nll"]
    assert metrics["members"] == 2


def test_nll_ordering_holds_on_random_members():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 200, 10)) * 3
    members = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    labels = rng.integers(0, 10, 200)
    ensemble_nll = nll(ensemble_probs(members), labels)
    assert oracle_nll(members, labels) <= ensemble_nll <= mean_member_nll(members, labels)


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        (PROBS, LABELS[:3], "labels must have shape"),
        (PROBS[0], LABELS, r"shape \(N, C\)"),
        (PROBS * 2, LABELS, "sum to 1"),
        (np.array([[1.2, -0.2], [0.5, 0.5]]), np.array([0, 1]), "negative"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), np.array([0, 1]), "NaN"),
        (PROBS, np.array([0, 3, 0, 2]), r"0\.\.2"),
        (PROBS, LABELS.astype(float), "integers"),
    ],
)
def test_bad_inputs_raise_value_error(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        nll(probs, labels)


def test_bad_member_inputs_raise_value_error():
    members = np.stack([PROBS, PROBS])
    with pytest.raises(ValueError, match=r"\(M, N, C\)"):
        oracle_nll(PROBS, LABELS)
    with pytest.raises(ValueError, match="one per member"):
        ensemble_probs(members, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="not all 0"):
        ensemble_probs(members, [0.0, 0.0])
    with pytest.raises(ValueError, match="bins"):
        ece(PROBS, LABELS, bins=0)
