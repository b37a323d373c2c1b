"""Job 3: export a cell's network to ONNX, check it against PyTorch, time it on this machine."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hwnas.export import OnnxExport, export_onnx, max_abs_error_vs_torch
from hwnas.jobs.errors import JobInputError
from hwnas.jobs.profile import default_timing
from hwnas.spaces.nb201 import NB201Arch, NB201Space
from profilers.timing import TimingConfig

FP32_ATOL = 1e-4
"""Largest absolute output difference accepted between ONNX Runtime and PyTorch at fp32."""


@dataclass(frozen=True)
class ExportReport:
    """What was exported, how close it is to PyTorch, and how fast it runs here.

    Attributes:
        arch: The architecture string.
        onnx_path: The exported file; `sha256` is its digest.
        exporter: Which ONNX exporter produced it (and `fallback_reason` if not the default).
        max_abs_error: Largest |ONNX Runtime - PyTorch| over a random batch of `check_batch`.
        passed: Whether `max_abs_error` <= `tolerance`.
        measured_latency: The profiler's statistics (ms) at `batch_size` on this machine.
        measurement: How it was timed: host and runtime fingerprint, inputs, timing method.
        predicted_latency_ms: The predictor's latency, where one was given.
        budget_ms: The budget the cell was chosen for, where one was given.
    """

    arch: str
    onnx_path: str
    sha256: str
    exporter: str
    opset: int
    fallback_reason: str | None
    params: int
    macs: int
    check_batch: int
    max_abs_error: float
    tolerance: float
    passed: bool
    batch_size: int
    measured_latency: dict
    measurement: dict
    predicted_latency_ms: float | None = None
    budget_ms: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def export_arch(
    arch: str | NB201Arch,
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
    """Exports the NB201 network of `arch` to `out_dir`, verifies and times it, writes a report.

    The network has freshly initialised weights (seeded) and BatchNorm statistics estimated on
    random batches, so its activations have the scale of a trained network's: latency and the
    export check do not depend on trained values. The report is also written to
    `out_dir/report.json`.
    """
    import torch

    from devices import host_fingerprint
    from hwnas.batchnorm import random_batches, recalibrate_batchnorm
    from hwnas.complexity import count_macs, count_params
    from profilers import create_runtime, profile_onnx
    from profilers.campaign import file_sha256

    space = NB201Space()
    arch = arch if isinstance(arch, NB201Arch) else space.parse(arch)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise JobInputError(f"--out {out_dir} is a file; the export needs a folder there")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = recalibrate_batchnorm(space.build(arch), random_batches((16, *space.input_shape)))
    result = export_onnx(model, space.input_shape, out_dir / f"nb201_{arch.index:05d}.onnx", config)
    inputs = np.random.default_rng(seed).standard_normal(
        (check_batch, *space.input_shape), dtype=np.float32
    )
    runtime = create_runtime("onnxruntime", intra_op_threads=intra_op_threads)
    error = max_abs_error_vs_torch(model, result.path, inputs, runtime)
    stats, info = profile_onnx(result.path, runtime, timing or default_timing(), batch_size)
    report = ExportReport(
        arch=str(arch),
        onnx_path=str(result.path),
        sha256=file_sha256(result.path),
        exporter=result.exporter,
        opset=result.opset,
        fallback_reason=result.fallback_reason,
        params=count_params(model),
        macs=count_macs(model, (1, *space.input_shape)),
        check_batch=check_batch,
        max_abs_error=error,
        tolerance=FP32_ATOL,
        passed=error <= FP32_ATOL,
        batch_size=batch_size,
        measured_latency=stats.to_dict(),
        measurement={"host": host_fingerprint(), **info},
        predicted_latency_ms=predicted_latency_ms,
        budget_ms=budget_ms,
    )
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out_dir / "report.md").write_text(render_markdown(report))
    return report


def _ms(value: float | None) -> str:
    return "not given" if value is None else f"{value:.4g} ms"


def render_markdown(report: ExportReport) -> str:
    """The deployment report for people: model, device, file, check, latency against budget."""
    latency = report.measured_latency
    host = report.measurement.get("host", {})
    device = host.get("cpu_model") or "unknown CPU"
    runtime = report.measurement.get("runtime", {})
    runtime_text = (
        f"{runtime.get('runtime', '?')} {runtime.get('version', '')}, "
        f"{runtime.get('intra_op_threads', '?')} intra-op threads"
    )
    verdict = "ok" if report.passed else "FAILED"
    budget = "no budget given"
    if report.budget_ms is not None:
        meets = latency["median_ms"] <= report.budget_ms
        budget = f"{report.budget_ms:.4g} ms: measured median {'meets' if meets else 'EXCEEDS'} it"
    rows = [
        f"# Deployment report: NB201 cell `{report.arch}`",
        "",
        f"- Device: {device} ({host.get('cpu_usable_cores', '?')} usable cores), "
        f"runtime {runtime_text}",
        f"- File: `{report.onnx_path}` ({report.exporter} exporter, opset {report.opset})",
        f"- sha256: `{report.sha256}`",
        f"- Network: {report.params:,} parameters, {report.macs / 1e6:.1f} M MACs",
        f"- Max abs error vs PyTorch (batch {report.check_batch}): {report.max_abs_error:.3g} "
        f"(tolerance {report.tolerance:g}: {verdict})",
        "",
        "| latency at batch " + str(report.batch_size) + " | ms |",
        "|---|---|",
        f"| measured median | {latency['median_ms']:.4g} |",
        f"| measured p90 | {latency['p90_ms']:.4g} |",
        f"| measured p99 | {latency['p99_ms']:.4g} |",
        f"| predicted | {_ms(report.predicted_latency_ms).removesuffix(' ms')} |",
        "",
        f"Budget: {budget}. Measured over {latency['n']} runs "
        f"(CoV {latency['cov'] * 100:.1f} %, stopped by {latency['stop_reason']}).",
        "",
    ]
    return "\n".join(rows)
