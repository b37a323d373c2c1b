"""The checks and timings of an export: each file against PyTorch with the tolerance of its
precision, files timed on the device, engines built, checked and timed on this GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwnas.core.export.onnx import FP32_ATOL
from hwnas.core.export.precision import RELATIVE_TOLERANCE
from hwnas.core.export.report import EngineReport, FileCheck, MeasuredLatency
from hwnas.core.export.sources import ExportedGraph, ModelSource
from hwnas.errors import InputError

UNTRAINED_INT8 = (
    "not judged: the output error of an untrained network at int8 says nothing about "
    "deployment (a trained model's int8 file is judged by its accuracy drop)"
)
NO_DATA_INT8 = (
    "not judged: an int8 file is judged by its accuracy drop; no held-out data was named "
    "(--accuracy-data SPEC)"
)


def tolerance_of(
    precision: str, scale: float, engine: bool = False, fp32_atol: float = FP32_ATOL
) -> tuple[float, str]:
    """The absolute tolerance of a check and the rule it comes from.

    ONNX Runtime at fp32 must match PyTorch within `FP32_ATOL`; reduced precision and TensorRT
    engines (other kernels, TF32 where enabled) within `RELATIVE_TOLERANCE` of their precision
    times the largest |PyTorch output|.
    """
    if precision == "fp32" and not engine:
        return fp32_atol, f"absolute {fp32_atol:g}"
    relative = RELATIVE_TOLERANCE[precision]
    return relative * scale, f"{relative:g} x max|PyTorch output| ({scale:.3g})"


def check_file(
    source: ModelSource,
    graph: ExportedGraph,
    path: Path,
    runtime,
    check_batch: int,
    precision: str,
    engine: bool = False,
) -> FileCheck:
    """`path` against PyTorch; int8 ONNX files are measured here and judged by accuracy later."""
    result = source.check(graph, path, runtime, check_batch)
    tolerance, rule = tolerance_of(precision, result.reference_scale, engine, source.fp32_atol)
    passed = result.max_abs_error <= tolerance
    if result.row_sum_max_error is not None:
        passed = passed and result.row_sum_max_error <= tolerance
    judged_by = "output error"
    if precision == "int8" and not engine:
        passed, judged_by = None, UNTRAINED_INT8 if not source.trained else NO_DATA_INT8
    return FileCheck(
        file=str(path),
        precision=precision,
        max_abs_error=result.max_abs_error,
        tolerance=tolerance,
        rule=rule,
        inputs=result.inputs,
        passed=passed,
        judged_by=judged_by,
        row_sum_max_error=result.row_sum_max_error,
    )


class _FixedInputs:
    """A session whose `random_inputs` are the source's inputs (token ids within the vocabulary),
    so that `profilers.profile_session` times it on inputs it accepts."""

    def __init__(self, session, inputs: dict[str, np.ndarray]) -> None:
        self._session = session
        self._inputs = inputs
        self.model_path = session.model_path

    @property
    def input_specs(self):
        return self._session.input_specs

    def random_inputs(self, batch_size: int = 1, seed: int = 0, dims=None):
        return self._inputs

    def prepare(self, inputs):
        return self._session.prepare(inputs)

    def timer(self):
        return self._session.timer()


def profile_here(path: Path, runtime, timing, batch_size: int, inputs) -> tuple:
    """Time `path` here with `runtime` on `inputs` (or the profiler's random inputs).

    Returns:
        (MeasuredLatency, measurement provenance dict).
    """
    from devices import host_fingerprint
    from profilers.campaign import file_sha256
    from profilers.profile import profile_session

    with runtime.load(path) as session:
        timed = session if inputs is None else _FixedInputs(session, inputs)
        stats, info = profile_session(timed, timing, batch_size)
    origin = "profiler random inputs" if inputs is None else "the model's own inputs"
    measurement = {
        "host": host_fingerprint(),
        "runtime": runtime.describe(),
        "model_path": str(path),
        "model_sha256": file_sha256(path),
        **info,
        "inputs_from": origin,
    }
    return MeasuredLatency.of(stats), measurement


def profile_on_target(target, jobs: list[tuple[str, Path]]) -> list[tuple]:
    """Time each `(key, path)` on an open `profilers` target (this machine, an ssh board, a Ray
    node), in one pass; returns (MeasuredLatency, measurement) per job, in order."""
    from profilers.targets import Failed

    results = {}
    for outcome in target.measure(jobs):
        if isinstance(outcome, Failed):
            raise InputError(
                f"{outcome.key} could not be timed on the device ({outcome.stage}: "
                f"{outcome.error_type}: {outcome.error})"
            )
        results[outcome.key] = (
            MeasuredLatency.of(outcome.latency),
            {"host": outcome.host, **outcome.info},
        )
    return [results[key] for key, _ in jobs]


def build_engine_checked(
    source: ModelSource,
    graph: ExportedGraph,
    precision: str,
    settings,
    out_dir: Path,
    ort_runtime,
) -> EngineReport:
    """Build the TensorRT engine of `graph` at `precision` here, check it against PyTorch and
    ONNX Runtime, and time it with the profilers' tensorrt runtime."""
    from hwnas.core.export.tensorrt import TensorRTBuild, build_engine
    from profilers import create_runtime

    calibration = None
    if precision == "int8":
        calibration = out_dir / "calibration.npy"  # written by the ONNX conversion
    build = TensorRTBuild(
        precision=precision,
        batch_max=max(32, settings.batch_size, settings.check_batch),
        calibration_data=calibration,
    )
    artifact = build_engine(graph.path, out_dir / "tensorrt", build)
    trt_runtime = create_runtime("tensorrt")
    check = check_file(
        source, graph, artifact.engine_path, trt_runtime, settings.check_batch, precision, True
    )
    inputs = source.timing_inputs(graph, settings.check_batch)
    with ort_runtime.load(graph.path) as ort, trt_runtime.load(artifact.engine_path) as trt:
        inputs = inputs or ort.random_inputs(settings.check_batch, seed=2)
        diff = max(
            float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
            for a, b in zip(ort.run(inputs), trt.run(inputs))
        )
    latency, measurement = profile_here(
        artifact.engine_path,
        trt_runtime,
        settings.timing,
        settings.batch_size,
        source.timing_inputs(graph, settings.batch_size),
    )
    meta = artifact.metadata
    return EngineReport(
        engine_path=str(artifact.engine_path),
        sidecar_path=str(artifact.sidecar_path),
        sha256=meta["engine"]["sha256"],
        built_from=str(artifact.onnx_path),
        precision=artifact.precision,
        precision_from=meta["precision_from"],
        tensorrt_version=meta["tensorrt_version"],
        gpu=f"{meta['gpu']['name']} (compute capability {meta['gpu']['compute_capability']})",
        check=check,
        max_abs_diff_vs_onnxruntime=diff,
        measured_latency=latency,
        measurement=measurement,
    )
