"""The three jobs in a row for this machine: profile, generate for a budget, export."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hwnas.core.export import OnnxExport
from hwnas.jobs.export import ExportReport, export_arch
from hwnas.jobs.generate import GenerateResult, check_budget_arguments, generate_for_budget
from hwnas.jobs.profile import ProfileConfig, ProfileResult, check_local, profile_device


@dataclass(frozen=True)
class PipelineResult:
    """The outcome of each job, and the budget used (`budget_from_median` if none was given)."""

    profile: ProfileResult
    generate: GenerateResult
    export: ExportReport
    budget_ms: float
    budget_from_median: bool


def run_pipeline(
    out_dir: str | Path,
    *,
    budget_ms: float | None = None,
    config: ProfileConfig | None = None,
    dataset: str = "cifar10",
    confidence: float | None = 0.9,
    device=None,
    progress: Callable | None = None,
) -> PipelineResult:
    """Profiles this machine, picks the most accurate cell within the budget, exports it.

    Without a budget, the median of the measured latencies is used, so that roughly half of
    the profiled cells meet it. `confidence` is passed to `generate_for_budget`.

    Files under `out_dir`: `measurements.sqlite` (the store, resumable), `latency_ms.csv`
    (`arch,latency_ms,...`), `onnx/` (the timed files) and `export/` (the chosen network's ONNX
    file and `report.json`).
    """
    from devices import local_device

    config = config or ProfileConfig()
    device = device or local_device()
    check_local(device)
    check_budget_arguments(budget_ms, confidence)
    out_dir = Path(out_dir)
    store_path = out_dir / "measurements.sqlite"
    profile = profile_device(
        store_path,
        config,
        device=device,
        csv_path=out_dir / "latency_ms.csv",
        progress=progress,
    )
    from_median = budget_ms is None
    if from_median:
        budget_ms = statistics.median(profile.latency_ms.values())
    generated = generate_for_budget(
        profile.latency_ms, budget_ms, dataset=dataset, confidence=confidence
    )
    report = export_arch(
        generated.chosen.arch,
        out_dir / "export",
        predicted_latency_ms=generated.chosen.predicted_latency_ms,
        budget_ms=budget_ms,
        config=OnnxExport(exporter=config.exporter),
        intra_op_threads=config.intra_op_threads,
        batch_size=config.batch_size,
        timing=config.timing,
    )
    return PipelineResult(profile, generated, report, float(budget_ms), from_median)
