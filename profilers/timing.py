"""Timing a callable: warm-up, then repeated runs until the median is known precisely enough.

Each run is timed by a ``Timer``: ``HostTimer`` reads ``time.perf_counter_ns`` around the call
(right for runtimes that return when the work is done, such as ONNX Runtime on a CPU);
GPU runtimes bring a timer of CUDA events (``profilers.runtimes.cuda.CudaEventTimer``) that
measures on the device and synchronises after each run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from profilers.errors import ConfigError
from profilers.stats import (
    STOP_CONVERGED,
    STOP_MAX_RUNS,
    STOP_TIME_CAP,
    LatencyStats,
    median_ci_halfwidth,
    median_ci_ranks,
    summarize,
)

# After min_runs, the stopping rule is checked again once the sample has grown by this fraction
# (but at least _CHECK_EVERY_MIN runs), so checks cost O(n log n) a logarithmic number of times.
_CHECK_GROWTH = 0.1
_CHECK_EVERY_MIN = 5


class Timer(Protocol):
    """Times one run of a callable; ``kind`` names the clock for the fingerprint."""

    kind: str

    def time_ns(self, fn: Callable[[], object]) -> int:
        """Run ``fn()`` once and return its duration in nanoseconds, its work finished."""
        ...

    def synchronize(self) -> None:
        """Wait until all work ``fn`` started has finished (a no-op for host work)."""
        ...


class HostTimer:
    """Wall-clock time of a call on the host, with ``time.perf_counter_ns``.

    Args:
        clock: Monotonic clock in nanoseconds (tests pass a fake one).
    """

    kind = "host_perf_counter_ns"

    def __init__(self, clock: Callable[[], int] = time.perf_counter_ns) -> None:
        self._clock = clock

    def time_ns(self, fn: Callable[[], object]) -> int:
        """Run ``fn()`` and return the nanoseconds it took."""
        t0 = self._clock()
        fn()
        return self._clock() - t0

    def synchronize(self) -> None:
        """Nothing to wait for: host calls return when their work is done."""


@dataclass(frozen=True)
class TimingConfig:
    """How long to warm up and when to stop timing.

    Attributes:
        warmup_runs: Untimed runs before measuring; warm-up lasts until both ``warmup_runs``
            runs are done and ``warmup_s`` seconds have passed.
        warmup_s: Minimum warm-up duration in seconds.
        min_runs: Timed runs always performed, whatever the caps say (at least 2).
        max_runs: Timed runs after which timing stops (``stop_reason="max_runs"``).
        max_time_s: Seconds of timed runs after which timing stops once ``min_runs`` are done
            (``stop_reason="time_cap"``).
        target_rel_ci: Timing stops as ``"converged"`` when the 95 % confidence interval of
            the median is within ``± target_rel_ci`` of the median.
    """

    warmup_runs: int = 10
    warmup_s: float = 0.2
    min_runs: int = 20
    max_runs: int = 2000
    max_time_s: float = 5.0
    target_rel_ci: float = 0.01

    def __post_init__(self) -> None:
        for name in ("warmup_runs", "min_runs", "max_runs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"TimingConfig.{name} must be an integer, got {value!r}")
        for name in ("warmup_s", "max_time_s", "target_rel_ci"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"TimingConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"TimingConfig.{name} must be finite, got {value!r}")
        if self.warmup_runs < 0 or self.warmup_s < 0:
            raise ConfigError(
                f"TimingConfig warm-up must be >= 0, got warmup_runs={self.warmup_runs}, "
                f"warmup_s={self.warmup_s}"
            )
        if self.min_runs < 2:
            raise ConfigError(
                f"TimingConfig.min_runs must be >= 2 (a spread needs two samples), "
                f"got {self.min_runs}"
            )
        if self.max_runs < self.min_runs:
            raise ConfigError(
                f"TimingConfig.max_runs ({self.max_runs}) must be >= min_runs ({self.min_runs})"
            )
        if self.max_time_s <= 0:
            raise ConfigError(f"TimingConfig.max_time_s must be > 0, got {self.max_time_s}")
        if not 0 < self.target_rel_ci < 1:
            raise ConfigError(
                f"TimingConfig.target_rel_ci must be in (0, 1), e.g. 0.01 for ±1 %, "
                f"got {self.target_rel_ci}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimingConfig:
        """Build a config from a mapping; missing keys take their defaults."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"TimingConfig.from_dict: unknown keys {unknown}; allowed keys are {sorted(names)}"
            )
        return cls(**dict(data))


class Gate(Protocol):
    """Says, between timed runs, whether the machine is quiet (``profilers.probe.ProbeGate``).

    ``interval_ns`` is how often it is asked, and the timing converges no sooner than after
    ``min_looks`` looks (a spell of a few milliseconds must not cover a whole timing), nor
    while under ``min_share`` of its runs were kept (a slow spell is waited out);
    ``quiet()`` looks (e.g. times a short burst of the disturbance probe) and answers;
    ``record(kept, timed, enough)`` receives the runs kept and timed at the end, and whether
    the kept ones were enough to report (``min_runs``).
    """

    interval_ns: int
    min_looks: int
    min_share: float

    def quiet(self) -> bool:
        """Look at the machine now; True when it is quiet."""
        ...

    def record(self, kept: int, timed: int, enough: bool) -> None:
        """Keep the count of runs kept and timed, and whether the kept ones were enough."""
        ...


def time_callable(
    fn: Callable[[], object],
    config: TimingConfig | None = None,
    *,
    clock: Callable[[], int] = time.perf_counter_ns,
    timer: Timer | None = None,
    gate: Gate | None = None,
) -> LatencyStats:
    """Time ``fn()`` and summarise its latency.

    Warm-up runs are untimed. Timed runs then continue until, checked after ``min_runs`` and
    every ~10 % more runs, the median's confidence interval meets ``config.target_rel_ci``
    (``"converged"``), or ``max_time_s`` of timed runs have passed (``"time_cap"``), or
    ``max_runs`` runs were made (``"max_runs"``). When a cap stops the loop, the criterion is
    checked once more on all samples and ``"converged"`` is reported if it holds.

    Args:
        fn: Zero-argument callable doing one inference; its result is discarded.
        config: Stopping rule; default ``TimingConfig()``.
        clock: Monotonic clock in nanoseconds for the warm-up and time cap (tests pass a
            fake one).
        timer: Times each run, warm-up runs included (so that queued device work cannot pile
            up); default ``HostTimer(clock)``.
        gate: Asked every ``gate.interval_ns`` of timed runs whether the machine is quiet;
            the runs between two looks are kept only when both said quiet, so a slow spell
            of a few milliseconds is left out of the median instead of moving it. After each
            look one untimed run warms the model up again. The stopping rule counts the kept
            runs, ``max_runs`` too (so a slow spell makes the timing go on, within its time
            cap); where fewer than ``min_runs`` were kept by then, all the runs are reported.
    """
    config = config or TimingConfig()
    timer = timer or HostTimer(clock)

    warmup_end = clock() + int(config.warmup_s * 1e9)
    runs = 0
    while runs < config.warmup_runs or clock() < warmup_end:
        timer.time_ns(fn)
        runs += 1

    median_ci_ranks(config.min_runs)  # imports scipy.stats now, not inside the timed window
    if gate is not None:
        return _time_gated(fn, config, clock, timer, gate)
    samples_ns: list[int] = []
    max_time_ns = int(config.max_time_s * 1e9)
    next_check = config.min_runs
    start = clock()
    stop_reason = None
    while stop_reason is None:
        samples_ns.append(timer.time_ns(fn))
        t1 = clock()
        n = len(samples_ns)
        if n < config.min_runs:
            continue
        if n >= next_check:
            if median_ci_halfwidth(samples_ns) <= config.target_rel_ci:
                return summarize([s / 1e6 for s in samples_ns], STOP_CONVERGED)
            next_check = n + max(_CHECK_EVERY_MIN, int(n * _CHECK_GROWTH))
        if n >= config.max_runs:
            stop_reason = STOP_MAX_RUNS
        elif t1 - start >= max_time_ns:
            stop_reason = STOP_TIME_CAP
    if median_ci_halfwidth(samples_ns) <= config.target_rel_ci:
        stop_reason = STOP_CONVERGED
    return summarize([s / 1e6 for s in samples_ns], stop_reason)


def _time_gated(fn, config: TimingConfig, clock, timer: Timer, gate: Gate) -> LatencyStats:
    """`time_callable`'s timed runs in segments between looks of ``gate`` (see there)."""
    kept_ns: list[int] = []
    every_ns: list[int] = []
    segment: list[int] = []
    max_time_ns = int(config.max_time_s * 1e9)
    next_check = config.min_runs
    quiet_before = gate.quiet()
    looks = 1
    timer.time_ns(fn)  # warm again after the look
    start = last_look = clock()
    stop_reason = None
    while stop_reason is None:
        segment.append(timer.time_ns(fn))
        t1 = clock()
        if t1 - last_look >= gate.interval_ns:
            quiet_after = gate.quiet()
            looks += 1
            every_ns += segment
            if quiet_before and quiet_after:
                kept_ns += segment
            segment, quiet_before = [], quiet_after
            timer.time_ns(fn)
            t1 = last_look = clock()
        n = len(kept_ns)
        share_ok = n >= gate.min_share * (len(every_ns) + len(segment))
        if n >= config.min_runs and n >= next_check and looks >= gate.min_looks and share_ok:
            if median_ci_halfwidth(kept_ns) <= config.target_rel_ci:
                stop_reason = STOP_CONVERGED
                break
            next_check = n + max(_CHECK_EVERY_MIN, int(n * _CHECK_GROWTH))
        if n >= config.max_runs:  # kept runs: a slow spell is waited out, within the time cap
            stop_reason = STOP_MAX_RUNS
        elif t1 - start >= max_time_ns and len(every_ns) + len(segment) >= config.min_runs:
            stop_reason = STOP_TIME_CAP
    if segment:  # the runs after the last look: kept if it was quiet and the next look agrees
        quiet_after = gate.quiet()
        every_ns += segment
        if quiet_before and quiet_after:
            kept_ns += segment
    enough = len(kept_ns) >= config.min_runs
    gate.record(len(kept_ns), len(every_ns), enough)
    samples_ns = kept_ns if enough else every_ns
    if stop_reason != STOP_CONVERGED and median_ci_halfwidth(samples_ns) <= config.target_rel_ci:
        stop_reason = STOP_CONVERGED
    return summarize([s / 1e6 for s in samples_ns], stop_reason)


def default_timing() -> TimingConfig:
    """The timing method of a profile: at most 2 s of repeated runs per cell."""
    return TimingConfig(max_runs=1000, max_time_s=2.0)
