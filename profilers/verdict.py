"""Budget verdicts with a confidence: yes, no or undecided from the interval of the median.

One timing window can be slowed 2.5x by a slow spell on a shared machine, so "within budget"
is judged from several rounds: the distribution-free interval of the median over rounds
(``profilers.rounds.median_interval``) lies wholly within the budget (yes), wholly above it
(no), or straddles it (undecided). An undecided verdict gets more rounds until it is decided
or ``max_rounds`` is reached, and the verdict says which happened. A shipped file is timed for
its verdict by `profilers.verify.time_shipped`, as a profile times a cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from profilers.errors import ConfigError
from profilers.rounds import median_interval

YES, NO, UNDECIDED = "yes", "no", "undecided"
DECIDED = "decided"
DECIDED_AFTER_MORE = "decided_after_more_rounds"
CAP_REACHED = "round_cap_reached"


@dataclass(frozen=True)
class VerdictConfig:
    """How many rounds a budget verdict rests on.

    Attributes:
        rounds: Rounds timed before deciding.
        max_rounds: Cap on rounds while the verdict is undecided.
        confidence: Coverage asked of the interval of the median over rounds.
    """

    rounds: int = 5
    max_rounds: int = 15
    confidence: float = 0.95

    def __post_init__(self) -> None:
        for name in ("rounds", "max_rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"VerdictConfig.{name} must be an integer >= 1, got {value!r}")
        if self.max_rounds < self.rounds:
            raise ConfigError(
                f"VerdictConfig.max_rounds ({self.max_rounds}) must be >= rounds ({self.rounds})"
            )
        if not 0 < self.confidence < 1:
            raise ConfigError(f"VerdictConfig.confidence must be in (0, 1), got {self.confidence}")


@dataclass(frozen=True)
class BudgetVerdict:
    """Whether a latency is within a budget, with the interval it rests on.

    Attributes:
        verdict: ``"yes"``, ``"no"`` or ``"undecided"``.
        budget_ms: The budget.
        median_ms: Median over the rounds.
        ci_low_ms: Lower end of the interval of that median.
        ci_high_ms: Upper end.
        confidence: Coverage of the interval actually achieved (few rounds give less than
            asked: ``[min, max]`` of 5 rounds covers 93.75 %).
        rounds: Rounds the verdict rests on.
        extra_rounds: Rounds added because it was undecided.
        resolution: ``"decided"`` (at once), ``"decided_after_more_rounds"`` or
            ``"round_cap_reached"`` (still undecided at ``max_rounds``).
        round_medians_ms: The rounds' medians, in the order timed.
    """

    verdict: str
    budget_ms: float
    median_ms: float
    ci_low_ms: float
    ci_high_ms: float
    confidence: float
    rounds: int
    extra_rounds: int
    resolution: str
    round_medians_ms: tuple[float, ...]

    @property
    def within_budget(self) -> bool | None:
        """True for yes, False for no, None while undecided."""
        return {YES: True, NO: False}.get(self.verdict)

    def sentence(self) -> str:
        """Return the verdict as one line for a report."""
        interval = (
            f"median {self.median_ms:.3f} ms, {100 * self.confidence:.1f}% interval "
            f"{self.ci_low_ms:.3f}-{self.ci_high_ms:.3f} ms over {self.rounds} rounds"
        )
        how = {
            DECIDED: "",
            DECIDED_AFTER_MORE: f"; decided after {self.extra_rounds} more rounds",
            CAP_REACHED: f"; still undecided after {self.extra_rounds} more rounds (the cap)",
        }[self.resolution]
        return f"{self.verdict} ({interval}; budget {self.budget_ms:g} ms{how})"

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as JSON data."""
        return asdict(self)


def decide(round_medians_ms: Sequence[float], budget_ms: float, confidence: float) -> tuple:
    """Return ``(verdict, low, high, coverage)`` of the interval of the median vs the budget."""
    low, high, coverage = median_interval(round_medians_ms, confidence)
    if high <= budget_ms:
        return YES, low, high, coverage
    if low > budget_ms:
        return NO, low, high, coverage
    return UNDECIDED, low, high, coverage


def budget_verdict(
    budget_ms: float,
    round_medians_ms: Sequence[float],
    *,
    more_round: Callable[[], float] | None = None,
    config: VerdictConfig | None = None,
) -> BudgetVerdict:
    """Decide whether the latency is within ``budget_ms`` from the medians of its rounds.

    Args:
        budget_ms: The latency budget.
        round_medians_ms: Medians of the rounds timed so far (at least one).
        more_round: Times one more round and returns its median; called while the verdict
            is undecided and fewer than ``config.max_rounds`` rounds are in. None decides
            from the rounds given.
        config: Confidence and round cap; default ``VerdictConfig()``.
    """
    config = config or VerdictConfig()
    if isinstance(budget_ms, bool) or not math.isfinite(budget_ms) or budget_ms <= 0:
        raise ConfigError(f"budget_ms must be a finite number > 0, got {budget_ms!r}")
    medians = [float(m) for m in round_medians_ms]
    if not medians or not all(math.isfinite(m) and m >= 0 for m in medians):
        raise ConfigError(f"round medians must be finite and >= 0, at least one: {medians!r}")
    given = len(medians)
    verdict, low, high, coverage = decide(medians, budget_ms, config.confidence)
    while verdict == UNDECIDED and more_round is not None and len(medians) < config.max_rounds:
        medians.append(float(more_round()))
        verdict, low, high, coverage = decide(medians, budget_ms, config.confidence)
    return verdict_of_rounds(
        medians, budget_ms, config.confidence, given, more_tried=more_round is not None
    )


def verdict_of_rounds(
    medians: Sequence[float],
    budget_ms: float,
    confidence: float,
    base_rounds: int,
    *,
    more_tried: bool,
) -> BudgetVerdict:
    """The `BudgetVerdict` of rounds' medians, the first ``base_rounds`` of them planned.

    ``more_tried``: rounds were added while undecided, so one still undecided reached the cap.
    """
    verdict, low, high, coverage = decide(medians, budget_ms, confidence)
    extra = max(0, len(medians) - base_rounds)
    if verdict == UNDECIDED and more_tried:
        resolution = CAP_REACHED
    else:
        resolution = DECIDED_AFTER_MORE if extra else DECIDED
    return BudgetVerdict(
        verdict=verdict,
        budget_ms=float(budget_ms),
        median_ms=float(np.median(medians)),
        ci_low_ms=low,
        ci_high_ms=high,
        confidence=coverage,
        rounds=len(medians),
        extra_rounds=extra,
        resolution=resolution,
        round_medians_ms=tuple(float(m) for m in medians),
    )
