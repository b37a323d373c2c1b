"""Checks on measured values a user hands in (latency and energy files), before any use.

A value outside any physical range, or a gross outlier against the same device's other
cells, would steer every answer built on it (a fitted predictor, a budget answer) without a
word. Such files are refused with the line to fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hwnas.errors import InputError

PHYSICAL_RANGE = {"latency_ms": (1e-4, 1e6), "energy_mj": (1e-6, 1e9)}
"""Plausible values of one network's inference, per quantity: 0.1 us to 17 min; 1 nJ to 1 MJ."""
OUTLIER_FACTOR = 1000.0
"""On one device, cells of one space lie within this factor of their median (the shipped
NB201 and FBNet tables, 13 devices each, stay within 9x above and, but for one pixel3 row, 5x
below it); a value beyond it is a unit slip or a damaged row, not a measurement."""


class MeasuredValueError(InputError):
    """A measured value that cannot be a measurement of one network on one device."""


def check_measured_value(
    value: float, quantity: str, where: str, error: type[InputError] = MeasuredValueError
) -> float:
    """`value` if it is finite and within `PHYSICAL_RANGE[quantity]`; raises `error` otherwise."""
    low, high = PHYSICAL_RANGE.get(quantity, (0.0, math.inf))
    if not math.isfinite(value) or value <= 0:
        raise error(f"{where}: {quantity} must be a finite positive number, got {value!r}")
    if not low <= value <= high:
        raise error(
            f"{where}: {quantity} {value:g} lies outside any physical range for one inference "
            f"({low:g} to {high:g}); check the unit and the row"
        )
    return value


def check_outliers(
    values: Mapping[str, float],
    quantity: str,
    where: str,
    error: type[InputError] = MeasuredValueError,
) -> None:
    """Raises if a value lies more than `OUTLIER_FACTOR` times from the median of all."""
    if len(values) < 3:
        return
    logs = {key: math.log(v) for key, v in values.items()}
    ordered = sorted(logs.values())
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    for key, log_value in logs.items():
        ratio = math.exp(abs(log_value - median))
        if ratio > OUTLIER_FACTOR:
            side = "above" if log_value > median else "below"
            raise error(
                f"{where}: {key} has {quantity} {values[key]:g}, {ratio:.3g}x {side} the median "
                f"{math.exp(median):g} of the file's {len(values)} cells; one device's cells lie "
                f"within {OUTLIER_FACTOR:g}x of each other: fix or remove that row"
            )
