"""Timing methodology: timers, the median's confidence interval, and profile_session's record."""

import itertools
import logging

import numpy as np
import pytest

from profilers import TimingConfig, time_callable
from profilers.profile import profile_session
from profilers.runtimes.base import InputSpec, Session
from profilers.stats import median_ci_halfwidth, median_ci_ranks
from profilers.timing import HostTimer

MS = 1_000_000


class ScriptedTimer:
    """A device timer whose runs take scripted durations (ms) and advance a shared clock."""

    kind = "scripted"

    def __init__(self, durations_ms):
        self.now_ns = 0
        self.calls = 0
        self.synced = 0
        self._durations = iter(durations_ms)

    def clock(self):
        return self.now_ns

    def time_ns(self, fn):
        fn()
        self.calls += 1
        elapsed = int(next(self._durations) * MS)
        self.now_ns += elapsed
        return elapsed

    def synchronize(self):
        self.synced += 1


def test_samples_and_warmup_come_from_the_timer():
    timer = ScriptedTimer([9.0, 9.0, 2.0, 4.0, 3.0, 1.0])
    fn_calls = []
    config = TimingConfig(warmup_runs=2, warmup_s=0.0, min_runs=4, max_runs=4, max_time_s=10)
    stats = time_callable(lambda: fn_calls.append(1), config, clock=timer.clock, timer=timer)
    assert timer.calls == 6 and len(fn_calls) == 6  # warm-up runs go through the timer too
    assert stats.median_ms == 2.5 and stats.n == 4 and stats.stop_reason == "max_runs"


def test_time_cap_counts_device_time():
    timer = ScriptedTimer(itertools.cycle([1.0, 3.0]))
    config = TimingConfig(
        warmup_runs=0, warmup_s=0.0, min_runs=2, max_time_s=0.05, target_rel_ci=0.001
    )
    stats = time_callable(lambda: None, config, clock=timer.clock, timer=timer)
    assert (stats.stop_reason, stats.n) == ("time_cap", 26)


def test_host_timer_reads_the_clock_around_the_call():
    ticks = iter([100, 350])
    assert HostTimer(lambda: next(ticks)).time_ns(lambda: None) == 250
    assert HostTimer.kind == "host_perf_counter_ns"


def test_median_ci_ranks_by_hand():
    # n = 10: P(B <= 1) = 11/1024 = 0.0107 <= 0.025 < P(B <= 2) = 56/1024: ranks (2, 9).
    assert median_ci_ranks(10) == (2, 9)
    assert median_ci_ranks(5) is None  # [x(1), x(5)] covers only 1 - 2/32 = 93.75 %
    assert median_ci_ranks(6) == (1, 6)  # 1 - 2/64 = 96.9 %
    samples = [10.0, 11.0, 9.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.0]
    # sorted: 9, 9.5, 9.8, 9.9, 10, 10, 10.1, 10.2, 10.5, 11 -> x(2) = 9.5, x(9) = 10.5
    assert median_ci_halfwidth(samples) == pytest.approx((10.5 - 9.5) / 2 / 10.0)


def test_median_ci_covers_the_median_of_a_skewed_distribution():
    rng = np.random.default_rng(0)
    n, trials = 40, 2000
    samples = np.sort(rng.lognormal(0.0, 0.5, size=(trials, n)), axis=1)
    lower, upper = median_ci_ranks(n)
    true_median = 1.0  # exp(mu)
    covered = (samples[:, lower - 1] <= true_median) & (true_median <= samples[:, upper - 1])
    assert 0.95 <= covered.mean() <= 0.985  # conservative: at least the nominal 95 %


class FakeSession(Session):
    """A session whose runs are timed by a scripted timer."""

    model_path = "fake.onnx"

    def __init__(self, timer):
        self._timer = timer
        self.runs = 0

    @property
    def input_specs(self):
        return (InputSpec("x", ("N", 2), np.dtype(np.float32)),)

    def run(self, inputs):
        self.runs += 1
        return [inputs["x"]]

    def close(self):
        pass

    def timer(self):
        return self._timer


def test_profile_session_records_timer_and_flags_unstable(caplog):
    timer = ScriptedTimer(itertools.cycle([1.0, 2.0]))  # CoV ~ 0.33
    session = FakeSession(timer)
    config = TimingConfig(warmup_runs=1, warmup_s=0.0, min_runs=10, max_runs=10)
    with caplog.at_level(logging.WARNING, logger="profilers.profile"):
        stats, info = profile_session(session, config, batch_size=3)
    assert stats.unstable and info["unstable"] is True
    assert caplog.text == ""  # one window's spread is no warning: the campaign's summary is
    with caplog.at_level(logging.DEBUG, logger="profilers.profile"):
        profile_session(FakeSession(ScriptedTimer(itertools.cycle([1.0, 2.0]))), config)
    assert "unstable" in caplog.text and "fake.onnx" in caplog.text
    assert info["timer"] == "scripted" and info["inputs"][0]["timed_shape"] == [3, 2]
    assert info["energy"]["energy_mj"] is None and info["energy"]["reason"]
    assert session.runs == 11


def test_profile_session_stable_result_is_not_flagged(caplog):
    session = FakeSession(ScriptedTimer(itertools.repeat(1.0)))
    config = TimingConfig(warmup_runs=0, warmup_s=0.0, min_runs=10, max_runs=10)
    with caplog.at_level(logging.WARNING, logger="profilers.profile"):
        stats, info = profile_session(session, config)
    assert stats.cov == 0.0 and info["unstable"] is False and caplog.text == ""


def test_profile_session_on_a_gpu_records_the_gpu_state_after_the_runs(monkeypatch):
    import profilers.profile as profile_module

    timer = ScriptedTimer(itertools.repeat(1.0))
    timer.kind = "cuda_events"
    state = {"source": "nvml", "driver": "550", "gpus": [{"temperature_c": 60}], "reason": None}
    monkeypatch.setattr(profile_module, "gpu_fingerprint", lambda: state)
    config = TimingConfig(warmup_runs=0, warmup_s=0.0, min_runs=6, max_runs=6)
    _, info = profile_session(FakeSession(timer), config)
    assert info["gpu"] == state
    _, host_info = profile_session(FakeSession(ScriptedTimer(itertools.repeat(1.0))), config)
    assert "gpu" not in host_info


def test_stopping_rule_library_loads_before_the_timed_window(monkeypatch):
    # scipy.stats takes ~0.3 s to import: inside the window it would eat the time cap.
    from profilers import timing as timing_module

    timer = ScriptedTimer(itertools.repeat(1.0))
    loaded_after_runs = []
    real = timing_module.median_ci_ranks

    def ranks(n, confidence=0.95):
        loaded_after_runs.append(timer.calls)
        return real(n, confidence)

    monkeypatch.setattr(timing_module, "median_ci_ranks", ranks)
    config = TimingConfig(warmup_runs=2, warmup_s=0.0, min_runs=6, max_runs=6)
    time_callable(lambda: None, config, clock=timer.clock, timer=timer)
    assert loaded_after_runs == [2]  # after the 2 warm-up runs, before the first timed one
