"""A ``MeasurementFailure``: a model that could not be measured, and why.

A campaign records a model that fails (export, load or run: out of memory, an operator the
runtime lacks) as a failure row instead of stopping, so that one bad network does not end a
campaign of thousands, and a resumed campaign does not try it again unless asked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devices.description import is_label
from profilers.errors import ConfigError, ModelLoadError
from profilers.measurement import utc_now_iso

FAILURE_STAGES = ("export", "load", "run")
"""Where a model failed: making its file, loading it into the runtime, or running it."""

_MAX_ERROR_CHARS = 4000


def stage_of(exc: BaseException) -> str:
    """Return the stage a runtime's exception belongs to: ``"load"`` or ``"run"``."""
    return "load" if isinstance(exc, ModelLoadError) else "run"


@dataclass(frozen=True)
class MeasurementFailure:
    """A model that failed on one device, runtime and setting.

    Attributes:
        key: The model's key (the architecture string).
        device: Device name.
        runtime: Runtime name.
        precision: Precision label.
        batch_size: Batch size it was to be timed at.
        stage: One of ``FAILURE_STAGES``.
        error_type: The exception's class name, e.g. ``"MemoryError"``.
        error: The exception's message (at most 4000 characters kept).
        fingerprint: Where it failed (host, runtime), JSON data.
        created_at: UTC ISO 8601 time of the failure.
    """

    key: str
    device: str
    runtime: str
    precision: str
    batch_size: int
    stage: str
    error_type: str
    error: str
    fingerprint: dict[str, Any] = field(default_factory=dict, hash=False)
    created_at: str = field(default_factory=utc_now_iso)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ConfigError(
                f"MeasurementFailure.key must be a non-empty string, got {self.key!r}"
            )
        for name in ("device", "runtime", "precision"):
            if not is_label(getattr(self, name)):
                raise ConfigError(
                    f"MeasurementFailure.{name} must be lowercase letters, digits and '_-.', "
                    f"got {getattr(self, name)!r}"
                )
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigError(
                f"MeasurementFailure.batch_size must be an integer, got {self.batch_size!r}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"MeasurementFailure.batch_size must be >= 1, got {self.batch_size}")
        if self.stage not in FAILURE_STAGES:
            raise ConfigError(
                f"MeasurementFailure.stage must be one of {FAILURE_STAGES}, got {self.stage!r}"
            )
        for name in ("error_type", "error"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"MeasurementFailure.{name} must be a string")
        if len(self.error) > _MAX_ERROR_CHARS:
            object.__setattr__(self, "error", self.error[:_MAX_ERROR_CHARS] + " [...]")
        if not isinstance(self.fingerprint, Mapping):
            raise ConfigError("MeasurementFailure.fingerprint must be a dict")
        try:
            object.__setattr__(self, "fingerprint", json.loads(json.dumps(dict(self.fingerprint))))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"MeasurementFailure.fingerprint must be JSON data ({exc})") from exc
        try:
            datetime.fromisoformat(self.created_at)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"MeasurementFailure.created_at must be an ISO 8601 time, got {self.created_at!r}"
            ) from exc

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        *,
        key: str,
        device: str,
        runtime: str,
        precision: str,
        batch_size: int,
        stage: str,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> MeasurementFailure:
        """Record ``exc`` as the failure of ``key`` at ``stage``."""
        return cls(
            key=key,
            device=device,
            runtime=runtime,
            precision=precision,
            batch_size=batch_size,
            stage=stage,
            error_type=type(exc).__name__,
            error=str(exc) or repr(exc),
            fingerprint=dict(fingerprint or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON data."""
        return {
            "key": self.key,
            "device": self.device,
            "runtime": self.runtime,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "stage": self.stage,
            "error_type": self.error_type,
            "error": self.error,
            "fingerprint": json.loads(json.dumps(self.fingerprint)),
            "created_at": self.created_at,
        }
