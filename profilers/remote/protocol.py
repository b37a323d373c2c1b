"""What the controller and a board's worker say to each other, as JSON objects.

Over SSH each message is one line of JSON; a model file follows its ``model`` line as raw
bytes. Ray tasks exchange the same dicts as task arguments and results.

Controller -> worker: ``{"type": "start", "protocol": 1, "job": RemoteJob.to_dict()}``, then per
model ``{"type": "model", "key", "name", "size", "sha256"}`` plus ``size`` bytes, and finally
``{"type": "end"}``.
Worker -> controller: ``hello`` (host fingerprint and runtime description) or ``fatal``; then
per model ``result`` (latency statistics and run description) or ``failed`` (stage, error).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profilers.errors import ConfigError, ProfilerError, RuntimeUnavailableError
from profilers.failures import stage_of
from profilers.probe import ProbeConfig
from profilers.stats import LatencyStats
from profilers.targets import Failed, Measured, Outcome
from profilers.timing import TimingConfig

PROTOCOL_VERSION = 2  # 2: rounds (probe, cpus, oversubscribe in the job)
WORKER_MODULE = "profilers.remote.worker"


@dataclass(frozen=True)
class RemoteJob:
    """How a board times each model: runtime and its options, timing, batch size, seed.

    Attributes:
        runtime: Registered runtime name, created on the board.
        runtime_options: Keyword arguments of the runtime (e.g. ``intra_op_threads``); options
            left out take the board's defaults (e.g. every core of the board).
        timing: Stopping rule per model.
        batch_size: Batch size of the random inputs.
        seed: Seed of the random inputs.
        energy_meter: Energy meter read on the board (``profilers.energy``), or None.
        probe: The disturbance probe timed beside each model on the board; None times none.
        cpus: CPUs the board's worker pins itself to; None leaves its affinity.
        oversubscribe: Allow more runtime threads than the board's usable cores.
        probe_baseline_ms: A quiet probe time known from earlier tasks (Ray), or None.
    """

    runtime: str = "onnxruntime"
    runtime_options: dict[str, Any] = field(default_factory=dict)
    timing: TimingConfig = field(default_factory=TimingConfig)
    batch_size: int = 1
    seed: int = 0
    energy_meter: str | None = None
    probe: ProbeConfig | None = None
    cpus: tuple[int, ...] | None = None
    oversubscribe: bool = False
    probe_baseline_ms: float | None = None

    def __post_init__(self) -> None:
        if self.cpus is not None:
            object.__setattr__(self, "cpus", tuple(int(c) for c in self.cpus))
        try:
            options = json.loads(json.dumps(dict(self.runtime_options)))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"RemoteJob.runtime_options must be JSON data ({exc})") from exc
        object.__setattr__(self, "runtime_options", options)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigError(f"RemoteJob.batch_size must be an integer, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise ConfigError(f"RemoteJob.batch_size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        """Return the job as JSON data."""
        return {
            "runtime": self.runtime,
            "runtime_options": dict(self.runtime_options),
            "timing": self.timing.to_dict(),
            "batch_size": self.batch_size,
            "seed": self.seed,
            "energy_meter": self.energy_meter,
            "probe": None if self.probe is None else self.probe.to_dict(),
            "cpus": None if self.cpus is None else list(self.cpus),
            "oversubscribe": self.oversubscribe,
            "probe_baseline_ms": self.probe_baseline_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RemoteJob:
        """Build a job from ``to_dict`` output."""
        data = dict(data)
        data["timing"] = TimingConfig.from_dict(data.get("timing", {}))
        if data.get("probe") is not None:
            data["probe"] = ProbeConfig.from_dict(data["probe"])
        return cls(**data)


def start_runtime(job: RemoteJob) -> tuple[Any, Any, dict[str, Any]]:
    """On the board: pin, create the job's runtime and meter; return them and the ``hello``.

    More runtime threads than the board's usable cores (without ``job.oversubscribe``) and
    CPUs the board lacks are ``fatal``, before any thread pool is made.

    Returns:
        ``(runtime, meter, message)``; runtime is None when the message is ``fatal``, meter
        None when the job reads no energy. A ``hello`` carries the ``placement``.
    """
    from devices import host_fingerprint
    from profilers.runtimes import create_runtime
    from profilers.targets import open_energy_meter, place

    try:
        runtime = create_runtime(job.runtime, **job.runtime_options)
        placement = place(runtime, job.cpus, job.oversubscribe)
        runtime_info = runtime.describe()
        meter = open_energy_meter(job.energy_meter)
    except (ProfilerError, TypeError) as exc:  # unknown runtime or meter, library missing
        fatal = {"type": "fatal", "error_type": type(exc).__name__, "error": str(exc)}
        return None, None, fatal
    hello = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "host": host_fingerprint(),
        "runtime_info": runtime_info,
        "placement": placement,
    }
    return runtime, meter, hello


def open_job_probe(runtime: Any, job: RemoteJob) -> Any:
    """On the board: the job's disturbance probe, loaded by ``runtime`` and calibrated; or None."""
    if job.probe is None:
        return None
    from profilers.probe import open_probe

    probe = open_probe(runtime, job.probe, baseline_ms=job.probe_baseline_ms)
    if job.probe_baseline_ms is None:
        probe.calibrate()
    return probe


def measure_file(
    runtime: Any,
    meter: Any,
    job: RemoteJob,
    key: str,
    path: Path,
    *,
    probe: Any = None,
    placement: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """On the board: time one round of a model file beside the probe; ``result`` or ``failed``."""
    from profilers.round_timing import timed_round

    try:
        stats, info = timed_round(
            path,
            runtime,
            job.timing,
            job.batch_size,
            seed=job.seed,
            energy_meter=meter,
            probe=probe,
            placement=placement,
        )
    except RuntimeUnavailableError:
        raise
    except Exception as exc:  # out of memory, unsupported operator: this model only
        return failed_message(key, stage_of(exc), exc)
    return {"type": "result", "key": key, "latency": stats.to_dict(), "info": info}


def failed_message(key: str, stage: str, exc: BaseException) -> dict[str, Any]:
    """Return the ``failed`` message of ``exc`` raised for ``key`` at ``stage``."""
    return {
        "type": "failed",
        "key": key,
        "stage": stage,
        "error_type": type(exc).__name__,
        "error": str(exc) or repr(exc),
    }


def model_message(key: str, path: Path, data: bytes) -> dict[str, Any]:
    """Return the ``model`` message announcing ``data``, the bytes of the file at ``path``."""
    return {
        "type": "model",
        "key": key,
        "name": path.name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def outcome_from_message(
    message: Mapping[str, Any], local_path: Path, host: Mapping[str, Any]
) -> Outcome:
    """On the controller: turn a worker's ``result`` or ``failed`` into an outcome.

    The run description keeps the controller's path of the model (``model_path``) and the
    board's (``model_path_on_device``).
    """
    if message.get("type") == "failed":
        return Failed(
            message["key"], message["stage"], message["error_type"], message["error"], dict(host)
        )
    info = dict(message["info"])
    info["model_path_on_device"] = info.get("model_path")
    info["model_path"] = str(local_path)
    return Measured(message["key"], LatencyStats.from_dict(message["latency"]), info, dict(host))


def encode(message: Mapping[str, Any]) -> bytes:
    """Return ``message`` as one line of JSON, newline included."""
    return json.dumps(message, sort_keys=True).encode("utf-8") + b"\n"
