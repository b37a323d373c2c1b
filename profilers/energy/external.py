"""External meters: a USB or lab power meter, read through a callable or the CSV log it writes."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from profilers.energy import register_meter
from profilers.energy.base import (
    CounterMeter,
    EnergyMeter,
    EnergyMeterError,
    EnergyReading,
)
from profilers.energy.integrate import cumulative_window_mj, window_energy_mj


def _check_period(owner: str, update_period_s: float) -> float:
    if isinstance(update_period_s, bool) or not isinstance(update_period_s, (int, float)):
        raise ValueError(f"{owner}: update_period_s must be a number, got {update_period_s!r}")
    if not (math.isfinite(update_period_s) and update_period_s > 0):
        raise ValueError(f"{owner}: update_period_s must be > 0, got {update_period_s!r}")
    return float(update_period_s)


@register_meter("external")
class CallableMeter(CounterMeter):
    """A meter read by a user callable returning cumulative energy in mJ.

    Args:
        read_mj: Zero-argument callable returning the energy counted so far, in mJ.
        update_period_s: How often the meter's reading changes, in seconds.
        max_range_mj: Where the counter wraps to 0, or None if it does not.
        label: Name of the measured domain in readings.
    """

    def __init__(
        self,
        read_mj: Callable[[], float],
        update_period_s: float,
        max_range_mj: float | None = None,
        label: str = "external",
    ) -> None:
        if not callable(read_mj):
            raise ValueError(f"CallableMeter: read_mj must be callable, got {read_mj!r}")
        self.update_period_s = _check_period("CallableMeter", update_period_s)
        self._read_mj = read_mj
        self.max_range_mj = max_range_mj
        self.label = label

    def read_counters_mj(self) -> dict[str, float]:
        """Call the user's reader once."""
        value = self._read_mj()
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise EnergyMeterError(f"read_mj() must return a finite number of mJ, got {value!r}")
        return {self.label: float(value)}

    def counter_ranges_mj(self) -> dict[str, float | None]:
        """Return the wrap-around range given by the user."""
        return {self.label: self.max_range_mj}

    def describe(self) -> dict[str, Any]:
        """Return the meter, its reader's name and update period."""
        return {
            "meter": self.name,
            "reader": getattr(self._read_mj, "__qualname__", repr(self._read_mj)),
            "update_period_s": self.update_period_s,
            "max_range_mj": self.max_range_mj,
        }

    def close(self) -> None:
        """Nothing to release: the reader belongs to the user."""


def read_log(path: Path, time_column: str, value_column: str) -> tuple[list[float], list[float]]:
    """Return the (time, value) columns of a CSV log with a header row.

    Raises:
        EnergyMeterError: If the file or a column is missing, or a cell is not a number
            (naming the line).
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in (time_column, value_column) if c not in header]
            if missing:
                raise EnergyMeterError(f"{path}: columns {missing} missing; header is {header}")
            times, values = [], []
            for row in reader:
                try:
                    times.append(float(row[time_column]))
                    values.append(float(row[value_column]))
                except (TypeError, ValueError) as exc:
                    raise EnergyMeterError(
                        f"{path} line {reader.line_num}: not a number ({exc})"
                    ) from exc
    except OSError as exc:
        raise EnergyMeterError(f"cannot read the meter log {path} ({exc})") from exc
    return times, values


@register_meter("csv-log")
class CsvLogMeter(EnergyMeter):
    """A meter whose samples a logger appends to a CSV file (e.g. a USB power meter's tool).

    The log has a header and a time column in UNIX seconds (``time.time()``'s clock), and
    either a power column in W (integrated by the trapezoid rule) or a cumulative energy
    column in mJ. At ``stop`` the log is read again until it covers the window.

    Args:
        path: The CSV log.
        update_period_s: Time between the meter's samples, in seconds.
        power_column: Column of power in W; exactly one of it and ``energy_column``.
        energy_column: Column of cumulative energy in mJ.
        time_column: Column of UNIX time in seconds.
        max_lag_s: How long ``stop`` waits for the logger to write past the window.
        clock: Wall clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        path: str | Path,
        update_period_s: float,
        *,
        power_column: str | None = None,
        energy_column: str | None = None,
        time_column: str = "time_s",
        max_lag_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (power_column is None) == (energy_column is None):
            raise ValueError("CsvLogMeter: give exactly one of power_column and energy_column")
        self.path = Path(path)
        self.update_period_s = _check_period("CsvLogMeter", update_period_s)
        self.power_column = power_column
        self.energy_column = energy_column
        self.time_column = time_column
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._t0: float | None = None

    def start(self) -> None:
        """Note the wall-clock start of the window."""
        self._t0 = self._clock()

    def stop(self) -> EnergyReading:
        """Integrate the log over the window, waiting up to ``max_lag_s`` for it to catch up."""
        if self._t0 is None:
            raise EnergyMeterError("CsvLogMeter.stop() called before start()")
        t0, t1 = self._t0, self._clock()
        self._t0 = None
        column = self.power_column or self.energy_column
        assert column is not None
        deadline = t1 + self.max_lag_s
        while True:
            times, values = read_log(self.path, self.time_column, column)
            if times and times[-1] >= t1:
                break
            if self._clock() >= deadline:
                last = f"{times[-1]:.3f}" if times else "no sample"
                raise EnergyMeterError(
                    f"{self.path}: the log ends at {last}, before the window's end {t1:.3f} "
                    f"(waited {self.max_lag_s} s); is the logger running, on UNIX time?"
                )
            time.sleep(min(self.update_period_s, 0.1))
        try:
            if self.power_column is not None:
                energy = window_energy_mj(times, values, t0, t1)
            else:
                energy = cumulative_window_mj(times, values, t0, t1)
        except ValueError as exc:
            raise EnergyMeterError(f"{self.path}: {exc}") from exc
        return EnergyReading(energy, t1 - t0, {column: energy})

    def describe(self) -> dict[str, Any]:
        """Return the meter, log path, columns and update period."""
        return {
            "meter": self.name,
            "path": str(self.path),
            "time_column": self.time_column,
            "power_column": self.power_column,
            "energy_column": self.energy_column,
            "update_period_s": self.update_period_s,
        }

    def close(self) -> None:
        """Nothing to release: the log belongs to its logger."""

    def __repr__(self) -> str:
        return f"CsvLogMeter({str(self.path)!r})"
