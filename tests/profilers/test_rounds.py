"""Rounds: the seeded plan, when a cell gets more rounds, its summary, the unstable threshold."""

import math

import pytest

from profilers import ConfigError, LatencyStats, TimingConfig
from profilers.rounds import (
    RoundsConfig,
    base_plan,
    extra_plan,
    median_interval,
    relative_spread,
    summarize_rounds,
    unstable_threshold,
    wants_more,
)

KEYS = ["a", "b", "c", "d", "e"]


def stats(median, *, n=10, cov=0.0, mean=None, p90=None, p99=None):
    mean = median if mean is None else mean
    return LatencyStats(median, p90 or median, p99 or median, mean, cov, n, "converged")


def test_base_plan_spreads_each_keys_rounds_over_the_campaign_in_a_seeded_order():
    config = RoundsConfig(rounds=3, seed=7)
    plan = base_plan(KEYS, config)
    assert len(plan) == 15 and sorted(plan) == sorted((k, r) for k in KEYS for r in range(3))
    # every key's round r comes before any key's round r + 1
    assert [r for _, r in plan] == [0] * 5 + [1] * 5 + [2] * 5
    assert plan == base_plan(KEYS, config)  # the same seed, the same order
    orders = {tuple(k for k, _ in plan[i : i + 5]) for i in (0, 5, 10)}
    assert len(orders) > 1  # each round is shuffled anew
    assert plan != base_plan(KEYS, RoundsConfig(rounds=3, seed=8))


def test_base_plan_leaves_out_stored_rounds_and_keeps_the_order_of_the_rest():
    config = RoundsConfig(rounds=3, seed=7)
    full = base_plan(KEYS, config)
    done = {"a": [0, 1], "c": [2]}
    rest = base_plan(KEYS, config, done)
    assert rest == [pair for pair in full if pair not in {("a", 0), ("a", 1), ("c", 2)}]


def test_a_cell_gets_more_rounds_when_some_were_disturbed_or_its_rounds_disagree():
    config = RoundsConfig(rounds=3, max_rounds=5, agree_rel=0.05)
    assert wants_more([1.0, 1.01, 0.99], 3, config) == ""
    assert wants_more([1.0, 1.01], 3, config) == "retime"  # one of three was disturbed
    assert wants_more([1.0, 1.3, 0.9], 3, config) == "disagree"  # ±20 % > ±5 %
    assert wants_more([1.0, 1.3, 0.9], 5, config) == ""  # the cap
    plan = extra_plan({"a": "retime", "b": "", "c": "disagree"}, {"a": 3, "c": 4}, config, 1)
    assert sorted(plan) == [("a", 3), ("c", 4)]
    assert plan == extra_plan(
        {"a": "retime", "b": "", "c": "disagree"}, {"a": 3, "c": 4}, config, 1
    )


def test_median_interval_by_hand():
    # n = 5: even [min, max] covers only 1 - 2 / 2**5 = 93.75 % < 95 %: it is given, with that
    low, high, coverage = median_interval([3.0, 1.0, 2.0, 5.0, 4.0])
    assert (low, high) == (1.0, 5.0) and coverage == pytest.approx(0.9375)
    # n = 9: P(B <= 1) = 10 / 512 <= 2.5 %, so [x_(2), x_(8)], coverage 1 - 20/512
    low, high, coverage = median_interval(list(range(1, 10)))
    assert (low, high) == (2.0, 8.0) and coverage == pytest.approx(1 - 20 / 512)
    assert median_interval([2.0]) == (2.0, 2.0, 0.0)
    assert relative_spread([0.9, 1.0, 1.1]) == pytest.approx(0.1)


def test_summary_leaves_out_disturbed_rounds_and_pools_the_spread():
    rounds = [stats(1.0, n=10), stats(3.0, n=10), stats(1.2, n=30), stats(1.1, n=10)]
    latency, summary = summarize_rounds(rounds, [False, True, False, False], retimed=1)
    assert latency.median_ms == pytest.approx(1.1)  # median of 1.0, 1.2, 1.1
    assert latency.n == 50 and latency.stop_reason == "rounds"
    mean = (10 * 1.0 + 30 * 1.2 + 10 * 1.1) / 50
    assert latency.mean_ms == pytest.approx(mean)
    between = (10 * (1.0 - mean) ** 2 + 30 * (1.2 - mean) ** 2 + 10 * (1.1 - mean) ** 2) / 50
    assert latency.cov == pytest.approx(math.sqrt(between) / mean)  # no spread inside rounds
    assert (summary.rounds, summary.rounds_kept, summary.disturbed_rounds) == (4, 3, 1)
    assert summary.retimed_rounds == 1 and summary.unstable is None
    assert (summary.ci_low_ms, summary.ci_high_ms) == (1.0, 1.2)
    assert summary.ci_confidence == pytest.approx(0.75)
    # every round disturbed: the cell still gets a latency, from all of them
    latency, summary = summarize_rounds(rounds[:2], [True, True])
    assert latency.median_ms == pytest.approx(2.0) and summary.rounds_kept == 2


def test_unstable_threshold_comes_from_the_campaigns_disagreement_not_a_fixed_cov():
    config = RoundsConfig(agree_rel=0.05, outlier_mads=3.0, unstable_cap=0.5)
    # a quiet campaign: rounds agree within 1-2 %; nothing is flagged below agree_rel
    quiet = [0.01, 0.012, 0.015, 0.011, 0.02, 0.013]
    assert unstable_threshold(quiet, config) == 0.05
    # a campaign where every cell spreads by about 20 %: only the real outlier stands out
    noisy = [0.18, 0.2, 0.22, 0.19, 0.21, 0.6]
    # median 0.205; absolute deviations' median 0.015; 0.205 + 3 * 1.4826 * 0.015
    assert unstable_threshold(noisy, config) == pytest.approx(0.205 + 3 * 1.4826 * 0.015)
    assert 0.22 < unstable_threshold(noisy, config) < 0.6  # only the real outlier is flagged
    assert unstable_threshold([], config) == 0.05
    # a campaign where every cell spreads widely: the cap still flags beyond ±25 %
    wild = [0.5, 0.9, 1.4, 2.2, 0.7]
    assert unstable_threshold(wild, RoundsConfig(unstable_cap=0.25)) == 0.25


def test_round_timing_shares_the_cells_budget_among_rounds():
    timing = TimingConfig(warmup_runs=10, warmup_s=0.2, min_runs=20, max_runs=1000, max_time_s=2)
    round_timing = RoundsConfig(rounds=5).round_timing(timing)
    assert round_timing.max_time_s == pytest.approx(0.4)
    # a fresh session per round, warmed up by run count: the rounds keep the device warm
    assert (round_timing.warmup_runs, round_timing.warmup_s) == (20, 0.0)
    assert (round_timing.min_runs, round_timing.max_runs) == (20, 200)
    # the median over 5 rounds is about sqrt(5) tighter than one round's: each round stops
    # at that much wider an interval
    assert round_timing.target_rel_ci == pytest.approx(0.01 * 5**0.5)
    assert RoundsConfig(rounds=1).round_timing(timing) == timing  # one round: the cell's timing


@pytest.mark.parametrize(
    "kwargs",
    [{"rounds": 0}, {"rounds": 5, "max_rounds": 4}, {"agree_rel": 0}, {"confidence": 1.0}],
)
def test_rounds_config_refuses_bad_values(kwargs):
    with pytest.raises(ConfigError, match="RoundsConfig"):
        RoundsConfig(**kwargs)


def test_rounds_config_round_trips_through_json_data():
    config = RoundsConfig(rounds=3, max_rounds=4, seed=2)
    assert RoundsConfig.from_dict(config.to_dict()) == config
    assert RoundsConfig.from_dict(RoundsConfig(probe=None).to_dict()).probe is None
