"""Job 3: export a model for a device: files per precision, checked, scored, timed, reported.

`export_model(ExportJob(kind, target, out_dir, settings))` opens the model through the source
registry (`hwnas.jobs.export_sources`: a trained model folder, an architecture string, a DARTS
genotype, an NES ensemble, an LRNN) and runs the one pipeline of
`hwnas.core.export.pipeline` on it: fp32 ONNX, every requested precision converted and
checked against PyTorch, the accuracy of every file on held-out data, every file timed on the
device, optionally TensorRT engines, then `report.json` and `report.md` next to the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.export import OnnxExport
from hwnas.core.export.pipeline import ExportSettings, run_export
from hwnas.core.export.report import ExportReport
from hwnas.errors import InputError
from profilers.timing import TimingConfig, default_timing

__all__ = [
    "ExportJob",
    "ExportReport",
    "ExportSettings",
    "export_arch",
    "export_model",
    "render_markdown",
]


def render_markdown(report: ExportReport) -> str:
    """The report for people (`report.md`)."""
    from hwnas.core.export.markdown import render_markdown as render

    return render(report)


@dataclass(frozen=True)
class ExportJob:
    """What to export, where to, how, and for which device.

    Attributes:
        kind: A registered source kind (`hwnas.jobs.export_sources.list_sources()`):
            ``model`` (a folder of `hwnas train`), ``arch``, ``nb201``, ``fbnet``, ``darts``,
            ``nes``, ``lrnn``.
        target: The folder, file or architecture string the kind opens.
        out_dir: Folder of the files and the report.
        settings: Precisions, format, timing, calibration, accuracy data.
        device: A `devices.Device` timing the files; this machine by default.
        predicted_latency_ms: The predictor's latency, reported beside the measured one.
        budget_ms: The latency budget; the report says whether the measured median meets it.
        seed: Seed of fresh weights (architecture strings, bare genotypes).
        source_options: Extra keyword arguments of the kind's opener.
    """

    kind: str
    target: str | Path
    out_dir: Path
    settings: ExportSettings = field(default_factory=ExportSettings)
    device: Any = None
    predicted_latency_ms: float | None = None
    budget_ms: float | None = None
    seed: int = 0
    source_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        for name in ("predicted_latency_ms", "budget_ms"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InputError(f"{name} must be positive, got {value}")


def export_model(job: ExportJob) -> ExportReport:
    """Opens `job`'s model and runs the export pipeline on it; writes the report.

    Raises:
        InputError: for an unknown kind, a model that cannot be read, or settings the model
            or device cannot take (see `hwnas.core.export.pipeline.run_export`).
    """
    from hwnas.jobs.export_sources import create_source

    source = create_source(job.kind, job.target, seed=job.seed, **job.source_options)
    return run_export(
        source,
        job.out_dir,
        job.settings,
        device=job.device,
        predicted_latency_ms=job.predicted_latency_ms,
        budget_ms=job.budget_ms,
    )


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

    An untrained network, for timing only; see `export_model`. Its weights are seeded and its
    BatchNorm statistics estimated on random batches.
    """
    settings = ExportSettings(
        onnx=config or OnnxExport(),
        timing=timing or default_timing(),
        intra_op_threads=intra_op_threads,
        batch_size=batch_size,
        check_batch=check_batch,
    )
    job = ExportJob(
        "arch",
        str(arch),
        Path(out_dir),
        settings,
        predicted_latency_ms=predicted_latency_ms,
        budget_ms=budget_ms,
        seed=seed,
    )
    return export_model(job)
