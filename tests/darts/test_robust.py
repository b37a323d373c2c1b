"""DARTS-ES / DARTS-ADA decisions: hand-worked triggers and scripted searches."""

import math

import numpy as np
import pytest

from hwnas.core.datasets import ImageData
from hwnas.methods.darts import search as search_module
from hwnas.methods.darts.hessian import EigenResult
from hwnas.methods.darts.robust import RobustConfig, check_trigger, local_average
from hwnas.methods.darts.search import SearchConfig, SearchDivergedError, run_search

CONFIG = RobustConfig(window=2, k=2, factor=1.3, start_epoch=0)


def test_local_average_by_hand():
    assert local_average([1.0, 2.0, 4.0], 2, 2) == 3.0
    assert local_average([1.0, 2.0, 4.0], 0, 2) == 1.0


def test_trigger_by_hand():
    # epoch 3: avg(ev[2..3]) = 1.5, avg(ev[0..1]) = 1.0 -> ratio 1.5 > 1.3
    trigger = check_trigger([1.0, 1.0, 1.4, 1.6], CONFIG)
    assert trigger.reason == "eigenvalue_rise" and math.isclose(trigger.ratio, 1.5)
    assert trigger.rollback_epoch == 3 - 1 - 2 == 0
    assert check_trigger([1.0, 1.0, 1.2, 1.3], CONFIG) is None  # ratio 1.25
    assert check_trigger([1.0, 1.0, 5.0], CONFIG) is None  # too early: no full earlier window
    late = RobustConfig(window=2, k=2, factor=1.3, start_epoch=5)
    assert check_trigger([1.0, 1.0, 1.4, 1.6], late) is None
    nan = check_trigger([1.0, float("nan")], CONFIG)
    assert nan.reason == "eigenvalue_not_finite" and nan.rollback_epoch < 0


def _data(n=16):
    rng = np.random.default_rng(0)
    return ImageData(rng.standard_normal((n, 1, 4, 4)).astype(np.float32), rng.integers(0, 3, n), 3)


def _scripted(monkeypatch, values):
    calls = iter(values)
    monkeypatch.setattr(
        search_module, "arch_hessian_eigenvalue", lambda *a, **k: EigenResult(next(calls), 1, True)
    )


def _config(mode, epochs=6):
    return SearchConfig(
        space="nb201", mode=mode, epochs=epochs, batch_size=8, steps_per_epoch=1, channels=2,
        layers=1, eigen_batch=8, robust=RobustConfig(window=2, k=2, factor=1.3, max_weight_decay=2.7e-3),
    )  # fmt: skip


def test_es_stops_and_returns_the_architecture_of_the_rollback_epoch(monkeypatch):
    _scripted(monkeypatch, [1.0, 1.0, 1.0, 1.0, 2.0, 2.0])
    records = []
    result = run_search(_config("es"), _data(), _data(), records.append)
    (event,) = result.events
    assert event["action"] == "early_stop_rollback" and event["epoch"] == 4
    assert event["rollback_epoch"] == 4 - 1 - 2 == 1 and result.arch_epoch == 1
    assert str(result.arch) == records[1].arch == event["architecture"]
    assert len(records) == 5  # stopped: epoch 5 never ran


def test_ada_rolls_back_and_multiplies_l2_up_to_the_maximum(monkeypatch):
    # run 0 triggers at epoch 4 -> back to 1, L2 x3; run 1 triggers again -> L2 at max; then watch
    _scripted(monkeypatch, [1.0, 1.0, 1.0, 1.0, 2.0] + [1.0, 1.0, 2.0] + [1.0, 1.0, 2.0, 2.0])
    result = run_search(_config("ada"), _data(), _data())
    actions = [e["action"] for e in result.events]
    assert actions[:2] == ["rollback_increase_l2", "rollback_increase_l2"]
    assert result.events[0]["weight_decay_after"] == pytest.approx(9e-4)
    assert result.events[1]["weight_decay_after"] == pytest.approx(2.7e-3)
    assert "l2_at_max_continue" in actions[2:]
    assert [r.run for r in result.records][-1] == 2 and result.records[-1].epoch == 5
    assert result.records[-1].weight_decay == pytest.approx(2.7e-3)


def test_plain_darts_logs_but_ignores_triggers(monkeypatch):
    _scripted(monkeypatch, [1.0, 1.0, 1.0, 1.0, 2.0, 2.0])
    result = run_search(_config("darts"), _data(), _data())
    assert [e["action"] for e in result.events] == ["would_trigger_ignored"] * 2
    assert result.arch_epoch == 5


def test_nan_eigenvalue_is_an_error_in_darts_and_a_logged_rollback_in_es(monkeypatch):
    _scripted(monkeypatch, [1.0, 1.0, 1.0, 1.0, float("nan"), 1.0])
    with pytest.raises(SearchDivergedError, match="not finite"):
        run_search(_config("darts"), _data(), _data())
    _scripted(monkeypatch, [1.0, 1.0, 1.0, 1.0, float("nan"), 1.0])
    result = run_search(_config("es"), _data(), _data())
    assert result.events[-1]["reason"] == "eigenvalue_not_finite" and result.arch_epoch == 1
    _scripted(monkeypatch, [float("nan")])
    with pytest.raises(SearchDivergedError, match="no earlier epoch"):
        run_search(_config("es"), _data(), _data())
