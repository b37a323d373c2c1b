"""Measured latencies of a pool's own networks, on this machine or a board over SSH.

A MetaPredictor ranks the members by the latency of their architectures' standard-size
networks. This module times the networks the ensemble will run: each member is exported to
ONNX (``<member>/model.onnx``) and timed with ONNX Runtime on the device, through the same
`profilers` targets as ``hwnas profile`` and ``hwnas export``. Each member's statistics are
written to ``<member>/latency.json`` the moment it is timed, under a key of the device and the
timing settings, so an interrupted measurement keeps what it finished and a rerun with the
same settings times nothing again. Works for both spaces (NAS-Bench-201 and DARTS cells).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hwnas.errors import InputError

ONNX_FILE = "model.onnx"
LATENCY_FILE = "latency.json"


def _default_timing():
    from profilers.timing import default_timing

    return default_timing()


@dataclass(frozen=True)
class MeasureConfig:
    """Where and how the members are timed.

    Attributes:
        device: A `devices.Device` that runs ONNX Runtime (this machine, or ``ssh://``).
        intra_op_threads: ONNX Runtime threads; None uses every usable core of the device.
        batch_size: Images per timed inference.
        timing: The profilers' stopping rule per member (default: at most 2 s of runs).
        exporter: ONNX exporter of the members ("auto", "dynamo" or "legacy").
    """

    device: object
    intra_op_threads: int | None = 1
    batch_size: int = 1
    timing: object = field(default_factory=_default_timing)
    exporter: str = "auto"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InputError(f"batch_size must be positive, got {self.batch_size}")
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise InputError(
                f"intra_op_threads must be positive or None, got {self.intra_op_threads}"
            )

    def key(self) -> dict:
        """What a stored latency must match to be reused."""
        return {
            "device": self.device.name,
            "runtime": "onnxruntime",
            "intra_op_threads": self.intra_op_threads,
            "batch_size": self.batch_size,
            "timing": asdict(self.timing),
        }


def stored_latency(member_dir: str | Path, config: MeasureConfig) -> dict | None:
    """The latency statistics stored for `member_dir` under `config`'s key, or None."""
    path = Path(member_dir) / LATENCY_FILE
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise InputError(
            f"{path} is unreadable ({err}); delete it to measure the member again"
        ) from None
    key = config.key()
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict) and record.get("key") == key:
            return record.get("latency")
    return None


def _store(member_dir: Path, config: MeasureConfig, latency: dict, measurement: dict) -> None:
    """Adds (or replaces) the record of `config`'s key in ``latency.json``, atomically."""
    path = member_dir / LATENCY_FILE
    records = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    key = config.key()
    records = [r for r in records if r.get("key") != key]
    records.append({"key": key, "latency": latency, "measurement": measurement})
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def member_onnx(member_dir: str | Path, exporter: str = "auto") -> Path:
    """``<member>/model.onnx``, exported from the member's weights unless it exists."""
    from hwnas.core.export.onnx import OnnxExport, export_onnx
    from hwnas.methods.nes.pool import load_member

    member_dir = Path(member_dir)
    path = member_dir / ONNX_FILE
    if path.is_file():
        return path
    spec, module = load_member(member_dir)
    partial = member_dir / "model.partial.onnx"
    export_onnx(module, tuple(spec.input_shape), partial, OnnxExport(exporter=exporter))
    os.replace(partial, path)
    return path


def measure_member_latencies(
    member_dirs: Sequence[str | Path],
    config: MeasureConfig,
    on_member: Callable[[Path, dict, bool], None] | None = None,
) -> list[float]:
    """The median latency (ms) of each member's network on `config.device`, in order.

    Stored latencies of the same key are read back; the others are exported and timed, each
    stored as soon as it is measured. `on_member(dir, latency, measured)` sees every member.

    Raises:
        InputError: for a member the device could not time (the ones timed before it are
            kept), or a device that cannot run ONNX Runtime.
        DeviceError: for a device known only from published tables.
    """
    from profilers.remote import RemoteJob, target_for
    from profilers.targets import Failed

    dirs = [Path(d) for d in member_dirs]
    latencies: dict[Path, dict] = {}
    for member_dir in dirs:
        stored = stored_latency(member_dir, config)
        if stored is not None:
            latencies[member_dir] = stored
            if on_member is not None:
                on_member(member_dir, stored, False)
    pending = list(dict.fromkeys(d for d in dirs if d not in latencies))
    if pending:
        options = {}
        if config.intra_op_threads is not None:
            options["intra_op_threads"] = config.intra_op_threads
        job = RemoteJob("onnxruntime", options, config.timing, config.batch_size)
        target = target_for(config.device, job)  # a device known only from tables: DeviceError
        if "onnxruntime" not in config.device.runtimes:
            raise InputError(
                f"device {config.device.name!r} does not run onnxruntime (runtimes: "
                f"{', '.join(config.device.runtimes) or 'none'}); pool members are timed as "
                "ONNX files"
            )
        by_key = {str(d): d for d in pending}
        with target:
            target.open()  # an unreachable board is reported before anything is exported
            jobs = [(str(d), lambda d=d: member_onnx(d, config.exporter)) for d in pending]
            for outcome in target.measure(jobs):
                member_dir = by_key[outcome.key]
                if isinstance(outcome, Failed):
                    raise InputError(
                        f"pool member {member_dir.name} could not be timed on "
                        f"{config.device.name} ({outcome.stage}: {outcome.error_type}: "
                        f"{outcome.error}); the members timed before it are kept"
                    )
                latency = outcome.latency.to_dict()
                measurement = {"host": outcome.host, **outcome.info}
                _store(member_dir, config, latency, measurement)
                latencies[member_dir] = latency
                if on_member is not None:
                    on_member(member_dir, latency, True)
    return [float(latencies[d]["median_ms"]) for d in dirs]
