"""What a latency-budget answer is made of: a candidate cell, the budget's checks, its error."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwnas.errors import InputError


class BudgetError(InputError):
    """No architecture is predicted to meet the latency budget."""


@dataclass(frozen=True)
class Candidate:
    """One NB201 cell with its predicted latency (and upper bound) and tabulated accuracy."""

    arch: str
    nb201_index: int
    predicted_latency_ms: float
    latency_bound_ms: float
    accuracy: float
    measured_latency_ms: float | None = None


def check_budget_arguments(budget_ms: float | None, confidence: float | None) -> None:
    """Raises `InputError` unless the budget is positive and 0 < confidence < 1 (or None)."""
    if budget_ms is not None and not (math.isfinite(budget_ms) and budget_ms > 0):
        raise InputError(f"the latency budget must be a positive number of ms, got {budget_ms}")
    if confidence is not None and not 0 < confidence < 1:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {confidence}")
