"""Budget verdicts: yes / no / undecided from the interval of the median over rounds."""

import pytest

from profilers import ConfigError
from profilers.verdict import (
    CAP_REACHED,
    DECIDED,
    DECIDED_AFTER_MORE,
    VerdictConfig,
    budget_verdict,
)


def test_yes_when_the_whole_interval_is_within_budget():
    v = budget_verdict(1.0, [0.8, 0.82, 0.85, 0.81, 0.9])
    assert (v.verdict, v.within_budget, v.resolution) == ("yes", True, DECIDED)
    assert (v.ci_low_ms, v.ci_high_ms, v.median_ms) == (0.8, 0.9, 0.82)
    assert v.confidence == pytest.approx(0.9375)  # [min, max] of 5 rounds
    assert v.sentence().startswith("yes (median 0.820 ms")


def test_no_when_the_whole_interval_is_above_budget():
    v = budget_verdict(1.0, [1.2, 1.1, 1.3, 1.05, 1.2])
    assert (v.verdict, v.within_budget, v.extra_rounds) == ("no", False, 0)


def test_one_slow_round_of_five_leaves_the_verdict_undecided_without_more_rounds():
    v = budget_verdict(1.0, [0.8, 0.82, 2.5, 0.81, 0.9])  # one window in a slow spell
    assert (v.verdict, v.within_budget, v.resolution) == ("undecided", None, DECIDED)


def test_undecided_gets_more_rounds_until_decided():
    more = iter([0.8, 0.82, 0.81, 0.8, 0.83, 0.8])
    v = budget_verdict(1.0, [0.8, 0.82, 2.5, 0.81, 0.9], more_round=lambda: next(more))
    # with 9 rounds the interval is [x_(2), x_(8)]: the slow round falls outside it
    assert v.verdict == "yes" and v.resolution == DECIDED_AFTER_MORE
    assert v.rounds == 9 and v.extra_rounds == 4
    assert "decided after 4 more rounds" in v.sentence()


def test_a_latency_at_the_budget_stays_undecided_until_the_cap():
    calls = []

    def more():
        calls.append(1)
        return [0.95, 1.05][len(calls) % 2]

    config = VerdictConfig(rounds=5, max_rounds=8)
    v = budget_verdict(1.0, [0.95, 1.05, 0.97, 1.03, 1.0], more_round=more, config=config)
    assert v.verdict == "undecided" and v.resolution == CAP_REACHED
    assert v.rounds == 8 and len(calls) == 3
    assert "still undecided after 3 more rounds" in v.sentence()


@pytest.mark.parametrize("budget, medians", [(0.0, [1.0]), (1.0, []), (1.0, [float("nan")])])
def test_bad_input_is_refused(budget, medians):
    with pytest.raises(ConfigError):
        budget_verdict(budget, medians)


def test_verdict_config_validates():
    with pytest.raises(ConfigError, match="max_rounds"):
        VerdictConfig(rounds=5, max_rounds=3)


def test_a_shipped_file_is_timed_as_a_profile_times_a_cell(tiny_onnx, fast_timing, tmp_path):
    """The verdict's rounds land in the store under the file's key, scaled to the anchor."""
    from devices import Device
    from profilers import MeasurementStore, create_runtime
    from profilers.campaign import file_sha256
    from profilers.rounds import RoundsConfig
    from profilers.speed import SpeedAnchors
    from profilers.verify import shipped_key, time_shipped

    device = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    store = tmp_path / "m.sqlite"
    common = dict(
        store_path=store,
        runtime=runtime,
        device=device,
        timing=fast_timing,
        rounds=RoundsConfig(rounds=3, max_rounds=3),
        anchors=SpeedAnchors(tmp_path / "anchors.json"),
    )
    generous = time_shipped(tiny_onnx, "tiny", 1000.0, **common)
    assert generous.verdict.verdict == "yes" and generous.verdict.within_budget
    assert generous.judged_by == "anchored" and generous.measured_now
    assert generous.key == shipped_key("tiny", file_sha256(tiny_onnx))
    raw = generous.raw_verdict.round_medians_ms
    scaled = generous.verdict.round_medians_ms
    assert scaled == pytest.approx([m * generous.speed_factor for m in raw])
    with MeasurementStore(store) as opened:
        row = opened.get(generous.key, "ci-box", "onnxruntime")
        assert row is not None and row.fingerprint["speed"]["factor"] == generous.speed_factor
        assert len(opened.rounds(generous.key)) >= 3
    # The same bytes again: nothing is timed twice, the stored rounds decide.
    impossible = time_shipped(tiny_onnx, "tiny", 1e-6, **common)
    assert not impossible.measured_now
    assert impossible.verdict.verdict == "no" and impossible.verdict.within_budget is False
    assert impossible.verdict.round_medians_ms == scaled
