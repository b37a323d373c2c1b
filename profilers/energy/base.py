"""The energy meter interface: a meter measures the energy of a window between start and stop."""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from profilers.energy.integrate import counter_delta
from profilers.errors import ProfilerError


class EnergyMeterError(ProfilerError):
    """An energy meter failed to read, or was used out of order."""


class MeterUnavailableError(EnergyMeterError):
    """An energy meter does not exist or cannot be read here; the message says why."""


@dataclass(frozen=True)
class EnergyReading:
    """Energy of one window.

    Attributes:
        energy_mj: Energy over the window, in millijoules.
        duration_s: Length of the window in seconds.
        domains_mj: Energy per domain or rail (e.g. ``package-0``, ``dram``, ``VDD_IN``) that
            makes up ``energy_mj``.
    """

    energy_mj: float
    duration_s: float
    domains_mj: dict[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise EnergyMeterError(f"an energy window must last > 0 s, got {self.duration_s}")
        if not self.energy_mj >= 0:
            raise EnergyMeterError(f"a window's energy must be >= 0 mJ, got {self.energy_mj}")

    @property
    def power_w(self) -> float:
        """Return the average power over the window in watts."""
        return self.energy_mj / self.duration_s / 1000.0


class EnergyMeter(abc.ABC):
    """Something that measures energy over a window: NVML, RAPL, Jetson rails, a lab meter.

    Subclasses are registered with ``@register_meter(name)``. ``start()`` opens a window,
    ``stop()`` closes it and returns its ``EnergyReading``; one window at a time.

    Attributes:
        update_period_s: How often the underlying counter or sensor is refreshed; energy
            windows last at least ten of these.
        unavailable_reason: None for a meter that measures; for ``NullMeter``, why none does.
    """

    name: ClassVar[str]
    discoverable: ClassVar[bool] = False
    """Whether ``discover_meter`` tries it: hardware meters that need no user argument."""
    update_period_s: float
    unavailable_reason: str | None = None

    @abc.abstractmethod
    def start(self) -> None:
        """Open a window."""

    @abc.abstractmethod
    def stop(self) -> EnergyReading:
        """Close the window opened by ``start`` and return its energy."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Return what is measured (meter, domains or rails, update period) as JSON data."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release handles (a sampling thread, an NVML session). Idempotent."""

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CounterMeter(EnergyMeter):
    """A meter of cumulative energy counters, read at both ends of a window."""

    _window: tuple[float, dict[str, float]] | None = None

    @abc.abstractmethod
    def read_counters_mj(self) -> dict[str, float]:
        """Return the current cumulative reading of each domain, in mJ."""

    def counter_ranges_mj(self) -> Mapping[str, float | None]:
        """Return each domain's wrap-around range in mJ (None: the counter does not wrap)."""
        return {}

    def start(self) -> None:
        """Read the counters at the start of the window."""
        self._window = (time.perf_counter(), self.read_counters_mj())

    def stop(self) -> EnergyReading:
        """Read the counters again and return the difference, wrap-around included."""
        if self._window is None:
            raise EnergyMeterError(f"{type(self).__name__}.stop() called before start()")
        t0, first = self._window
        last = self.read_counters_mj()
        duration = time.perf_counter() - t0
        self._window = None
        ranges = self.counter_ranges_mj()
        domains = {
            domain: counter_delta(first[domain], last[domain], ranges.get(domain))
            for domain in first
        }
        return EnergyReading(sum(domains.values()), duration, domains)


class NullMeter(EnergyMeter):
    """The meter where there is none: it measures nothing and says why.

    Args:
        reason: Why no energy can be measured, e.g. the reasons each meter gave.
    """

    name = "none"
    update_period_s = 0.0

    def __init__(self, reason: str) -> None:
        if not isinstance(reason, str) or not reason:
            raise ValueError("NullMeter needs a non-empty reason")
        self.unavailable_reason = reason

    def start(self) -> None:
        """Refuse: there is nothing to measure with."""
        raise MeterUnavailableError(self.unavailable_reason)

    def stop(self) -> EnergyReading:
        """Refuse: there is nothing to measure with."""
        raise MeterUnavailableError(self.unavailable_reason)

    def describe(self) -> dict[str, Any]:
        """Return ``{"meter": "none", "reason": ...}``."""
        return {"meter": self.name, "reason": self.unavailable_reason}

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"NullMeter({self.unavailable_reason!r})"
