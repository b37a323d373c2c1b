"""Rounds: a cell is timed in several short rounds spread over a campaign, not in one window.

Slow spells on a shared machine last from seconds to minutes, so one timing window can be
slowed as a whole (a low spread inside the window, a wrong median) and no stopping rule can
tell. A campaign therefore times every cell in ``rounds`` short rounds, in a seeded shuffled
order that spreads each cell's rounds over the whole campaign; the cell's latency is the
median of its round medians, with a distribution-free confidence interval (the order
statistics of Hahn & Meeker, *Statistical Intervals*, 1991, sec. 5.2, as in
``profilers.stats``). Rounds whose disturbance probe ran slow are left out and timed again
later; a cell whose rounds disagree gets more rounds, within a time cap.

This module holds the pure parts: the configuration, the plan of rounds, the summary of a
cell's rounds and the campaign's "unstable" threshold. ``profilers.campaign`` runs them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from profilers.errors import ConfigError
from profilers.probe import ProbeConfig
from profilers.stats import LatencyStats, median_ci_ranks
from profilers.timing import TimingConfig

STOP_ROUNDS = "rounds"
"""``LatencyStats.stop_reason`` of a cell summarised from its rounds."""

MAD_SCALE = 1.4826  # the median absolute deviation times this estimates a normal sigma


@dataclass(frozen=True)
class RoundsConfig:
    """How many rounds a cell gets, and when it gets more.

    Attributes:
        rounds: Rounds every cell is timed in. The campaign's per-cell timing budget
            (``TimingConfig.max_time_s``, warm-up and run caps) is shared among them.
        max_rounds: Rounds a cell may get in all, re-timed and extra ones included.
        agree_rel: Rounds agree when the confidence interval of their median is within
            ``± agree_rel`` of it; a cell whose rounds disagree gets more rounds.
        confidence: Coverage of the interval of the median over rounds (with few rounds the
            widest interval, ``[min, max]``, and its smaller coverage are reported).
        extra_time_fraction: Extra and re-timed rounds may take at most this fraction of the
            wall time the campaign's base rounds took.
        outlier_mads: A cell is flagged unstable when its rounds' relative spread exceeds
            both ``agree_rel`` and the campaign's median spread plus this many (scaled)
            median absolute deviations of the spreads.
        unstable_cap: ... and always when it exceeds this spread, however widely the whole
            campaign disagrees.
        seed: Seed of the shuffled order of rounds (the same seed, the same order, so a
            resumed campaign continues the same plan).
        probe: The disturbance probe timed beside each round; None times no probe.
        speed_anchor: Scale each round to the machine setting's speed anchor
            (`profilers.speed`: the probe's median time in the setting's first campaign), so
            that campaigns minutes apart report the same latencies; needs the probe.
    """

    rounds: int = 5
    max_rounds: int = 9
    agree_rel: float = 0.05
    confidence: float = 0.95
    extra_time_fraction: float = 0.3
    outlier_mads: float = 3.0
    unstable_cap: float = 0.25
    seed: int = 0
    probe: ProbeConfig | None = field(default_factory=ProbeConfig)
    speed_anchor: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.speed_anchor, bool):
            raise ConfigError(
                f"RoundsConfig.speed_anchor must be True or False, got {self.speed_anchor!r}"
            )
        for name in ("rounds", "max_rounds", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"RoundsConfig.{name} must be an integer, got {value!r}")
        if self.rounds < 1:
            raise ConfigError(f"RoundsConfig.rounds must be >= 1, got {self.rounds}")
        if self.max_rounds < self.rounds:
            raise ConfigError(
                f"RoundsConfig.max_rounds ({self.max_rounds}) must be >= rounds ({self.rounds})"
            )
        for name in (
            "agree_rel",
            "confidence",
            "extra_time_fraction",
            "outlier_mads",
            "unstable_cap",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"RoundsConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"RoundsConfig.{name} must be finite and >= 0, got {value!r}")
        if not 0 < self.agree_rel < 1:
            raise ConfigError(f"RoundsConfig.agree_rel must be in (0, 1), got {self.agree_rel}")
        if not 0 < self.confidence < 1:
            raise ConfigError(
                f"RoundsConfig.confidence must be in (0, 1), e.g. 0.95, got {self.confidence}"
            )
        if self.probe is not None and not isinstance(self.probe, ProbeConfig):
            raise ConfigError(
                f"RoundsConfig.probe must be a ProbeConfig or None, got {self.probe!r}"
            )

    def round_timing(self, timing: TimingConfig) -> TimingConfig:
        """Return one round's timing: the cell's time, warm-up and run caps split over rounds.

        A round also converges at ``sqrt(rounds)`` times the cell's ``target_rel_ci``: the
        median over the rounds is about that much tighter than one round's, so each round
        needs only its share of the runs, and a round that went on to the cell's own target
        would spend the time the rounds are meant to spread over the campaign.

        A round warms its fresh session up by run count (twice the cell's warm-up runs: a
        session's first runs are slow, by 1.1-1.8x on ONNX Runtime, and within a few percent
        after ten), not by time: the rounds run back to back, so the device stays warm, and
        a share of the cell's warm-up time in every round was half of a 40-cell campaign's
        wall time on the 2-core VM (0.04 s is over 100 runs of a small cell).
        """
        if self.rounds == 1:
            return timing
        min_runs = timing.min_runs
        return replace(
            timing,
            warmup_runs=2 * timing.warmup_runs,
            warmup_s=0.0,
            max_runs=max(min_runs, timing.max_runs // self.rounds),
            max_time_s=timing.max_time_s / self.rounds,
            target_rel_ci=min(0.5, timing.target_rel_ci * math.sqrt(self.rounds)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON data."""
        data = asdict(self)
        data["probe"] = None if self.probe is None else self.probe.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoundsConfig:
        """Build a config from ``to_dict`` output; missing keys take their defaults."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"RoundsConfig.from_dict: unknown keys {unknown}")
        data = dict(data)
        if data.get("probe") is not None:
            data["probe"] = ProbeConfig.from_dict(data["probe"])
        return cls(**data)


@dataclass(frozen=True)
class RoundsSummary:
    """What a cell's rounds say: how many, how many disturbed, the interval, the flag.

    Attributes:
        rounds: Rounds timed.
        rounds_kept: Rounds the latency rests on (the undisturbed ones; all of them when
            every round was disturbed).
        disturbed_rounds: Rounds whose probe ran slow beyond the threshold.
        retimed_rounds: Rounds timed again because an earlier one was disturbed.
        ci_low_ms: Lower end of the interval of the median over the kept rounds.
        ci_high_ms: Upper end.
        ci_confidence: Coverage of that interval.
        round_spread: Half-width of the interval relative to the median: how much the kept
            rounds disagree.
        unstable: Whether the campaign flagged the cell (None until the campaign decides).
    """

    rounds: int
    rounds_kept: int
    disturbed_rounds: int
    retimed_rounds: int
    ci_low_ms: float
    ci_high_ms: float
    ci_confidence: float
    round_spread: float
    unstable: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON data."""
        return asdict(self)


def median_interval(
    values: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """Return ``(low, high, coverage)``: an order-statistic interval of the median of ``values``.

    The interval is the narrowest symmetric one ``[x_(l), x_(n+1-l)]`` whose coverage
    ``1 - 2 P(B <= l - 1)``, ``B ~ Binomial(n, 1/2)``, is at least ``confidence``; with too
    few values for that it is ``[min, max]``, whose coverage ``1 - 2 ** (1 - n)`` is returned.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0:
        raise ValueError("median_interval() needs at least one value")
    n = int(x.size)
    ranks = median_ci_ranks(n, confidence)
    lower = 1 if ranks is None else ranks[0]
    coverage = 1.0 - 2.0 * _binom_cdf(lower - 1, n)
    return float(x[lower - 1]), float(x[n - lower]), coverage


def _binom_cdf(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2), exactly."""
    if k < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n


def relative_spread(values: Sequence[float], confidence: float = 0.95) -> float:
    """Return the half-width of ``median_interval`` relative to the median (0 for one value)."""
    low, high, _ = median_interval(values, confidence)
    median = float(np.median(values))
    if median <= 0:
        return 0.0 if high == low else math.inf
    return (high - low) / 2.0 / median


def summarize_rounds(
    rounds: Sequence[LatencyStats],
    disturbed: Sequence[bool],
    *,
    retimed: int = 0,
    confidence: float = 0.95,
) -> tuple[LatencyStats, RoundsSummary]:
    """Combine a cell's rounds into its latency statistics and its ``RoundsSummary``.

    The median is the median of the kept rounds' medians; p90 and p99 are the medians of
    theirs (kept at or above the median); the mean is run-weighted and the CoV pools the
    spread within and between rounds; ``n`` counts every kept timed run.
    """
    if not rounds or len(rounds) != len(disturbed):
        raise ValueError("summarize_rounds() needs one disturbed flag per round, and a round")
    kept = [r for r, bad in zip(rounds, disturbed, strict=True) if not bad] or list(rounds)
    medians = [r.median_ms for r in kept]
    median = float(np.median(medians))
    p90 = max(median, float(np.median([r.p90_ms for r in kept])))
    p99 = max(p90, float(np.median([r.p99_ms for r in kept])))
    runs = np.array([r.n for r in kept], dtype=np.float64)
    means = np.array([r.mean_ms for r in kept])
    mean = float((runs * means).sum() / runs.sum())
    within = (runs * (np.array([r.cov for r in kept]) * means) ** 2).sum()
    between = (runs * (means - mean) ** 2).sum()
    cov = math.sqrt((within + between) / runs.sum()) / mean if mean > 0 else 0.0
    stats = LatencyStats(median, p90, p99, mean, cov, int(runs.sum()), STOP_ROUNDS)
    low, high, coverage = median_interval(medians, confidence)
    summary = RoundsSummary(
        rounds=len(rounds),
        rounds_kept=len(kept),
        disturbed_rounds=int(sum(bool(b) for b in disturbed)),
        retimed_rounds=retimed,
        ci_low_ms=low,
        ci_high_ms=high,
        ci_confidence=coverage,
        round_spread=relative_spread(medians, confidence),
    )
    return stats, summary


def base_plan(
    keys: Sequence[str], config: RoundsConfig, done: Mapping[str, Iterable[int]] | None = None
) -> list[tuple[str, int]]:
    """Return the ``(key, round)`` pairs of the base rounds still to time, in campaign order.

    Round ``r`` of every key comes in a seeded shuffled order before round ``r + 1`` of any,
    so each key's rounds are spread over the whole campaign; pairs in ``done`` (stored by an
    earlier run) are left out, and the rest keep the order they had.
    """
    done_sets = {key: set(rounds) for key, rounds in (done or {}).items()}
    rng = np.random.default_rng(config.seed)
    plan = []
    for r in range(config.rounds):
        for i in rng.permutation(len(keys)):
            key = keys[int(i)]
            if r not in done_sets.get(key, ()):
                plan.append((key, r))
    return plan


def wants_more(medians_kept: Sequence[float], rounds_timed: int, config: RoundsConfig) -> str:
    """Say why a cell needs one more round: ``"retime"``, ``"disagree"``, or ``""`` for none.

    A cell with fewer kept rounds than ``config.rounds`` (disturbed ones left out) is timed
    again; one whose kept rounds disagree by more than ``agree_rel`` gets another round; no
    cell goes past ``max_rounds``.
    """
    if rounds_timed >= config.max_rounds:
        return ""
    if len(medians_kept) < config.rounds:
        return "retime"
    if relative_spread(medians_kept, config.confidence) > config.agree_rel:
        return "disagree"
    return ""


def extra_plan(
    reasons: Mapping[str, str], next_round: Mapping[str, int], config: RoundsConfig, pass_no: int
) -> list[tuple[str, int]]:
    """Return one more round of every key with a reason, shuffled with the pass's own seed."""
    keys = [key for key, reason in reasons.items() if reason]
    rng = np.random.default_rng([config.seed, pass_no])
    return [(keys[int(i)], next_round[keys[int(i)]]) for i in rng.permutation(len(keys))]


def unstable_threshold(spreads: Iterable[float], config: RoundsConfig) -> float:
    """Return the round spread above which a campaign flags a cell unstable.

    The disagreement between rounds decides, not a fixed CoV: a cell is an outlier when its
    spread exceeds the campaign's median spread by ``outlier_mads`` scaled median absolute
    deviations, and rounds that agree within ``agree_rel`` are never flagged; a spread beyond
    ``unstable_cap`` is flagged even in a campaign where most cells spread that much.
    """
    values = np.array([s for s in spreads if math.isfinite(s)], dtype=np.float64)
    if values.size == 0:
        return config.agree_rel
    centre = float(np.median(values))
    mad = float(np.median(np.abs(values - centre))) * MAD_SCALE
    robust = max(config.agree_rel, centre + config.outlier_mads * mad)
    return min(robust, max(config.agree_rel, config.unstable_cap))
