"""Latency statistics: robust summaries and a distribution-free confidence interval for the median.

Latency distributions are skewed with a long right tail (interrupts, frequency changes), so the
median is the reported latency and its precision is judged by an order-statistic confidence
interval, which assumes nothing about the distribution's shape (Hahn & Meeker, *Statistical
Intervals*, 1991, sec. 5.2; the same interval as ``scipy.stats.quantile_test``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from profilers.errors import ConfigError

STOP_CONVERGED = "converged"
STOP_TIME_CAP = "time_cap"
STOP_MAX_RUNS = "max_runs"
STOP_REASONS = (STOP_CONVERGED, STOP_TIME_CAP, STOP_MAX_RUNS)

UNSTABLE_COV = 0.025  # coefficient of variation above which a measurement is flagged unstable


@dataclass(frozen=True)
class LatencyStats:
    """Summary of repeated latency samples of one model on one device.

    Attributes:
        median_ms: Median latency, the reported figure.
        p90_ms: 90th percentile (linear interpolation between order statistics).
        p99_ms: 99th percentile.
        mean_ms: Arithmetic mean.
        cov: Coefficient of variation, sample standard deviation over the mean.
        n: Number of timed runs (warm-up excluded).
        stop_reason: What ended the timing: ``"converged"`` (the median's confidence interval
            met the target), ``"time_cap"`` or ``"max_runs"``.
    """

    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    cov: float
    n: int
    stop_reason: str

    def __post_init__(self) -> None:
        for name in ("median_ms", "p90_ms", "p99_ms", "mean_ms", "cov"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise ConfigError(f"LatencyStats.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"LatencyStats.{name} must be finite and >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ConfigError(f"LatencyStats.n must be an integer >= 1, got {self.n!r}")
        object.__setattr__(self, "n", int(self.n))
        tol = 1e-9 * max(1.0, self.p99_ms)
        if self.p90_ms < self.median_ms - tol or self.p99_ms < self.p90_ms - tol:
            raise ConfigError(
                "LatencyStats percentiles must satisfy median_ms <= p90_ms <= p99_ms, got "
                f"{self.median_ms}, {self.p90_ms}, {self.p99_ms}"
            )
        if not isinstance(self.stop_reason, str) or not self.stop_reason:
            raise ConfigError(
                f"LatencyStats.stop_reason must be a non-empty string such as "
                f"{list(STOP_REASONS)}, got {self.stop_reason!r}"
            )

    @property
    def unstable(self) -> bool:
        """Whether the run-to-run spread is too large to trust the median (cov > 0.025)."""
        return self.cov > UNSTABLE_COV

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyStats:
        """Build stats from a mapping with exactly the fields of ``to_dict``."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ConfigError(
                f"LatencyStats.from_dict: missing keys {missing}, unknown keys {unknown}; "
                f"expected exactly {names}"
            )
        return cls(**{name: data[name] for name in names})


def _as_samples(samples_ms: Sequence[float] | np.ndarray) -> np.ndarray:
    samples = np.asarray(samples_ms, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(
            f"expected a non-empty 1-D sequence of latency samples, got shape {samples.shape}"
        )
    if not np.all(np.isfinite(samples)) or np.any(samples < 0):
        raise ValueError("latency samples must be finite and >= 0")
    return samples


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """Return 1-based ranks ``(l, u)`` of the order statistics bounding a median CI.

    The interval ``[x_(l), x_(u)]`` with ``u = n + 1 - l`` covers the population median with
    probability ``1 - 2 * P(B <= l - 1)``, ``B ~ Binomial(n, 1/2)``; ``l`` is the largest rank
    keeping that coverage >= ``confidence``. Returns None when even ``[x_(1), x_(n)]`` is too
    short a sample for that confidence (n < 6 at 95 %).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n < 1:
        return None
    from scipy.stats import binom  # lazy: scipy.stats costs ~0.3 s to import

    tail = (1.0 - confidence) / 2.0
    j = int(binom.ppf(tail, n, 0.5))  # smallest j with P(B <= j) >= tail
    if binom.cdf(j, n, 0.5) > tail * (1 + 1e-12):
        j -= 1  # largest j with P(B <= j) <= tail
    if j < 0:
        return None
    return j + 1, n - j


def median_ci_halfwidth(
    samples_ms: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> float:
    """Return the half-width of the median's order-statistic CI relative to the median.

    ``(x_(u) - x_(l)) / 2 / median``; ``inf`` when the sample is too small for the confidence
    (see ``median_ci_ranks``) or the median is 0 with a non-zero spread.
    """
    samples = np.sort(_as_samples(samples_ms))
    ranks = median_ci_ranks(samples.size, confidence)
    if ranks is None:
        return math.inf
    lower, upper = samples[ranks[0] - 1], samples[ranks[1] - 1]
    spread = float(upper - lower)
    median = float(np.median(samples))
    if median == 0.0:
        return 0.0 if spread == 0.0 else math.inf
    return spread / 2.0 / median


def summarize(samples_ms: Sequence[float] | np.ndarray, stop_reason: str) -> LatencyStats:
    """Summarise latency samples (milliseconds) into ``LatencyStats``.

    The coefficient of variation uses the sample standard deviation (``ddof=1``), so at least
    two samples are needed.
    """
    samples = _as_samples(samples_ms)
    if samples.size < 2:
        raise ValueError(
            f"summarize() needs at least 2 latency samples to estimate their spread, "
            f"got {samples.size}; time more runs"
        )
    mean = float(samples.mean())
    cov = float(samples.std(ddof=1)) / mean if mean > 0 else 0.0
    p50, p90, p99 = np.percentile(samples, [50.0, 90.0, 99.0])
    return LatencyStats(
        median_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        mean_ms=mean,
        cov=cov,
        n=int(samples.size),
        stop_reason=stop_reason,
    )
