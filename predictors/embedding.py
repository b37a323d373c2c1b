"""Device embeddings: where a device sits among devices, from its reference measurements.

A device is described by what it measured on a fixed set of reference architectures (HELP,
Lee et al., NeurIPS 2021, uses 10). The embedding is those values on a log scale, min-max
normalised, so it says how the references *rank and spread* on the device, not how fast the
device is. The same minimum and maximum map any latency (or energy) of the device onto the
scale the MetaPredictor learns, and back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class EmbeddingError(ValueError):
    """Reference measurements that cannot describe a device."""


@dataclass(frozen=True)
class DeviceEmbedding:
    """A device's reference measurements, normalised.

    Attributes:
        values: The embedding, (R,): ``(log v - log_min) / (log_max - log_min)`` of the R
            reference measurements, each in [0, 1].
        log_min: Natural log of the smallest reference measurement.
        log_max: Natural log of the largest reference measurement.
    """

    values: tuple[float, ...]
    log_min: float
    log_max: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.log_min) and math.isfinite(self.log_max)):
            raise EmbeddingError("embedding bounds must be finite")
        if self.log_max <= self.log_min:
            raise EmbeddingError(
                "the reference measurements are all equal: they cannot tell how this device "
                "ranks architectures (measure them again)"
            )

    @classmethod
    def from_reference(cls, reference: Sequence[float] | np.ndarray) -> DeviceEmbedding:
        """The embedding of a device whose reference architectures measured ``reference``.

        Raises:
            EmbeddingError: If a value is not a finite positive number or all are equal.
        """
        values = np.asarray(reference, dtype=np.float64).ravel()
        bad = [i for i, v in enumerate(values) if not (math.isfinite(v) and v > 0)]
        if bad:
            raise EmbeddingError(
                "reference measurements must be finite and positive; "
                + ", ".join(f"reference {i} is {float(values[i])!r}" for i in bad)
            )
        if values.size < 2:
            raise EmbeddingError(f"need at least 2 reference measurements, got {values.size}")
        logs = np.log(values)
        log_min, log_max = float(logs.min()), float(logs.max())
        if log_max <= log_min:
            raise EmbeddingError(
                "the reference measurements are all equal: they cannot tell how this device "
                "ranks architectures (measure them again)"
            )
        scaled = (logs - log_min) / (log_max - log_min)
        return cls(tuple(float(v) for v in scaled), log_min, log_max)

    @property
    def array(self) -> np.ndarray:
        """The embedding as a float32 array, (R,)."""
        return np.asarray(self.values, dtype=np.float32)

    def normalise(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Measurements of this device on the embedding's scale (the references span 0 to 1)."""
        values = np.asarray(values, dtype=np.float64)
        return (np.log(values) - self.log_min) / (self.log_max - self.log_min)

    def denormalise(self, scaled: Sequence[float] | np.ndarray) -> np.ndarray:
        """Inverse of `normalise`: values on the embedding's scale back to measurements."""
        scaled = np.asarray(scaled, dtype=np.float64)
        return np.exp(scaled * (self.log_max - self.log_min) + self.log_min)

    def to_dict(self) -> dict[str, Any]:
        return {"values": list(self.values), "log_min": self.log_min, "log_max": self.log_max}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceEmbedding:
        try:
            return cls(
                tuple(float(v) for v in data["values"]),
                float(data["log_min"]),
                float(data["log_max"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise EmbeddingError(f"malformed device embedding {dict(data)!r}: {err}") from None
