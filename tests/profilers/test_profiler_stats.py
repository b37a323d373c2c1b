"""Latency statistics against cases worked by hand."""

import math

import numpy as np
import pytest

from profilers import ConfigError, LatencyStats, median_ci_halfwidth, summarize
from profilers.stats import median_ci_ranks


def test_summarize_four_samples_by_hand():
    # mean 2.5; sample variance ((1.5^2 + 0.5^2) * 2) / 3 = 5/3; cov = sqrt(5/3) / 2.5.
    # Percentiles interpolate linearly over ranks 0..3: p90 at rank 2.7 -> 3.7, p99 at 2.97.
    stats = summarize([4.0, 1.0, 3.0, 2.0], "max_runs")
    assert stats.median_ms == pytest.approx(2.5)
    assert stats.mean_ms == pytest.approx(2.5)
    assert stats.p90_ms == pytest.approx(3.7)
    assert stats.p99_ms == pytest.approx(3.97)
    assert stats.cov == pytest.approx(math.sqrt(5 / 3) / 2.5)
    assert stats.n == 4
    assert stats.stop_reason == "max_runs"
    assert stats.unstable  # cov 0.516 > 0.025


def test_summarize_constant_samples_is_stable():
    stats = summarize([2.0] * 10, "converged")
    assert (stats.median_ms, stats.p90_ms, stats.p99_ms, stats.cov) == (2.0, 2.0, 2.0, 0.0)
    assert not stats.unstable


def test_unstable_threshold():
    base = dict(median_ms=1.0, p90_ms=1.0, p99_ms=1.0, mean_ms=1.0, n=5, stop_reason="converged")
    assert not LatencyStats(cov=0.025, **base).unstable
    assert LatencyStats(cov=0.0251, **base).unstable


@pytest.mark.parametrize("bad", [[], [1.0], [1.0, float("nan")], [1.0, -2.0], [[1.0, 2.0]]])
def test_summarize_rejects_bad_samples(bad):
    with pytest.raises(ValueError):
        summarize(bad, "converged")


@pytest.mark.parametrize(
    ("n", "ranks"),
    [
        (5, None),  # P(B=0) = 1/32 = 0.031 > 0.025: even [x1, x5] covers only 93.75 %
        (6, (1, 6)),  # P(B=0) = 1/64 = 0.0156 <= 0.025 < P(B<=1) = 7/64
        (10, (2, 9)),  # P(B<=1) = 11/1024 = 0.0107 <= 0.025 < P(B<=2) = 56/1024 = 0.0547
        (20, (6, 15)),  # P(B<=5) = 0.0207 <= 0.025 < P(B<=6) = 0.0577
    ],
)
def test_median_ci_ranks_by_hand(n, ranks):
    assert median_ci_ranks(n, 0.95) == ranks


def test_median_ci_ranks_lower_confidence_is_narrower():
    # 90 %: tail 0.05; P(B<=2) = 56/1024 = 0.0547 > 0.05, so still (2, 9) at n = 10;
    # at n = 11, P(B<=2) = 67/2048 = 0.0327 <= 0.05 < P(B<=3) = 0.113 -> (3, 9).
    assert median_ci_ranks(10, 0.90) == (2, 9)
    assert median_ci_ranks(11, 0.90) == (3, 9)


def test_median_ci_halfwidth_by_hand():
    # n = 6: CI [x1, x6] = [1, 6], median 3.5 -> (6 - 1) / 2 / 3.5.
    assert median_ci_halfwidth([6, 1, 5, 2, 4, 3]) == pytest.approx(5 / 2 / 3.5)
    # n = 10: CI [x2, x9] = [2, 9], median 5.5 -> 7 / 2 / 5.5.
    assert median_ci_halfwidth(np.arange(1, 11)) == pytest.approx(7 / 2 / 5.5)
    # n = 5 is too short for 95 %.
    assert median_ci_halfwidth([1, 2, 3, 4, 5]) == math.inf
    # identical samples: zero width, even at median 0.
    assert median_ci_halfwidth([3.0] * 8) == 0.0
    assert median_ci_halfwidth([0.0] * 8) == 0.0


def test_median_ci_halfwidth_shrinks_with_n():
    rng = np.random.default_rng(0)
    samples = 1.0 + rng.exponential(0.1, size=2000)
    wide = median_ci_halfwidth(samples[:50])
    narrow = median_ci_halfwidth(samples)
    assert narrow < wide / 4  # ~ 1 / sqrt(n): sqrt(2000 / 50) = 6.3


def test_median_ci_rejects_bad_confidence():
    with pytest.raises(ValueError, match="confidence"):
        median_ci_halfwidth([1, 2, 3, 4, 5, 6], confidence=1.0)


def test_latency_stats_round_trip_and_validation():
    stats = summarize([1.0, 1.1, 1.2, 1.3, 5.0], "time_cap")
    assert LatencyStats.from_dict(stats.to_dict()) == stats
    with pytest.raises(ConfigError, match="unknown keys"):
        LatencyStats.from_dict({**stats.to_dict(), "min_ms": 1.0})
    with pytest.raises(ConfigError, match="median_ms <= p90_ms <= p99_ms"):
        LatencyStats(2.0, 1.0, 3.0, 2.0, 0.1, 5, "converged")
    with pytest.raises(ConfigError, match="n must"):
        LatencyStats(1.0, 1.0, 1.0, 1.0, 0.0, 0, "converged")
    with pytest.raises(ConfigError, match="stop_reason"):
        LatencyStats(1.0, 1.0, 1.0, 1.0, 0.0, 3, "")
    with pytest.raises(ConfigError, match="finite"):
        LatencyStats(1.0, 1.0, math.inf, 1.0, 0.0, 3, "converged")
