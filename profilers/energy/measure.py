"""Energy per inference: a window of repeated runs against an idle window of the same length.

The work window lasts at least ``update_periods`` updates of the meter's counter (10 x ~100 ms
for NVML), so that the counter's granularity is a small part of the total. An idle window of the
same duration, with the same model loaded and nothing running, gives the baseline power; the
net energy is what the work drew above it. Where no meter works, every figure is None and
``reason`` says why: nothing is estimated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from profilers.energy.base import EnergyMeter, EnergyMeterError, EnergyReading
from profilers.errors import ConfigError
from profilers.timing import HostTimer, Timer


@dataclass(frozen=True)
class EnergyConfig:
    """How long the energy windows last.

    Attributes:
        min_window_s: Shortest work (and idle) window in seconds.
        update_periods: The window also lasts at least this many counter update periods.
        idle_baseline: Measure an idle window for net energy; without it net energy is None.
    """

    min_window_s: float = 1.0
    update_periods: float = 10.0
    idle_baseline: bool = True

    def __post_init__(self) -> None:
        for name in ("min_window_s", "update_periods"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"EnergyConfig.{name} must be a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"EnergyConfig.{name} must be > 0, got {value!r}")
        if not isinstance(self.idle_baseline, bool):
            raise ConfigError(
                f"EnergyConfig.idle_baseline must be a bool, got {self.idle_baseline!r}"
            )

    def window_s(self, update_period_s: float) -> float:
        """Return the window length for a meter refreshed every ``update_period_s``."""
        return max(self.min_window_s, self.update_periods * update_period_s)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)


@dataclass(frozen=True)
class EnergyResult:
    """Energy of one inference, or why it was not measured.

    Attributes:
        energy_mj: Gross energy per inference in mJ (all the meter saw during the runs).
        energy_net_mj: Energy per inference above the idle baseline, in mJ.
        power_w: Average power during the runs, in W.
        reason: How it was measured (meter, window, runs, idle power), or why not.
        meter: The meter's ``describe()``, or None.
        runs: Inferences in the work window.
        window_s: Duration of the work window.
        idle_power_w: Average power of the idle window.
    """

    energy_mj: float | None
    energy_net_mj: float | None
    power_w: float | None
    reason: str
    meter: dict[str, Any] | None = None
    runs: int | None = None
    window_s: float | None = None
    idle_power_w: float | None = None

    @classmethod
    def unavailable(cls, reason: str, meter: dict[str, Any] | None = None) -> EnergyResult:
        """Return a result with no figures, saying why."""
        return cls(None, None, None, reason, meter)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)


def energy_per_inference(
    work: EnergyReading,
    runs: int,
    idle: EnergyReading | None = None,
    meter: dict[str, Any] | None = None,
) -> EnergyResult:
    """Divide a work window's energy among its ``runs``, net of the idle power if given.

    ``net = (E_work - P_idle * t_work) / runs``; it is None (with the reason) when the idle
    power exceeds the working power, which means the baseline drifted or the work is below
    the meter's resolution.
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs!r}")
    name = (meter or {}).get("meter", "meter")
    gross_mj = work.energy_mj / runs
    how = f"{name}: {runs} runs in {work.duration_s:.3f} s at {work.power_w:.3f} W"
    if idle is None:
        return EnergyResult(
            gross_mj, None, work.power_w, f"{how}; no idle baseline, so no net energy",
            meter, runs, work.duration_s,
        )  # fmt: skip
    net_total_mj = work.energy_mj - idle.power_w * work.duration_s * 1000.0
    how += f", idle {idle.power_w:.3f} W over {idle.duration_s:.3f} s"
    if net_total_mj < 0:
        return EnergyResult(
            gross_mj, None, work.power_w,
            f"{how}; idle power exceeded working power, so net energy is not measurable",
            meter, runs, work.duration_s, idle.power_w,
        )  # fmt: skip
    return EnergyResult(
        gross_mj, net_total_mj / runs, work.power_w, how,
        meter, runs, work.duration_s, idle.power_w,
    )  # fmt: skip


def measure_energy(
    fn: Callable[[], object],
    meter: EnergyMeter,
    config: EnergyConfig | None = None,
    *,
    timer: Timer | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> EnergyResult:
    """Measure the energy of one ``fn()`` with ``meter``: idle window, then work window.

    Each run is timed by ``timer`` (which waits for device work), so the work window holds
    back-to-back single inferences, the state the latency was measured in.

    Args:
        fn: One inference, already warmed up.
        meter: The meter; a ``NullMeter`` gives a result with its reason.
        config: Window lengths; default ``EnergyConfig()``.
        timer: Times and synchronises each run; default host timing.
        sleep: Waits out the idle window (tests pass a fake one).
    """
    config = config or EnergyConfig()
    if meter.unavailable_reason is not None:
        return EnergyResult.unavailable(meter.unavailable_reason, meter.describe())
    timer = timer or HostTimer()
    window_s = config.window_s(meter.update_period_s)
    description = meter.describe()
    try:
        idle = None
        if config.idle_baseline:
            timer.synchronize()
            meter.start()
            sleep(window_s)
            idle = meter.stop()
        runs = 0
        meter.start()
        end = time.perf_counter() + window_s
        while runs == 0 or time.perf_counter() < end:
            timer.time_ns(fn)
            runs += 1
        timer.synchronize()
        work = meter.stop()
    except EnergyMeterError as exc:
        return EnergyResult.unavailable(f"{description.get('meter')} failed: {exc}", description)
    return energy_per_inference(work, runs, idle, description)
