"""Forward step-wise selection and its latency budget, on cases worked by hand."""

import math

import numpy as np
import pytest

from hwnas.errors import InputError
from hwnas.methods.nes.selection import (
    LatencyBudgetError,
    forward_select,
    member_latencies_ms,
    predicted_latencies_ms,
)

LABELS = np.array([0, 0])


def _two_class(*first_class_probs):
    """(K, 2, 2) probabilities from each member's P(class 0) on the two examples."""
    return np.array([[[p, 1 - p] for p in member] for member in first_class_probs])


# A is the best alone; C is better alone than B, but B is right where A is unsure.
POOL = _two_class((0.9, 0.5), (0.4, 0.9), (0.85, 0.45))


def test_without_replacement_picks_the_complementary_member():
    selection = forward_select(POOL, LABELS, 2)
    assert selection.picks == (0, 1)
    first = (-math.log(0.9) - math.log(0.5)) / 2  # A alone: 0.3992
    pair = (-math.log(0.65) - math.log(0.7)) / 2  # mean of A and B: 0.3937
    assert selection.valid_nll == pytest.approx((first, pair))
    # C joined to A would give (-log 0.875 - log 0.475) / 2 = 0.4390: worse than B
    assert selection.members == (0, 1) and selection.weights == (1, 1)
    assert selection.latency_ms is None


def test_with_replacement_can_pick_a_member_again():
    pool = _two_class((0.9, 0.9), (0.2, 0.2), (0.3, 0.3))
    selection = forward_select(pool, LABELS, 3, replace=True)
    assert selection.picks == (0, 0, 0)
    assert selection.members == (0,) and selection.weights == (3,)
    assert selection.valid_nll == pytest.approx([-math.log(0.9)] * 3)
    assert forward_select(pool, LABELS, 2, replace=False).picks == (0, 2)


def test_size_larger_than_the_pool_needs_replacement():
    with pytest.raises(InputError, match="without replacement from a pool of 3"):
        forward_select(POOL, LABELS, 4)
    with pytest.raises(InputError, match="positive integer"):
        forward_select(POOL, LABELS, 0)


def test_budget_excludes_a_member_too_slow_to_complete_the_ensemble():
    latencies = [5.0, 1.0, 1.0]
    # 5 + the fastest other (1) = 6 fits a budget of 6: A, then B (tie with C, lower index).
    selection = forward_select(POOL, LABELS, 2, latencies_ms=latencies, budget_ms=6.0)
    assert selection.picks == (0, 1) and selection.latency_ms == pytest.approx(6.0)
    # Under 5.9 ms A can never be completed to 2 members: B and C remain.
    selection = forward_select(POOL, LABELS, 2, latencies_ms=latencies, budget_ms=5.9)
    assert sorted(selection.picks) == [1, 2] and selection.latency_ms == pytest.approx(2.0)


def test_nothing_fits_names_the_fastest_ensemble():
    with pytest.raises(LatencyBudgetError) as info:
        forward_select(
            POOL, LABELS, 2, latencies_ms=[5.0, 1.5, 1.0], budget_ms=2.0, names=["a", "b", "c"]
        )
    message = str(info.value)
    assert "c + b" in message and "2.5 ms" in message and "raise the budget" in message
    with pytest.raises(LatencyBudgetError, match=r"c \+ c"):
        forward_select(
            POOL, LABELS, 2, True, latencies_ms=[5.0, 1.5, 1.1], budget_ms=2.0, names="abc"
        )
    with pytest.raises(InputError, match="one finite, non-negative latency per pool member"):
        forward_select(POOL, LABELS, 2, latencies_ms=[1.0], budget_ms=2.0)


def test_member_latencies_by_architecture():
    assert member_latencies_ms(["a", "b", "a"], {"a": 1.0, "b": 2.0}) == [1.0, 2.0, 1.0]
    with pytest.raises(InputError, match="no latency for 1 pool architecture"):
        member_latencies_ms(["a", "c"], {"a": 1.0})


class _FakePredictor:
    space, target = "nb201", "latency_ms"

    def __init__(self):
        self.calls = []

    def predict(self, archs, device):
        self.calls.append((list(archs), device))
        return np.arange(1, len(archs) + 1, dtype=float)


def test_predicted_latencies_use_the_metapredictor_once_per_architecture(monkeypatch):
    fake = _FakePredictor()
    monkeypatch.setattr("hwnas.methods.predictor.load_model", lambda directory: fake)
    table = predicted_latencies_ms(["x", "y", "x"], "model-dir", "pixel3", "nb201")
    assert table == {"x": 1.0, "y": 2.0} and fake.calls == [(["x", "y"], "pixel3")]
    with pytest.raises(InputError, match="predictor of the nb201 space"):
        predicted_latencies_ms(["x"], "model-dir", "pixel3", "darts")
