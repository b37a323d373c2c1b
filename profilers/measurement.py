"""A ``Measurement``: one row of the store, latency statistics plus energy and provenance."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from devices.description import is_label
from profilers.errors import ConfigError
from profilers.rounds import RoundsSummary
from profilers.stats import LatencyStats

ENERGY_FIELDS = ("energy_mj", "energy_net_mj", "power_w")


def utc_now_iso() -> str:
    """Return the current UTC time as ISO 8601 with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_json(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"Measurement.{what} must be a dict, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Measurement.{what} must be JSON-serialisable ({exc})") from exc


@dataclass(frozen=True)
class Measurement:
    """Latency (and energy, where measured) of one model on one device, runtime and setting.

    Attributes:
        key: Opaque identifier of the model measured (callers use the architecture string).
        device: Device name.
        runtime: Runtime name.
        precision: Numeric precision label, e.g. ``"fp32"``, ``"fp16"``, ``"int8"``.
        batch_size: Batch size of the timed inputs.
        latency: Latency statistics.
        energy_mj: Gross energy per inference in millijoules, or None if not measured.
        energy_net_mj: Energy per inference net of idle power, or None.
        power_w: Mean power during the runs in watts, or None.
        energy_reason: Why energy is missing or how it was measured; required when any
            energy field is None, so that an absent number always says why.
        fingerprint: Provenance of the run (host, runtime, inputs, timing), JSON data.
        runtime_info: ``Runtime.describe()`` of the runtime that timed it.
        created_at: UTC ISO 8601 time the measurement finished.
        rounds: What the cell's rounds say (count, disturbed, interval of the median, the
            unstable flag); None for a measurement taken in one window.
    """

    key: str
    device: str
    runtime: str
    precision: str
    batch_size: int
    latency: LatencyStats
    energy_mj: float | None = None
    energy_net_mj: float | None = None
    power_w: float | None = None
    energy_reason: str | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict, hash=False)
    runtime_info: dict[str, Any] = field(default_factory=dict, hash=False)
    created_at: str = field(default_factory=utc_now_iso)
    rounds: RoundsSummary | None = None

    def __post_init__(self) -> None:
        if self.rounds is not None and not isinstance(self.rounds, RoundsSummary):
            raise ConfigError(
                f"Measurement.rounds must be a RoundsSummary or None, got {self.rounds!r}"
            )
        if not isinstance(self.key, str) or not self.key:
            raise ConfigError(f"Measurement.key must be a non-empty string, got {self.key!r}")
        for name in ("device", "runtime", "precision"):
            value = getattr(self, name)
            if not is_label(value):
                raise ConfigError(
                    f"Measurement.{name} must be lowercase letters, digits and '_-.', got {value!r}"
                )
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigError(f"Measurement.batch_size must be an integer, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise ConfigError(f"Measurement.batch_size must be >= 1, got {self.batch_size}")
        if not isinstance(self.latency, LatencyStats):
            raise ConfigError(
                f"Measurement.latency must be LatencyStats, got {type(self.latency).__name__}"
            )
        for name in ENERGY_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"Measurement.{name} must be a number or None, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"Measurement.{name} must be finite and >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.energy_reason is not None and not isinstance(self.energy_reason, str):
            raise ConfigError(
                f"Measurement.energy_reason must be a string, got {self.energy_reason!r}"
            )
        missing = [name for name in ENERGY_FIELDS if getattr(self, name) is None]
        if missing and not self.energy_reason:
            raise ConfigError(
                f"Measurement {self.key!r}: {missing} not measured but energy_reason is empty; "
                "say why, e.g. energy_reason='no energy meter on this device'"
            )
        object.__setattr__(self, "fingerprint", _check_json(self.fingerprint, "fingerprint"))
        object.__setattr__(self, "runtime_info", _check_json(self.runtime_info, "runtime_info"))
        try:
            datetime.fromisoformat(self.created_at)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"Measurement.created_at must be an ISO 8601 time, got {self.created_at!r}"
            ) from exc

    @property
    def latency_ms(self) -> float:
        """Return the median latency, the figure reported as the model's latency."""
        return self.latency.median_ms

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict; ``latency`` is nested as ``LatencyStats.to_dict``."""
        return {
            "key": self.key,
            "device": self.device,
            "runtime": self.runtime,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "latency": self.latency.to_dict(),
            "energy_mj": self.energy_mj,
            "energy_net_mj": self.energy_net_mj,
            "power_w": self.power_w,
            "energy_reason": self.energy_reason,
            "fingerprint": json.loads(json.dumps(self.fingerprint)),
            "runtime_info": json.loads(json.dumps(self.runtime_info)),
            "created_at": self.created_at,
            "rounds": None if self.rounds is None else self.rounds.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Build a measurement from the output of ``to_dict``."""
        data = dict(data)
        latency = data.pop("latency", None)
        if data.get("rounds") is not None:
            data["rounds"] = RoundsSummary(**data["rounds"])
        if not isinstance(latency, Mapping):
            raise ConfigError("Measurement.from_dict: 'latency' must be a dict of LatencyStats")
        try:
            return cls(latency=LatencyStats.from_dict(latency), **data)
        except TypeError as exc:
            raise ConfigError(f"Measurement.from_dict: {exc}") from exc


@dataclass(frozen=True)
class RoundRecord:
    """One timed round of a cell: a row of the store's ``rounds`` table.

    Attributes:
        key: The cell's key.
        device: Device name.
        runtime: Runtime name.
        precision: Precision label.
        batch_size: Batch size.
        round: Round number of the cell (0-based; base rounds first, then extra ones).
        latency: The round's latency statistics.
        probe_ratio: The slower probe window beside the round over the quiet baseline, or
            None where no probe ran.
        disturbed: Whether the probe ran slow beyond its threshold (the round is left out of
            the cell's latency and timed again).
        info: The probe windows, the time waited for quiet, the host state (load average,
            CPU steal, clock) and why the round was scheduled, JSON data.
        fingerprint: Provenance of the run, as in ``Measurement``.
        runtime_info: ``Runtime.describe()`` of the runtime that timed it.
        created_at: UTC ISO 8601 time the round finished.
    """

    key: str
    device: str
    runtime: str
    precision: str
    batch_size: int
    round: int
    latency: LatencyStats
    probe_ratio: float | None = None
    disturbed: bool = False
    info: dict[str, Any] = field(default_factory=dict, hash=False)
    fingerprint: dict[str, Any] = field(default_factory=dict, hash=False)
    runtime_info: dict[str, Any] = field(default_factory=dict, hash=False)
    created_at: str = field(default_factory=utc_now_iso)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ConfigError(f"RoundRecord.key must be a non-empty string, got {self.key!r}")
        if isinstance(self.round, bool) or not isinstance(self.round, int) or self.round < 0:
            raise ConfigError(f"RoundRecord.round must be an integer >= 0, got {self.round!r}")
        if not isinstance(self.latency, LatencyStats):
            raise ConfigError("RoundRecord.latency must be LatencyStats")
        if self.probe_ratio is not None:
            if not math.isfinite(self.probe_ratio) or self.probe_ratio <= 0:
                raise ConfigError(
                    f"RoundRecord.probe_ratio must be finite and > 0, got {self.probe_ratio!r}"
                )
            object.__setattr__(self, "probe_ratio", float(self.probe_ratio))
        object.__setattr__(self, "disturbed", bool(self.disturbed))
        for name in ("info", "fingerprint", "runtime_info"):
            object.__setattr__(self, name, _check_json(getattr(self, name), name))
