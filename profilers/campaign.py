"""Profiling campaigns: time many ONNX models on one device, writing each result at once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from devices import Device, host_fingerprint
from profilers.errors import StoreError
from profilers.measurement import Measurement
from profilers.runtimes.base import Runtime
from profilers.stats import LatencyStats
from profilers.store import MeasurementStore
from profilers.timing import TimingConfig, time_callable

ModelSource = str | PathLike | Callable[[], "str | PathLike"]
Progress = Callable[[int, int, str, "Measurement | None"], None]


@dataclass(frozen=True)
class CampaignResult:
    """Which keys a campaign measured and which it skipped as already stored."""

    measured: tuple[str, ...]
    skipped: tuple[str, ...]

    @property
    def total(self) -> int:
        """Return the number of items the campaign went through."""
        return len(self.measured) + len(self.skipped)


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
) -> tuple[LatencyStats, dict[str, Any]]:
    """Time one ONNX file on random inputs of ``batch_size``.

    Returns:
        The latency statistics and a JSON-serialisable dict describing the run: ``runtime``
        (``runtime.describe()`` after loading), ``inputs`` (name, declared and timed shape,
        dtype), ``model_path``, ``model_sha256``, ``batch_size``, ``seed`` and ``timing``.
    """
    timing = timing or TimingConfig()
    path = Path(path)
    with runtime.load(path) as session:
        inputs = session.random_inputs(batch_size, seed=seed)
        stats = time_callable(lambda: session.run(inputs), timing)
        input_info = [
            {**spec.to_dict(), "timed_shape": list(inputs[spec.name].shape)}
            for spec in session.input_specs
        ]
    info = {
        "runtime": runtime.describe(),
        "inputs": input_info,
        "model_path": str(path),
        "model_sha256": file_sha256(path),
        "batch_size": batch_size,
        "seed": seed,
        "timing": timing.to_dict(),
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
) -> CampaignResult:
    """Measure every item not yet in ``store`` and write each measurement as it finishes.

    Before exporting or timing anything, the runtime describes itself (so a missing runtime
    library is reported first) and every stored row the campaign would skip is checked to have
    been measured with the same runtime settings.

    Args:
        items: ``(key, source)`` pairs; ``source`` is an ONNX path or a zero-argument callable
            returning one, called only when the key must be measured (lazy export).
        store: Where measurements go; rows for (device, runtime, precision, batch_size) that
            already exist are skipped, so an interrupted campaign resumes where it stopped.
        runtime: Runtime that loads and times the models.
        device: The device the campaign runs on (the local machine).
        timing: Stopping rule for each model; default ``TimingConfig()``.
        batch_size: Batch size of the random inputs.
        precision: Precision label recorded with each row (the ONNX files' precision).
        progress: Called as ``progress(done, total, key, measurement)`` after each item,
            with ``measurement=None`` for a skipped item.

    Raises:
        StoreError: If a stored row of an item was measured with other runtime settings
            (``Runtime.comparable_settings``), e.g. other threads or library version.
        RuntimeUnavailableError: If the runtime cannot run here.
    """
    timing = timing or TimingConfig()
    items = list(items)
    total = len(items)
    settings = runtime.comparable_settings()  # fails early where the runtime is missing
    keys = [key for key, _ in items]
    _check_stored_settings(store, keys, runtime, settings, device.name, precision, batch_size)
    host = host_fingerprint()
    energy_reason = (
        "no energy meter on this device"
        if device.energy_meter is None
        else f"energy meter {device.energy_meter!r} is not read by run_campaign"
    )
    measured: list[str] = []
    skipped: list[str] = []
    for done, (key, source) in enumerate(items, start=1):
        if store.has(key, device.name, runtime.name, precision, batch_size):
            skipped.append(key)
            if progress is not None:
                progress(done, total, key, None)
            continue
        path = source() if callable(source) else source
        stats, info = profile_onnx(path, runtime, timing, batch_size)
        fingerprint = {
            "host": host,
            "device": device.to_dict(),
            "precision": precision,
            **info,
        }
        measurement = Measurement(
            key=key,
            device=device.name,
            runtime=runtime.name,
            precision=precision,
            batch_size=batch_size,
            latency=stats,
            energy_reason=energy_reason,
            fingerprint=fingerprint,
            runtime_info=info["runtime"],
        )
        store.add(measurement)
        measured.append(key)
        if progress is not None:
            progress(done, total, key, measurement)
    return CampaignResult(measured=tuple(measured), skipped=tuple(skipped))


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
