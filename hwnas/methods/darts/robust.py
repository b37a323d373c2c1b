"""RobustDARTS's cures: early stopping (DARTS-ES) and adaptive regularisation (DARTS-ADA).

Zela et al., "Understanding and Robustifying Differentiable Architecture Search", ICLR 2020,
Sec. 5: the dominant eigenvalue is smoothed by a local average over `window` epochs; when the
local average has grown by more than `factor` over `k` epochs, the search is stopped and the
architecture of `k` epochs before the smoothed point is returned (ES), or the search is rolled
back to that epoch and restarted with the weights' L2 factor multiplied by `multiplier`, up to
`max_weight_decay` (ADA). As in the authors' `EVLocalAvg`, the local average ending at epoch t
stands for epoch t - window // 2, so the rollback epoch is t - window // 2 - k.

A NaN or infinite eigenvalue is a trigger of its own: the search is rolled back to the same
epoch, never allowed to continue or to return the diverged cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MODES = ("darts", "es", "ada")


@dataclass(frozen=True)
class RobustConfig:
    """When DARTS-ES / DARTS-ADA act.

    Attributes:
        window: Epochs in the local average of the eigenvalue.
        k: Epochs between the two local averages compared (the authors' `delta`).
        factor: Trigger when avg(now) / avg(k epochs earlier) > factor (paper: 1.3).
        start_epoch: No decision before this epoch (the first epochs are noisy).
        multiplier: ADA's factor on the L2 regularisation at each trigger (paper: 3).
        max_weight_decay: ADA raises the L2 factor up to this; past it, ADA only watches.
    """

    window: int = 5
    k: int = 5
    factor: float = 1.3
    start_epoch: int = 0
    multiplier: float = 3.0
    max_weight_decay: float = 8.1e-3

    def __post_init__(self) -> None:
        if self.window < 1 or self.k < 1 or self.start_epoch < 0:
            raise ValueError("window and k must be >= 1 and start_epoch >= 0")
        if not self.factor > 1 or not self.multiplier > 1:
            raise ValueError(
                f"factor and multiplier must exceed 1, got {self.factor}, {self.multiplier}"
            )
        if not self.max_weight_decay > 0:
            raise ValueError("max_weight_decay must be positive")


@dataclass(frozen=True)
class Trigger:
    """Why and where to roll back.

    Attributes:
        epoch: The epoch whose eigenvalue triggered.
        rollback_epoch: The epoch whose state (ES: whose architecture) is taken.
        reason: `eigenvalue_rise` or `eigenvalue_not_finite`.
        local_average_now: The local average ending at `epoch` (None when not finite).
        local_average_before: The local average ending k epochs earlier (None likewise).
        ratio: Their ratio (None likewise).
    """

    epoch: int
    rollback_epoch: int
    reason: str
    local_average_now: float | None = None
    local_average_before: float | None = None
    ratio: float | None = None


def local_average(eigenvalues: list[float], end: int, window: int) -> float:
    """The mean of eigenvalues[end - window + 1 .. end] (fewer at the start of the list)."""
    chunk = eigenvalues[max(0, end - window + 1) : end + 1]
    return sum(chunk) / len(chunk)


def check_trigger(eigenvalues: list[float], config: RobustConfig) -> Trigger | None:
    """The ES/ADA decision after the last epoch of `eigenvalues` (one value per epoch 0..t).

    Returns None when nothing is to be done, else the trigger. A non-finite last eigenvalue
    always triggers (even before `start_epoch`); its rollback epoch may be negative, meaning
    there is no earlier state to return to.
    """
    if not eigenvalues:
        return None
    t = len(eigenvalues) - 1
    rollback = t - config.window // 2 - config.k
    if not math.isfinite(eigenvalues[t]):
        return Trigger(t, rollback, "eigenvalue_not_finite")
    earlier = t - config.k
    if t < config.start_epoch or earlier < config.window - 1 or rollback < 0:
        return None
    now = local_average(eigenvalues, t, config.window)
    before = local_average(eigenvalues, earlier, config.window)
    if before <= 0:  # a ratio of a non-positive curvature says nothing about a rise
        return None
    ratio = now / before
    if ratio > config.factor:
        return Trigger(t, rollback, "eigenvalue_rise", now, before, ratio)
    return None
