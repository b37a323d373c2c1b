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
from profilers.probe import ProbeConfig
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


def runtime_threads(runtime: Any) -> int | None:
    """Return the threads a runtime computes with (intra-op threads, torch threads), if any."""
    for name in ("intra_op_threads", "threads"):
        value = getattr(runtime, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def place(runtime: Any, cpus: tuple[int, ...] | None, oversubscribe: bool) -> dict[str, Any]:
    """Pin this process to ``cpus``, refuse more threads than cores; return the placement.

    Raises:
        ConfigError: For CPUs this process may not use, or threads beyond the usable cores
            without ``oversubscribe``.
    """
    from profilers.cpus import check_threads, pin_cpus

    usable = pin_cpus(cpus)
    threads = runtime_threads(runtime)
    check_threads(threads, len(usable), oversubscribe=oversubscribe)
    return {
        "threads": threads,
        "cpus": None if cpus is None else list(usable),
        "usable_cores": len(usable),
        "oversubscribe": oversubscribe,
    }


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
    """Times models in this process, one round per job (``profilers.round_timing``).

    Args:
        runtime: The runtime that loads and times the models.
        timing: Stopping rule per model (per round, in a campaign of rounds).
        batch_size: Batch size of the random inputs.
        seed: Seed of the random inputs.
        energy_meter: Name of the energy meter to read (``profilers.energy``), or None to
            measure no energy.
        probe: The disturbance probe timed beside each job, loaded by ``runtime``; None
            times none.
        cpus: CPUs to pin this process to when the target opens (``os.sched_setaffinity``);
            None leaves its affinity.
        oversubscribe: Allow more runtime threads than usable cores.
    """

    def __init__(
        self,
        runtime: Runtime,
        timing: TimingConfig,
        batch_size: int = 1,
        *,
        seed: int = 0,
        energy_meter: str | None = None,
        probe: ProbeConfig | None = None,
        cpus: tuple[int, ...] | None = None,
        oversubscribe: bool = False,
    ) -> None:
        self.runtime = runtime
        self.timing = timing
        self.batch_size = batch_size
        self.seed = seed
        self.energy_meter = energy_meter
        self.probe_config = probe
        self.cpus = cpus
        self.oversubscribe = oversubscribe
        self._meter = None
        self._probe = None
        self._placement: dict[str, Any] = {}
        self._host: dict[str, Any] = {}

    def open(self) -> TargetInfo:
        from devices import host_fingerprint
        from profilers.probe import open_probe

        self._placement = place(self.runtime, self.cpus, self.oversubscribe)
        info = TargetInfo(host=host_fingerprint(), runtime_info=self.runtime.describe())
        self._host = info.host
        self._meter = open_energy_meter(self.energy_meter)
        if self.probe_config is not None and self._probe is None:
            self._probe = open_probe(self.runtime, self.probe_config)
            self._probe.calibrate()
        return info

    def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()

    def measure(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        from profilers.round_timing import timed_round

        host = self._host
        for key, source in jobs:
            path = materialize(key, source)
            if isinstance(path, Failed):
                yield path
                continue
            try:
                stats, info = timed_round(
                    path,
                    self.runtime,
                    self.timing,
                    self.batch_size,
                    seed=self.seed,
                    energy_meter=self._meter,
                    probe=self._probe,
                    placement=self._placement,
                )
            except RuntimeUnavailableError:
                raise
            except Exception as exc:  # out of memory, unsupported operator, ...: this model only
                yield Failed.from_exception(key, stage_of(exc), exc, host)
                continue
            yield Measured(key, stats, info, host)
