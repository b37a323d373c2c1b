"""Profile one ONNX file or loaded session: its latency, then (with a meter) its energy."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from devices.fingerprint import gpu_fingerprint
from profilers.energy.base import EnergyMeter
from profilers.energy.measure import EnergyConfig, EnergyResult, measure_energy
from profilers.runtimes.base import Runtime, Session
from profilers.runtimes.cuda import CudaEventTimer
from profilers.stats import UNSTABLE_COV, LatencyStats
from profilers.timing import Gate, TimingConfig, time_callable

log = logging.getLogger(__name__)

NO_METER_REASON = "no energy meter given"


def profile_session(
    session: Session,
    timing: TimingConfig | None = None,
    batch_size: int = 1,
    *,
    seed: int = 0,
    energy_meter: EnergyMeter | None = None,
    energy: EnergyConfig | None = None,
    gate: Gate | None = None,
) -> tuple[LatencyStats, dict[str, Any]]:
    """Time ``session`` on random inputs of ``batch_size``, then measure its energy.

    The inputs are placed once (``Session.prepare``) and each run is timed by the session's
    own timer (CUDA events on a GPU, ``perf_counter_ns`` on the host). With a meter, the
    energy windows follow the latency runs, so they start warm. A window whose coefficient of
    variation exceeds 2.5 % is logged at debug level only: a campaign of rounds judges
    stability from the disagreement between rounds and says so once, in its summary.

    Returns:
        The latency statistics and a JSON-serialisable dict: ``inputs`` (name, declared and
        timed shape, dtype), ``batch_size``, ``seed``, ``timing``, ``timer``, ``unstable``,
        ``energy`` (``EnergyResult.to_dict()``: gross and net mJ per inference, average W,
        and the reason or method) with ``energy_config`` where a meter was given, and on a
        CUDA GPU ``gpu`` (``devices.fingerprint.gpu_fingerprint()`` after the runs).
    """
    timing = timing or TimingConfig()
    inputs = session.random_inputs(batch_size, seed=seed)
    run = session.prepare(inputs)
    timer = session.timer()
    stats = time_callable(run, timing, timer=timer, gate=gate)
    if stats.unstable:
        log.debug(
            "%s: latency is unstable (CoV %.1f %% > %.1f %%, median %.4f ms over %d runs); "
            "check for other load, frequency scaling or thermal throttling",
            session.model_path, 100 * stats.cov, 100 * UNSTABLE_COV, stats.median_ms, stats.n,
        )  # fmt: skip
    if energy_meter is None:
        energy_result = EnergyResult.unavailable(NO_METER_REASON)
    else:
        energy_result = measure_energy(run, energy_meter, energy, timer=timer)
    info = {
        "inputs": [
            {**spec.to_dict(), "timed_shape": list(inputs[spec.name].shape)}
            for spec in session.input_specs
        ],
        "batch_size": batch_size,
        "seed": seed,
        "timing": timing.to_dict(),
        "timer": timer.kind,
        "unstable": stats.unstable,
        "energy": energy_result.to_dict(),
    }
    if energy_meter is not None:
        info["energy_config"] = (energy or EnergyConfig()).to_dict()
    if timer.kind == CudaEventTimer.kind:
        info["gpu"] = gpu_fingerprint()  # clocks and temperature right after the runs
    return stats, info


def file_sha256(path: str | Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def profile_onnx(
    path: str | Path,
    runtime: Runtime,
    timing: TimingConfig | None = None,
    batch_size: int = 1,
    *,
    seed: int = 0,
    energy_meter: EnergyMeter | None = None,
    energy: EnergyConfig | None = None,
    gate: Gate | None = None,
) -> tuple[LatencyStats, dict[str, Any]]:
    """Time one ONNX file on random inputs of ``batch_size``, and its energy with a meter.

    Args:
        gate: Keeps only the runs between quiet looks (`profilers.timing.time_callable`).
        energy_meter: Measures energy per inference after the latency runs
            (``profilers.energy.discover_meter()`` finds one); None records no energy.
        energy: Energy window lengths; default ``EnergyConfig()``.

    Returns:
        The latency statistics and a JSON-serialisable dict describing the run: ``runtime``
        (``runtime.describe()`` after loading), ``model_path``, ``model_sha256`` and what
        ``profilers.profile.profile_session`` records (``inputs``, ``batch_size``, ``seed``,
        ``timing``, ``timer``, ``unstable``, ``energy``).
    """
    path = Path(path)
    with runtime.load(path) as session:
        stats, run_info = profile_session(
            session,
            timing,
            batch_size,
            seed=seed,
            energy_meter=energy_meter,
            energy=energy,
            gate=gate,
        )
    info = {
        "runtime": runtime.describe(),
        "model_path": str(path),
        "model_sha256": file_sha256(path),
        **run_info,
    }
    return stats, info
