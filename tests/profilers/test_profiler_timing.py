"""Timing loop: warm-up rule, stopping rules and the statistics of what it timed."""

import itertools

import pytest

from profilers import ConfigError, TimingConfig, summarize, time_callable
from profilers import timing as timing_module

MS = 1_000_000


class FakeWork:
    """A fake clock plus a callable that advances it by scripted durations (ms)."""

    def __init__(self, durations_ms):
        self.now_ns = 0
        self.calls = 0
        self._durations = iter(durations_ms)

    def clock(self):
        return self.now_ns

    def __call__(self):
        self.calls += 1
        self.now_ns += int(next(self._durations) * MS)


def config(**kw):
    base = dict(warmup_runs=0, warmup_s=0.0, min_runs=6, max_runs=1000, max_time_s=100.0)
    return TimingConfig(**{**base, **kw})


def test_stats_are_those_of_the_timed_runs():
    work = FakeWork([50.0, 50.0, 4.0, 1.0, 3.0, 2.0])  # two warm-up runs, then four timed
    stats = time_callable(work, config(warmup_runs=2, min_runs=4, max_runs=4), clock=work.clock)
    assert stats == summarize([4.0, 1.0, 3.0, 2.0], "max_runs")  # n = 4 is too few to converge


def test_constant_latency_converges_at_min_runs():
    work = FakeWork(itertools.repeat(2.0))
    stats = time_callable(work, config(min_runs=6), clock=work.clock)
    assert (stats.stop_reason, stats.n, stats.median_ms, stats.cov) == ("converged", 6, 2.0, 0.0)


def test_converges_once_noise_subsides():
    durations = itertools.chain([1.0, 3.0] * 10, itertools.repeat(2.0))
    work = FakeWork(durations)
    stats = time_callable(work, config(min_runs=20, target_rel_ci=0.01), clock=work.clock)
    assert stats.stop_reason == "converged"
    assert 20 < stats.n < 200
    assert stats.median_ms == 2.0


@pytest.mark.parametrize(
    ("warmup_runs", "warmup_s", "expected_warmup_calls"),
    [
        (2, 0.05, 5),  # time rules: 10 ms runs until 50 ms have passed
        (10, 0.01, 10),  # count rules
        (0, 0.0, 0),
    ],
)
def test_warmup_lasts_until_both_count_and_time(warmup_runs, warmup_s, expected_warmup_calls):
    work = FakeWork(itertools.repeat(10.0))
    stats = time_callable(
        work, config(warmup_runs=warmup_runs, warmup_s=warmup_s, min_runs=6), clock=work.clock
    )
    assert stats.n == 6
    assert work.calls == expected_warmup_calls + 6


def test_time_cap_stops_noisy_timing():
    # Runs alternate 1 and 3 ms: after 26 runs 52 ms >= 50 ms have passed.
    work = FakeWork(itertools.cycle([1.0, 3.0]))
    stats = time_callable(
        work, config(min_runs=2, max_time_s=0.05, target_rel_ci=0.001), clock=work.clock
    )
    assert (stats.stop_reason, stats.n) == ("time_cap", 26)


def test_min_runs_are_done_even_past_the_time_cap():
    work = FakeWork(itertools.repeat(100.0))
    stats = time_callable(work, config(min_runs=5, max_time_s=0.01), clock=work.clock)
    assert (stats.stop_reason, stats.n) == ("time_cap", 5)


def test_max_runs_stops_noisy_timing():
    work = FakeWork(itertools.cycle([1.0, 3.0]))
    stats = time_callable(work, config(max_runs=40, target_rel_ci=0.001), clock=work.clock)
    assert (stats.stop_reason, stats.n) == ("max_runs", 40)


def test_stopping_rule_is_checked_every_so_often(monkeypatch):
    checked_at = []

    def counting(samples, confidence=0.95):
        checked_at.append(len(samples))
        return 1.0  # never converged

    monkeypatch.setattr(timing_module, "median_ci_halfwidth", counting)
    work = FakeWork(itertools.repeat(1.0))
    stats = time_callable(work, config(min_runs=20, max_runs=200), clock=work.clock)
    assert stats.n == 200
    assert checked_at[0] == 20
    steps = [b - a for a, b in itertools.pairwise(checked_at[:-1])]
    assert all(step >= 5 for step in steps) and steps[-1] >= 10  # ~10 % growth
    assert len(checked_at) < 30


def test_times_a_real_callable():
    stats = time_callable(
        lambda: sum(range(2000)),
        TimingConfig(warmup_runs=3, warmup_s=0.0, min_runs=10, max_runs=300, max_time_s=0.5),
    )
    assert 10 <= stats.n <= 300
    assert 0 < stats.median_ms < 50
    assert stats.stop_reason in {"converged", "time_cap", "max_runs"}


def test_timing_config_round_trip_and_defaults():
    cfg = TimingConfig()
    assert cfg.to_dict() == {
        "warmup_runs": 10,
        "warmup_s": 0.2,
        "min_runs": 20,
        "max_runs": 2000,
        "max_time_s": 5.0,
        "target_rel_ci": 0.01,
    }
    assert TimingConfig.from_dict(cfg.to_dict()) == cfg
    assert TimingConfig.from_dict({"min_runs": 7}).min_runs == 7
    with pytest.raises(ConfigError, match="unknown keys"):
        TimingConfig.from_dict({"runs": 7})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_runs": 1}, "min_runs"),
        ({"min_runs": 50, "max_runs": 40}, "max_runs"),
        ({"max_time_s": 0}, "max_time_s"),
        ({"target_rel_ci": 0}, "target_rel_ci"),
        ({"target_rel_ci": float("nan")}, "target_rel_ci"),
        ({"warmup_runs": -1}, "warm-up"),
        ({"warmup_runs": 2.5}, "warmup_runs"),
        ({"min_runs": True}, "min_runs"),
    ],
)
def test_timing_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TimingConfig(**kwargs)


class ScriptedGate:
    """A gate that looks every `interval_ms` and answers from a script (True: quiet)."""

    def __init__(self, answers, interval_ms=10.0, min_looks=1, min_share=0.0):
        self.answers = iter(answers)
        self.interval_ns = int(interval_ms * MS)
        self.min_looks = min_looks
        self.min_share = min_share
        self.looks = 0
        self.recorded = None

    def quiet(self):
        self.looks += 1
        return next(self.answers)

    def record(self, kept, timed, enough):
        self.recorded = (kept, timed, enough)


def test_a_gate_keeps_only_the_runs_between_two_quiet_looks():
    # runs of 2 ms while quiet, 6 ms in a slow spell; a look every 10 ms (5 quiet runs)
    durations = [2.0] * 6 + [6.0] * 3 + [2.0] * 100  # one warm run after each look, too
    work = FakeWork(durations)
    gate = ScriptedGate([True, True, False, True] + [True] * 50, min_looks=1)
    stats = time_callable(work, config(min_runs=10, max_runs=10), clock=work.clock, gate=gate)
    # the segment before the slow look and the one after it are both left out
    assert stats.mean_ms == 2.0 and stats.n == 10  # not one of the 6 ms runs
    kept, timed, enough = gate.recorded
    assert kept == 10 and timed > kept and enough


def test_a_gate_that_never_sees_quiet_reports_every_run():
    work = FakeWork(itertools.repeat(3.0))
    gate = ScriptedGate(itertools.repeat(False))
    stats = time_callable(work, config(min_runs=6, max_time_s=0.2), clock=work.clock, gate=gate)
    kept, timed, enough = gate.recorded
    assert kept == 0 and not enough and stats.n == timed >= 6  # all of them, and said so


def test_a_gated_timing_converges_no_sooner_than_its_min_looks():
    work = FakeWork(itertools.repeat(1.0))
    gate = ScriptedGate(itertools.repeat(True), interval_ms=5.0, min_looks=4)
    stats = time_callable(work, config(min_runs=6), clock=work.clock, gate=gate)
    assert stats.stop_reason == "converged" and gate.looks >= 4 and stats.n >= 15


def test_a_gated_round_is_disturbed_by_its_gate_not_its_windows():
    from profilers.round_timing import disturbed_round

    assert disturbed_round(1.6, 1.25, {"enough": True}) is False  # slow windows, quiet runs
    assert disturbed_round(1.0, 1.25, {"enough": False}) is True
    assert disturbed_round(1.6, 1.25, None) is True  # no gate: the windows decide
    assert disturbed_round(1.1, 1.25) is False


def test_a_gated_timing_waits_out_a_slow_spell_until_enough_of_its_runs_are_quiet():
    work = FakeWork(itertools.repeat(1.0))
    # quiet, then six slow looks, then quiet again: it goes on until half its runs are kept
    gate = ScriptedGate([True, True] + [False] * 6 + [True] * 200, interval_ms=5.0, min_share=0.5)
    time_callable(work, config(min_runs=6), clock=work.clock, gate=gate)
    kept, timed, _ = gate.recorded
    assert kept >= 0.5 * timed and gate.looks > 8
