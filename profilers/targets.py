"""Where a campaign's models are timed: this process, a board over SSH, or Ray nodes.

A ``Target`` turns ``(key, model source)`` jobs into outcomes, one per job as each finishes:
``Measured`` (latency statistics and how they were taken) or ``Failed`` (the stage and the
error of a model that could not be measured). Errors of a single model are outcomes; errors of
the target itself (runtime missing, host unreachable, connection lost) are raised, and the
campaign stops with every finished measurement already stored.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from profilers.errors import RuntimeUnavailableError
from profilers.failures import stage_of
from profilers.runtimes.base import Runtime
from profilers.stats import LatencyStats
from profilers.timing import TimingConfig

ModelSource = str | PathLike | Callable[[], "str | PathLike"]
Job = tuple[str, ModelSource]


@dataclass(frozen=True)
class Measured:
    """A model timed: its statistics, ``profile_onnx``'s run description, and the host."""

    key: str
    latency: LatencyStats
    info: dict[str, Any]
    host: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """A model that could not be measured, at ``stage`` (``profilers.failures.FAILURE_STAGES``)."""

    key: str
    stage: str
    error_type: str
    error: str
    host: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_exception(cls, key: str, stage: str, exc: BaseException, host=None) -> Failed:
        """Describe ``exc`` raised while ``key`` was at ``stage``."""
        return cls(key, stage, type(exc).__name__, str(exc) or repr(exc), dict(host or {}))


Outcome = Measured | Failed


@dataclass(frozen=True)
class TargetInfo:
    """What a target says when it opens: the host and the runtime (``describe()``) there."""

    host: dict[str, Any]
    runtime_info: dict[str, Any]


def open_energy_meter(name: str | None) -> Any:
    """Return the named energy meter (a null meter saying why if it cannot read), or None.

    Raises:
        UnknownMeterError: If ``name`` is not a registered meter.
    """
    if name is None:
        return None
    from profilers.energy import open_meter

    return open_meter(name)


def materialize(key: str, source: ModelSource) -> Path | Failed:
    """Return the model file of a job, calling a lazy source; a failure becomes ``Failed``.

    ``RuntimeUnavailableError`` is not a model's failure and propagates.
    """
    try:
        return Path(source() if callable(source) else source)
    except RuntimeUnavailableError:
        raise
    except Exception as exc:  # any export error of this one network: recorded, campaign goes on
        return Failed.from_exception(key, "export", exc)


class Target(abc.ABC):
    """Where models are timed. Use as a context manager: ``open`` on entry, ``close`` on exit."""

    @abc.abstractmethod
    def open(self) -> TargetInfo:
        """Connect, check the runtime can run there, and describe host and runtime."""

    @abc.abstractmethod
    def measure(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Time every job, yielding one outcome per job as each finishes (in any order)."""

    def close(self) -> None:  # noqa: B027 - most targets hold nothing to release
        """Release connections and processes; idempotent."""

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LocalTarget(Target):
    """Times models in this process with ``profile_onnx``.

    Args:
        runtime: The runtime that loads and times the models.
        timing: Stopping rule per model.
        batch_size: Batch size of the random inputs.
        seed: Seed of the random inputs.
        energy_meter: Name of the energy meter to read (``profilers.energy``), or None to
            measure no energy.
    """

    def __init__(
        self,
        runtime: Runtime,
        timing: TimingConfig,
        batch_size: int = 1,
        *,
        seed: int = 0,
        energy_meter: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.timing = timing
        self.batch_size = batch_size
        self.seed = seed
        self.energy_meter = energy_meter
        self._meter = None
        self._host: dict[str, Any] = {}

    def open(self) -> TargetInfo:
        from devices import host_fingerprint

        info = TargetInfo(host=host_fingerprint(), runtime_info=self.runtime.describe())
        self._host = info.host
        self._meter = open_energy_meter(self.energy_meter)
        return info

    def measure(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        from profilers.campaign import profile_onnx

        host = self._host
        for key, source in jobs:
            path = materialize(key, source)
            if isinstance(path, Failed):
                yield path
                continue
            try:
                stats, info = profile_onnx(
                    path,
                    self.runtime,
                    self.timing,
                    self.batch_size,
                    seed=self.seed,
                    energy_meter=self._meter,
                )
            except RuntimeUnavailableError:
                raise
            except Exception as exc:  # out of memory, unsupported operator, ...: this model only
                yield Failed.from_exception(key, stage_of(exc), exc, host)
                continue
            yield Measured(key, stats, info, host)
