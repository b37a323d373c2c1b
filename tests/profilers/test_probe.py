"""The disturbance probe with a fake clock, its ONNX workload, and a round timed beside it."""

import itertools

import pytest

from profilers import ConfigError, OnnxRuntime, TimingConfig
from profilers.hoststate import read_cpu_times, steal_fraction
from profilers.probe import (
    DisturbanceProbe,
    ProbeConfig,
    open_probe,
    probe_onnx_path,
    quiet_baseline,
)
from profilers.round_timing import timed_round


class FakeClock:
    """Nanoseconds that advance only when a run or a sleep says so."""

    def __init__(self):
        self.ns = 0

    def __call__(self):
        return self.ns

    def sleep(self, seconds):
        self.ns += int(seconds * 1e9)


class ScriptedTimer:
    """Each run lasts the next scripted number of ms, and advances the fake clock by it."""

    kind = "scripted"

    def __init__(self, clock, durations_ms):
        self.clock = clock
        self.durations = iter(durations_ms)

    def time_ns(self, fn):
        ns = int(next(self.durations) * 1e6)
        self.clock.ns += ns
        return ns

    def synchronize(self):
        pass


def probe_with(durations_ms, **config):
    clock = FakeClock()
    timer = ScriptedTimer(clock, durations_ms)
    config = ProbeConfig(**{"runs": 3, "calibration_windows": 2, "calibration_s": 0.0, **config})
    return DisturbanceProbe(lambda: None, timer, config, clock=clock, sleep=clock.sleep), clock


def windows(*medians, runs=3):
    """Durations giving windows with these medians (one untimed run before each window)."""
    return [d for m in medians for d in [m] * (runs + 1)]


def test_window_is_the_median_and_percentile_zero_the_fastest_window():
    probe, _ = probe_with([5, 1.0, 9.0, 1.2] + windows(0.9, 2.0), baseline_percentile=0)
    assert probe.window_ms() == pytest.approx(1.2)  # median of 1.0, 9.0, 1.2
    assert probe.baseline_ms == pytest.approx(1.2)
    assert probe.calibrate() == pytest.approx(0.9)  # two more windows: 0.9 and 2.0
    assert probe.ratio(1.8) == pytest.approx(2.0)


def test_the_baseline_is_a_low_percentile_of_the_windows_not_the_luckiest():
    # nine windows of 1.0 ms and one lucky 0.8: the baseline stays at the quiet 1.0 ms level
    medians = [1.0] * 4 + [0.8] + [1.0] * 5
    probe, _ = probe_with(windows(*medians), calibration_windows=10)
    assert probe.calibrate() == pytest.approx(0.98)  # the 10th percentile of the ten
    assert probe.ratio(1.2) == pytest.approx(1.2 / 0.98)
    # a fastest-window rule would call 1.0 ms windows 1.25x slow
    assert quiet_baseline(medians, 0) == pytest.approx(0.8)
    with pytest.raises(ConfigError, match="baseline_percentile"):
        ProbeConfig(baseline_percentile=90)


def test_wait_for_quiet_returns_at_once_on_a_quiet_machine():
    probe, clock = probe_with(windows(1.0, 1.0, 1.05))
    probe.calibrate()
    assert probe.wait_for_quiet() == 0.0
    assert probe.busy_after_wait is False


def test_wait_for_quiet_waits_until_the_probe_is_quick_again():
    # calibrated at 1 ms; then three slow windows (2 ms) and a quick one
    probe, clock = probe_with(
        windows(1.0, 1.0, 2.0, 2.0, 2.0, 1.0), max_wait_s=10.0, wait_step_s=0.5
    )
    probe.calibrate()
    waited = probe.wait_for_quiet()
    # three pauses of 0.5 s plus the windows' own time (4 runs of 2 ms each, timed ones too)
    assert waited == pytest.approx(1.5 + 3 * 4 * 0.002, abs=1e-6)
    assert probe.waited_total_s == pytest.approx(waited)
    assert probe.busy_after_wait is False  # quiet again: a blip, not a busy machine


def test_wait_for_quiet_is_bounded_per_round_and_per_campaign():
    slow = itertools.chain(windows(1.0, 1.0), itertools.repeat(3.0))
    probe, clock = probe_with(slow, max_wait_s=1.0, max_total_wait_s=1.5, wait_step_s=0.25)
    probe.calibrate()
    first = probe.wait_for_quiet()
    assert 1.0 <= first < 1.1  # stopped at the per-round bound
    assert probe.busy_after_wait is True  # still slow when the bound ended the wait
    second = probe.wait_for_quiet()
    assert 0.5 <= second < 0.6  # only what is left of the campaign's 1.5 s
    assert probe.wait_for_quiet() == 0.0  # nothing left: no more waiting
    assert probe.busy_after_wait is False  # no wait, nothing to say


def test_probe_config_refuses_a_threshold_that_is_not_a_slowdown():
    with pytest.raises(ConfigError, match="threshold must be > 1"):
        ProbeConfig(threshold=0.9)
    assert ProbeConfig.from_dict(ProbeConfig(runs=7).to_dict()) == ProbeConfig(runs=7)


def test_the_onnx_probe_is_one_fixed_file_timed_by_the_campaigns_runtime(tmp_path):
    first, again = probe_onnx_path(tmp_path), probe_onnx_path(tmp_path)
    assert first == again and first.read_bytes() == again.read_bytes()
    probe = open_probe(OnnxRuntime(intra_op_threads=1), ProbeConfig(runs=5, calibration_windows=2))
    try:
        baseline = probe.calibrate()
        assert 0 < baseline < 100
    finally:
        probe.close()


def test_a_round_beside_a_slow_probe_is_marked_disturbed(tiny_onnx, fast_timing):
    # a probe that was quick when calibrated and is 1.5x slower beside the round
    clock = FakeClock()
    durations = itertools.chain(windows(1.0, 1.0), itertools.repeat(1.5))
    probe = DisturbanceProbe(
        lambda: None,
        ScriptedTimer(clock, durations),
        ProbeConfig(runs=3, calibration_windows=2, calibration_s=0.0, max_wait_s=0.0),
        clock=clock,
        sleep=clock.sleep,
    )
    probe.calibrate()
    runtime = OnnxRuntime(intra_op_threads=1)
    stats, info = timed_round(
        tiny_onnx, runtime, fast_timing, probe=probe, placement={"threads": 1, "cpus": None}
    )
    assert stats.n >= fast_timing.min_runs
    r = info["round"]
    assert r["probe_ms"] == [pytest.approx(1.5), pytest.approx(1.5)]
    assert r["probe_ratio"] == pytest.approx(1.5) and r["disturbed"] is True
    assert r["host_state"]["usable_cores"] >= 1 and info["placement"]["threads"] == 1
    quiet = DisturbanceProbe(
        lambda: None,
        ScriptedTimer(clock, itertools.repeat(1.0)),
        ProbeConfig(runs=3, calibration_windows=2, calibration_s=0.0),
        clock=clock,
        sleep=clock.sleep,
    )
    _, info = timed_round(
        tiny_onnx, runtime, TimingConfig(min_runs=5, max_time_s=0.05), probe=quiet
    )
    assert info["round"]["disturbed"] is False


def test_steal_is_the_stolen_share_of_the_cpu_time_between_two_readings():
    before = (100, 0, 50, 800, 0, 0, 0, 10, 0, 0)
    after = (150, 0, 70, 900, 0, 0, 0, 40, 0, 0)
    assert steal_fraction(before, after) == pytest.approx(30 / 200)
    assert steal_fraction(None, after) is None
    reading = read_cpu_times()
    assert reading is None or len(reading) >= 8


def test_the_gate_compares_each_look_with_the_quiet_looks_and_caps_their_baseline():
    from profilers.probe import GATE_COLD, GATE_OWN_BASELINE

    # calibrated at 1.0 ms; then looks of 5 runs: quiet ones at 1.05 ms, slow ones at 1.5 ms
    looks = [1.05] * GATE_OWN_BASELINE + [1.5] * 3 + [1.05]
    durations = windows(1.0, 1.0) + [d for m in looks for d in [m] * 5]
    probe, _ = probe_with(durations, gate_runs=5)
    probe.calibrate()
    gate = probe.gate()
    answers = [gate.quiet() for _ in looks]
    assert answers == [True] * GATE_OWN_BASELINE + [False] * 3 + [True]
    gate.record(kept=40, timed=100, enough=True)
    assert gate.to_dict()["kept_share"] == pytest.approx(0.4) and gate.enough
    gate.record(kept=20, timed=100, enough=True)
    assert not gate.enough  # under a quarter of the runs quiet: disturbed all the same
    # a long slow spell does not lift the looks' baseline past GATE_COLD x the windows'
    slow, _ = probe_with(windows(1.0, 1.0) + [1.5] * 5 * 30, gate_runs=5)
    slow.calibrate()
    gate = slow.gate()
    assert GATE_COLD * slow.config.gate_threshold < 1.5
    assert not any(gate.quiet() for _ in range(30))
    off, _ = probe_with(windows(1.0, 1.0), gate_interval_s=0)
    assert off.gate() is None
