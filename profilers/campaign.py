"""Profiling campaigns: time many ONNX models on one device, writing each result at once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from devices import Device
from profilers.energy.base import EnergyMeter
from profilers.energy.measure import EnergyConfig
from profilers.errors import StoreError
from profilers.failures import MeasurementFailure
from profilers.measurement import Measurement
from profilers.profile import profile_session
from profilers.runtimes.base import Runtime
from profilers.stats import LatencyStats
from profilers.store import MeasurementStore
from profilers.targets import Failed, LocalTarget, Outcome, Target
from profilers.timing import TimingConfig

ModelSource = str | PathLike | Callable[[], "str | PathLike"]
Progress = Callable[[int, int, str, "Measurement | MeasurementFailure | None"], None]


@dataclass(frozen=True)
class CampaignResult:
    """Which keys a campaign measured, which failed, and which it skipped as already stored.

    Attributes:
        measured: Keys timed in this run.
        skipped: Keys whose measurement was already stored.
        failed: Keys that failed in this run (recorded in the store's failures).
        skipped_failed: Keys whose failure was already stored and not retried.
    """

    measured: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[str, ...] = ()
    skipped_failed: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """Return the number of items the campaign went through."""
        return len(self.measured) + len(self.skipped) + len(self.failed) + len(self.skipped_failed)


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
) -> tuple[LatencyStats, dict[str, Any]]:
    """Time one ONNX file on random inputs of ``batch_size``, and its energy with a meter.

    Args:
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
            session, timing, batch_size, seed=seed, energy_meter=energy_meter, energy=energy
        )
    info = {
        "runtime": runtime.describe(),
        "model_path": str(path),
        "model_sha256": file_sha256(path),
        **run_info,
    }
    return stats, info


def run_campaign(
    items: Iterable[tuple[str, ModelSource]],
    store: MeasurementStore,
    runtime: Runtime,
    device: Device,
    *,
    timing: TimingConfig | None = None,
    batch_size: int = 1,
    precision: str = "fp32",
    progress: Progress | None = None,
    retry_failed: bool = False,
    target: Target | None = None,
) -> CampaignResult:
    """Measure every item not yet in ``store`` and write each outcome as it finishes.

    Before exporting or timing anything, the target opens (so a missing runtime library or an
    unreachable board is reported first) and every stored row the campaign would skip is
    checked to have been measured with the same runtime settings. A model that fails (export,
    load or run: out of memory, unsupported operator) is stored as a failure with its error and
    the campaign goes on.

    Args:
        items: ``(key, source)`` pairs, measured in this order; ``source`` is an ONNX path or
            a zero-argument callable returning one, called only when the key must be
            measured (lazy export).
        store: Where measurements go; rows for (device, runtime, precision, batch_size) that
            already exist are skipped, so an interrupted campaign resumes where it stopped.
        runtime: The runtime: its name keys the rows, and its ``comparable_settings`` decide
            which stored rows may be resumed onto.
        device: The device the measurements belong to.
        timing: Stopping rule for each model; default ``TimingConfig()``.
        batch_size: Batch size of the random inputs.
        precision: Precision label recorded with each row (the ONNX files' precision).
        progress: Called as ``progress(done, total, key, outcome)`` after each item, with the
            ``Measurement``, the ``MeasurementFailure``, or None for an item already stored
            (skipped items are reported first).
        retry_failed: Measure again the keys whose failure is stored (default: skip them).
        target: Where the models are timed; default ``LocalTarget(runtime, ...)`` (this
            process). Remote targets: ``profilers.remote``.

    Raises:
        StoreError: If a stored row of an item was measured with other runtime settings
            (``Runtime.comparable_settings``), e.g. other threads or library version.
        RuntimeUnavailableError: If the runtime cannot run where the target times.
        RemoteError: If a remote target is unreachable or its connection drops.
    """
    timing = timing or TimingConfig()
    items = list(items)
    total = len(items)
    target = target or LocalTarget(runtime, timing, batch_size, energy_meter=device.energy_meter)
    setting = (device.name, runtime.name, precision, batch_size)
    skipped = [key for key, _ in items if store.has(key, *setting)]
    skipped_failed = (
        [] if retry_failed else [key for key, _ in items if store.has_failure(key, *setting)]
    )
    done_keys = set(skipped) | set(skipped_failed)
    todo = [(key, source) for key, source in items if key not in done_keys]
    energy_reason = "no energy meter on this device"
    measured: list[str] = []
    failed: list[str] = []
    with target:
        opened = target.open()  # fails early where the runtime or the board is missing
        settings = runtime.comparable_settings(opened.runtime_info)
        _check_stored_settings(
            store, skipped, runtime, settings, device.name, precision, batch_size
        )
        done = 0  # resumed items are reported only once their settings are known to match
        for key in skipped + skipped_failed:
            done += 1
            if progress is not None:
                progress(done, total, key, None)
        for outcome in target.measure(todo):
            row = _row(outcome, device, runtime.name, precision, batch_size, energy_reason)
            if isinstance(row, Measurement):
                store.add(row)
                measured.append(outcome.key)
            else:
                store.add_failure(row)
                failed.append(outcome.key)
            done += 1
            if progress is not None:
                progress(done, total, outcome.key, row)
    return CampaignResult(
        measured=tuple(measured),
        skipped=tuple(skipped),
        failed=tuple(failed),
        skipped_failed=tuple(skipped_failed),
    )


def _row(
    outcome: Outcome,
    device: Device,
    runtime: str,
    precision: str,
    batch_size: int,
    energy_reason: str,
) -> Measurement | MeasurementFailure:
    """Return the store row of a target's outcome."""
    if isinstance(outcome, Failed):
        return MeasurementFailure(
            key=outcome.key,
            device=device.name,
            runtime=runtime,
            precision=precision,
            batch_size=batch_size,
            stage=outcome.stage,
            error_type=outcome.error_type,
            error=outcome.error,
            fingerprint={"host": outcome.host, "device": device.to_dict()},
        )
    fingerprint = {
        "host": outcome.host,
        "device": device.to_dict(),
        "precision": precision,
        **outcome.info,
    }
    energy = outcome.info.get("energy") or {}
    if device.energy_meter is not None and energy.get("reason"):
        energy_reason = energy["reason"]  # what the meter measured, or why it could not
    return Measurement(
        key=outcome.key,
        device=device.name,
        runtime=runtime,
        precision=precision,
        batch_size=batch_size,
        latency=outcome.latency,
        energy_mj=energy.get("energy_mj"),
        energy_net_mj=energy.get("energy_net_mj"),
        power_w=energy.get("power_w"),
        energy_reason=energy_reason,
        fingerprint=fingerprint,
        runtime_info=outcome.info["runtime"],
    )


_ABSENT = "<absent>"
_SHOWN_KEYS = 3


def _settings_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Return ``{field: (old, new)}`` for every field whose value differs, absent ones included."""
    return {
        name: (old.get(name, _ABSENT), new.get(name, _ABSENT))
        for name in sorted(old.keys() | new.keys())
        if old.get(name, _ABSENT) != new.get(name, _ABSENT)
    }


def _check_stored_settings(
    store: MeasurementStore,
    keys: Iterable[str],
    runtime: Runtime,
    settings: dict[str, Any],
    device: str,
    precision: str,
    batch_size: int,
) -> None:
    """Refuse to resume onto stored rows that ``runtime`` measured with other settings.

    Raises:
        StoreError: Naming the store, the first keys that differ and each differing field's
            stored and current value.
    """
    differing: dict[str, dict[str, tuple[Any, Any]]] = {}
    for key in dict.fromkeys(keys):
        stored = store.get(key, device, runtime.name, precision, batch_size)
        if stored is None:
            continue
        diff = _settings_diff(runtime.comparable_settings(stored.runtime_info), settings)
        if diff:
            differing[key] = diff
    if not differing:
        return
    shown = [
        f"{key!r} ("
        + ", ".join(f"{name}: {old!r} stored, {new!r} now" for name, (old, new) in diff.items())
        + ")"
        for key, diff in list(differing.items())[:_SHOWN_KEYS]
    ]
    more = len(differing) - len(shown)
    raise StoreError(
        f"{store.path}: {len(differing)} of the keys to profile are already stored for device "
        f"{device!r}, runtime {runtime.name!r}, precision {precision!r}, batch size "
        f"{batch_size} but were measured with other runtime settings: "
        + "; ".join(shown)
        + (f"; and {more} more" if more else "")
        + ". Nothing was measured. Use another store, or the same settings as the stored rows"
    )
