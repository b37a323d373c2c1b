"""Job 3: export a model to ONNX (and a TensorRT engine), check it against PyTorch, time it on a
device, and write the deployment report.

One pipeline for every model kind: a source (`hwnas.jobs.export_sources`) writes the fp32 ONNX
graphs; each graph is checked against PyTorch, converted to fp16 or int8 where asked and checked
again, timed with ONNX Runtime on the device (this machine, a board over SSH, a Ray node), and,
with ``format="tensorrt"``, built into an engine on this machine's GPU that is checked and timed
as well. `report.json` and `report.md` go next to the files.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwnas.core.export import OnnxExport
from hwnas.core.export.precision import PRECISIONS
from hwnas.errors import InputError
from hwnas.jobs.export_checks import (
    build_engine_checked,
    check_file,
    profile_here,
    profile_on_target,
)
from hwnas.jobs.export_report import ExportReport, GraphReport, render_markdown
from hwnas.jobs.export_sources import ExportedGraph, ModelSource, source_from_arch
from profilers.timing import TimingConfig, default_timing

FORMATS = ("onnx", "tensorrt")
CONVERSIONS = {
    "fp16": "onnxconverter_common float16, fp32 inputs and outputs kept",
    "int8": "onnxruntime quantize_static Q/DQ: symmetric int8 activations, per-channel int8 "
    "weights, float biases",
}

log = logging.getLogger(__name__)

__all__ = ["ExportReport", "ExportSettings", "export_arch", "export_model", "render_markdown"]


@dataclass(frozen=True)
class ExportSettings:
    """How to export, check and time.

    Attributes:
        format: ``onnx``, or ``tensorrt`` (an engine built here besides the ONNX file).
        precision: ``fp32``, ``fp16`` or ``int8``: of the deployed ONNX file and the engine.
        onnx: The ONNX exporter's settings.
        timing: The timing method (warm-up, repeated runs, stopping rule).
        intra_op_threads: ONNX Runtime intra-op threads; None uses every usable core.
        batch_size: Batch size of the timed runs.
        check_batch: Inputs per comparison with PyTorch.
        calibration_data: int8: a ``.npy`` of (N, *input_shape) float32 inputs like the
            deployment data; without it, `calibration_samples` standard normal inputs.
        calibration_samples: Random int8 calibration inputs when no file is given.
    """

    format: str = "onnx"
    precision: str = "fp32"
    onnx: OnnxExport = field(default_factory=OnnxExport)
    timing: TimingConfig = field(default_factory=default_timing)
    intra_op_threads: int | None = None
    batch_size: int = 1
    check_batch: int = 4
    calibration_data: Path | None = None
    calibration_samples: int = 64

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("batch_size", "check_batch", "calibration_samples"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise InputError(f"threads must be >= 1, got {self.intra_op_threads}")
        if self.calibration_data is not None:
            if self.precision != "int8":
                raise InputError("calibration data is used at --precision int8 only")
            object.__setattr__(self, "calibration_data", Path(self.calibration_data))


def _calibration(source: ModelSource, settings: ExportSettings, out_dir: Path) -> tuple:
    """int8 calibration inputs, saved to `out_dir/calibration.npy`, and where they came from."""
    from hwnas.core.export.precision import load_calibration
    from profilers.campaign import file_sha256

    if settings.calibration_data is not None:
        samples = load_calibration(settings.calibration_data)
        origin = {"file": str(settings.calibration_data)}
    else:
        samples = source.calibration_samples(settings.calibration_samples, seed=0)
        origin = {"random_normal": len(samples), "seed": 0}
        log.warning(
            "int8 calibration on %d random normal inputs: pass calibration data (a .npy of real "
            "inputs) for a trained network",
            len(samples),
        )
    path = out_dir / "calibration.npy"
    np.save(path, samples, allow_pickle=False)
    return path, {
        **origin,
        "samples": len(samples),
        "saved": str(path),
        "sha256": file_sha256(path),
    }


def _convert(source, graph: ExportedGraph, settings: ExportSettings, out_dir: Path):
    """The fp16 or int8 copy of `graph`'s fp32 file, and how it was made."""
    from hwnas.core.export.precision import convert_fp16, quantize_int8_qdq

    stem = graph.path.stem
    if settings.precision == "fp16":
        path = convert_fp16(graph.path, out_dir / f"{stem}_fp16.onnx")
        return path, {"method": CONVERSIONS["fp16"]}
    samples_path, origin = _calibration(source, settings, out_dir)
    samples = np.load(samples_path, allow_pickle=False)
    path = quantize_int8_qdq(graph.path, out_dir / f"{stem}_int8_qdq.onnx", samples, batch_size=8)
    return path, {"method": CONVERSIONS["int8"], "calibration": origin}


def _check_device(device, source: ModelSource, settings: ExportSettings) -> None:
    from devices import DeviceError

    if not device.runnable:
        raise DeviceError(
            f"device {device.name!r} is known only from published measurement tables "
            f"(reach = {device.reach!r}): nothing can run there, so an export cannot be timed "
            "on it. Export for 'local' or a device you can reach (reach = 'ssh://user@host' or "
            "'ray' in a device file)"
        )
    if "onnxruntime" not in device.runtimes:
        raise DeviceError(
            f"device {device.name!r} lists the runtimes {list(device.runtimes)}, not "
            "'onnxruntime', which times the exported file: add it if it is installed there"
        )
    remote = device.reach_kind != "local"
    if remote and settings.format == "tensorrt":
        raise InputError(
            f"TensorRT engines are built on the GPU that runs them: run `hwnas export --format "
            f"tensorrt` on {device.name} itself (or export --format onnx to time it there)"
        )
    if remote and source.own_inputs:
        raise InputError(
            f"{source.kind} graphs are timed on token ids within the vocabulary, which the "
            f"remote worker does not draw: run `hwnas export --lrnn` on {device.name} itself"
        )
    if settings.precision not in source.precisions:
        raise InputError(
            f"{source.kind} models are exported at {', '.join(source.precisions)}, not "
            f"{settings.precision}: their inputs are token ids (no float calibration or fp16 "
            "check for them yet)"
        )


def export_model(
    source: ModelSource,
    out_dir: str | Path,
    settings: ExportSettings | None = None,
    *,
    device=None,
    predicted_latency_ms: float | None = None,
    budget_ms: float | None = None,
) -> ExportReport:
    """Exports `source`'s graphs to `out_dir`, checks, converts and times them, writes the report.

    Args:
        source: What to export (`hwnas.jobs.export_sources`).
        out_dir: Folder of the ONNX files, engines, `report.json` and `report.md`.
        settings: Format, precision, timing.
        device: A `devices.Device` timing the deployed ONNX file; this machine by default.
        predicted_latency_ms: The predictor's latency, reported beside the measured one.
        budget_ms: The latency budget; the report says whether the measured median meets it.

    Raises:
        InputError: for a folder that is a file, a precision the source cannot take, or a
            device that cannot time this export.
        DeviceError: for a device nothing can run on (``reach = "table"``).
        RuntimeUnavailableError: with ``format="tensorrt"`` where TensorRT or a GPU is
            missing (before anything is exported).
    """
    from devices import local_device
    from profilers import create_runtime
    from profilers.campaign import file_sha256
    from profilers.remote import RemoteJob, target_for

    settings = settings or ExportSettings()
    device = device or local_device()
    out_dir = Path(out_dir)
    _check_device(device, source, settings)
    if settings.format == "tensorrt":  # refuse before exporting where no engine can be built
        from hwnas.core.export import tensorrt as export_trt

        export_trt.import_tensorrt()
        export_trt.cuda_gpu()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; the export needs a folder there")
    if settings.calibration_data is not None and not settings.calibration_data.is_file():
        raise InputError(f"calibration data {settings.calibration_data} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)

    options = (
        {} if settings.intra_op_threads is None else {"intra_op_threads": settings.intra_op_threads}
    )
    runtime = create_runtime("onnxruntime", **options)
    job = RemoteJob("onnxruntime", options, settings.timing, settings.batch_size)
    with target_for(device, job) as target:
        target.open()  # an unreachable board or a missing runtime is reported before exporting
        graphs = source.export(out_dir, settings.onnx)
        deployed, conversions, checks = {}, {}, {}
        for graph in graphs:
            checks[graph.role] = [check_file(source, graph, graph.path, runtime, settings, "fp32")]
            deployed[graph.role], conversions[graph.role] = graph.path, None
            if settings.precision != "fp32":
                path, conversions[graph.role] = _convert(source, graph, settings, out_dir)
                deployed[graph.role] = path
                checks[graph.role].append(
                    check_file(source, graph, path, runtime, settings, settings.precision)
                )
        timed = {}
        on_target = [g for g in graphs if source.timing_inputs(g, settings.batch_size) is None]
        jobs = [(f"{source.name}:{g.role}", deployed[g.role]) for g in on_target]
        for graph, result in zip(on_target, profile_on_target(target, jobs)):
            timed[graph.role] = result
    for graph in graphs:
        inputs = source.timing_inputs(graph, settings.batch_size)
        if inputs is not None:
            timed[graph.role] = profile_here(deployed[graph.role], runtime, settings, inputs)
    reports = []
    for graph in graphs:
        engine = None
        if settings.format == "tensorrt":
            engine = build_engine_checked(source, graph, settings, out_dir, runtime)
        latency, measurement = timed[graph.role]
        reports.append(
            GraphReport(
                role=graph.role,
                onnx_path=str(deployed[graph.role]),
                sha256=file_sha256(deployed[graph.role]),
                fp32_onnx_path=str(graph.path),
                exporter=graph.exporter,
                opset=graph.opset,
                fallback_reason=graph.fallback_reason,
                conversion=conversions[graph.role],
                checks=checks[graph.role],
                batch_size=settings.batch_size,
                measured_latency=latency,
                measurement={"device": device.name, **measurement},
                engine=engine,
            )
        )
    primary = reports[0]
    if primary.engine is not None:
        budget_latency = {"runtime": "tensorrt", **primary.engine["measured_latency"]}
    else:
        budget_latency = {"runtime": "onnxruntime", **primary.measured_latency}
    report = ExportReport(
        kind=source.kind,
        arch=source.name,
        format=settings.format,
        precision=settings.precision,
        device=device.name,
        device_reach=device.reach,
        params=source.details.get("params"),
        macs=source.details.get("macs"),
        check_batch=settings.check_batch,
        batch_size=settings.batch_size,
        details=source.details,
        graphs=tuple(reports),
        latency_for_budget=budget_latency,
        predicted_latency_ms=predicted_latency_ms,
        budget_ms=budget_ms,
        within_budget=None if budget_ms is None else budget_latency["median_ms"] <= budget_ms,
    )
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out_dir / "report.md").write_text(render_markdown(report))
    return report


def export_arch(
    arch,
    out_dir: str | Path,
    *,
    predicted_latency_ms: float | None = None,
    budget_ms: float | None = None,
    config: OnnxExport | None = None,
    timing: TimingConfig | None = None,
    intra_op_threads: int | None = None,
    batch_size: int = 1,
    check_batch: int = 4,
    seed: int = 0,
) -> ExportReport:
    """Exports the fresh-weight network of an NB201 or FBNet architecture here, at fp32.

    See `export_model`; the network's weights are seeded and its BatchNorm statistics
    estimated on random batches (`source_from_arch`).
    """
    settings = ExportSettings(
        onnx=config or OnnxExport(),
        timing=timing or default_timing(),
        intra_op_threads=intra_op_threads,
        batch_size=batch_size,
        check_batch=check_batch,
    )
    return export_model(
        source_from_arch(str(arch), seed),
        out_dir,
        settings,
        predicted_latency_ms=predicted_latency_ms,
        budget_ms=budget_ms,
    )
