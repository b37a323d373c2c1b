"""Energy arithmetic: counter differences with wrap-around, and integrals of sampled power.

Pure functions on numbers; the meters read the hardware and call these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def counter_delta(start: float, end: float, max_range: float | None = None) -> float:
    """Return how far a cumulative counter advanced from ``start`` to ``end``.

    A counter that wraps to 0 after ``max_range`` (RAPL's ``max_energy_range_uj``) and reads
    less at ``end`` than at ``start`` wrapped once: the advance is
    ``end + max_range - start``. Windows must be shorter than one full wrap (RAPL: hours).

    Raises:
        ValueError: If the counter went backwards and has no ``max_range`` (it was reset),
            or a reading lies outside ``[0, max_range]``.
    """
    if max_range is not None:
        if max_range <= 0:
            raise ValueError(f"max_range must be > 0, got {max_range}")
        for value in (start, end):
            if not 0 <= value <= max_range:
                raise ValueError(f"counter reading {value} is outside [0, {max_range}]")
    if end >= start:
        return float(end - start)
    if max_range is None:
        raise ValueError(
            f"energy counter went backwards ({start} -> {end}) and does not wrap: it was reset "
            "during the window; measure again"
        )
    return float(end + max_range - start)


def _samples(times_s: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape or t.size < 2:
        raise ValueError(
            f"need at least two (time, value) samples of equal length, got {t.shape} and {v.shape}"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
        raise ValueError("samples must be finite")
    if np.any(np.diff(t) <= 0):
        raise ValueError("sample times must be strictly increasing")
    return t, v


def trapezoid_energy_mj(times_s: Sequence[float], power_w: Sequence[float]) -> float:
    """Return the energy in mJ of power samples (W) at times (s), by the trapezoid rule."""
    t, p = _samples(times_s, power_w)
    return float(np.sum((p[1:] + p[:-1]) * np.diff(t)) / 2.0 * 1000.0)


def window_energy_mj(
    times_s: Sequence[float], power_w: Sequence[float], t0_s: float, t1_s: float
) -> float:
    """Return the energy in mJ of sampled power between ``t0_s`` and ``t1_s``.

    Power is linear between samples (the trapezoid rule); at the window's edges it is
    interpolated, so samples need not fall on them.

    Raises:
        ValueError: If the samples do not cover ``[t0_s, t1_s]`` or the window is empty.
    """
    t, p = _samples(times_s, power_w)
    if not (math.isfinite(t0_s) and math.isfinite(t1_s)) or t1_s <= t0_s:
        raise ValueError(f"window must have t0_s < t1_s, got [{t0_s}, {t1_s}]")
    if t0_s < t[0] or t1_s > t[-1]:
        raise ValueError(
            f"power samples cover [{t[0]:.3f}, {t[-1]:.3f}] s, not the window "
            f"[{t0_s:.3f}, {t1_s:.3f}] s"
        )
    inside = (t > t0_s) & (t < t1_s)
    times = np.concatenate(([t0_s], t[inside], [t1_s]))
    power = np.interp(times, t, p)
    return trapezoid_energy_mj(times, power)


def cumulative_window_mj(
    times_s: Sequence[float], energy_mj: Sequence[float], t0_s: float, t1_s: float
) -> float:
    """Return the increase of a cumulative energy log (mJ) between ``t0_s`` and ``t1_s``.

    The counter is taken as linear between samples, interpolated at the window's edges.

    Raises:
        ValueError: If the log does not cover the window or its energy decreases.
    """
    t, e = _samples(times_s, energy_mj)
    if np.any(np.diff(e) < 0):
        raise ValueError("a cumulative energy log must not decrease")
    if t1_s <= t0_s or t0_s < t[0] or t1_s > t[-1]:
        raise ValueError(
            f"energy log covers [{t[0]:.3f}, {t[-1]:.3f}] s, not the window "
            f"[{t0_s:.3f}, {t1_s:.3f}] s"
        )
    start, end = np.interp([t0_s, t1_s], t, e)
    return float(end - start)
