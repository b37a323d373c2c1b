"""The one deployment report of every export: typed dataclasses up to the JSON boundary.

`ExportReport` holds the model (trained or not), its graphs, one `FileReport` per graph and
precision (its check against PyTorch, its latency on the device, its TensorRT engine), the
accuracy of each file on held-out data (`AccuracyReport`) and the precision choice
(`PrecisionChoice`). `to_json` turns it into the `report.json` document; the views named in a
class's `JSON_VIEWS` (the primary file's path, latency, ...) are written beside the fields,
so readers of earlier reports find the keys they read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

REPORT_FORMAT = 2
"""Version of the `report.json` layout; 2 added files per precision, accuracy and choice."""
UNTRAINED_LABEL = "untrained (random weights): for timing only"


@dataclass(frozen=True)
class MeasuredLatency:
    """Latency statistics of one file on the device (ms), from `profilers`."""

    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    cov: float
    n: int
    stop_reason: str

    @classmethod
    def of(cls, stats: Any) -> MeasuredLatency:
        """From a `profilers.LatencyStats` or its dictionary."""
        data = stats if isinstance(stats, dict) else dataclasses.asdict(stats)
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def __getitem__(self, key: str) -> Any:
        """Read access by field name, for callers written against the earlier dictionary."""
        if key not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(key)
        return getattr(self, key)


@dataclass(frozen=True)
class FileCheck:
    """One file compared with the PyTorch model on the same inputs.

    Attributes:
        max_abs_error: Largest |file - PyTorch| over the outputs.
        tolerance: The accepted error (`rule` says where it comes from).
        passed: Whether the file passes; None where the output error is not the verdict
            (int8 files: `judged_by` says what is).
        judged_by: ``output error``, ``accuracy drop (...)`` or ``not judged: <why>``.
        row_sum_max_error: Probability outputs: largest |row sum - 1|; else None.
    """

    file: str
    precision: str
    max_abs_error: float
    tolerance: float
    rule: str
    inputs: str
    passed: bool | None
    judged_by: str = "output error"
    row_sum_max_error: float | None = None


@dataclass(frozen=True)
class Calibration:
    """Where the int8 calibration inputs came from."""

    origin: str
    samples: int
    saved: str
    sha256: str
    seed: int | None = None


@dataclass(frozen=True)
class Conversion:
    """How a reduced-precision file was made from the fp32 one."""

    method: str
    calibration: Calibration | None = None


@dataclass(frozen=True)
class EngineReport:
    """A TensorRT engine built here: its files, check and latency."""

    engine_path: str
    sidecar_path: str
    sha256: str
    built_from: str
    precision: str
    precision_from: str
    tensorrt_version: str
    gpu: str
    check: FileCheck
    max_abs_diff_vs_onnxruntime: float
    measured_latency: MeasuredLatency
    measurement: dict


@dataclass(frozen=True)
class FileReport:
    """One ONNX file of a graph at one precision.

    Attributes:
        latency: ONNX Runtime on the device at the report's batch size; None with
            `latency_reason` where it was not timed.
        measurement: Provenance of the timing: device, host and runtime fingerprint, inputs,
            timing method, energy.
    """

    precision: str
    path: str
    sha256: str
    conversion: Conversion | None
    check: FileCheck
    latency: MeasuredLatency | None
    latency_reason: str | None = None
    measurement: dict | None = None
    engine: EngineReport | None = None

    @property
    def passed(self) -> bool:
        """The file's check (unless not judged by it) and its engine's both pass."""
        engine_ok = self.engine is None or self.engine.check.passed is not False
        return self.check.passed is not False and engine_ok


@dataclass(frozen=True)
class GraphReport:
    """One exported graph (``network``; an LRNN's ``step`` and ``unrolled_T``), every precision.

    The primary file (`primary_precision`) is the one the report deploys: its fields are also
    the graph's (`onnx_path`, `checks`, `measured_latency`, ...).
    """

    JSON_VIEWS = (
        "onnx_path",
        "sha256",
        "fp32_onnx_path",
        "conversion",
        "checks",
        "measured_latency",
        "measurement",
        "engine",
        "passed",
    )

    role: str
    exporter: str
    opset: int
    fallback_reason: str | None
    batch_size: int
    primary_precision: str
    files: tuple[FileReport, ...]

    def file(self, precision: str) -> FileReport:
        """The file at `precision`; KeyError if it was not written."""
        for item in self.files:
            if item.precision == precision:
                return item
        raise KeyError(f"graph {self.role} has no {precision} file")

    @property
    def primary(self) -> FileReport:
        return self.file(self.primary_precision)

    @property
    def onnx_path(self) -> str:
        return self.primary.path

    @property
    def sha256(self) -> str:
        return self.primary.sha256

    @property
    def fp32_onnx_path(self) -> str:
        return self.file("fp32").path

    @property
    def conversion(self) -> Conversion | None:
        return self.primary.conversion

    @property
    def checks(self) -> tuple[FileCheck, ...]:
        """fp32's check, then the primary file's where it is another precision."""
        fp32 = self.file("fp32").check
        return (fp32,) if self.primary_precision == "fp32" else (fp32, self.primary.check)

    @property
    def measured_latency(self) -> MeasuredLatency | None:
        return self.primary.latency

    @property
    def measurement(self) -> dict | None:
        return self.primary.measurement

    @property
    def engine(self) -> EngineReport | None:
        return self.primary.engine

    @property
    def max_abs_error(self) -> float:
        """The primary file's largest |ONNX Runtime - PyTorch|."""
        return self.primary.check.max_abs_error

    @property
    def tolerance(self) -> float:
        return self.primary.check.tolerance

    @property
    def passed(self) -> bool:
        """Every file (fp32, converted, engines) passes what judges it."""
        return all(item.passed for item in self.files)


@dataclass(frozen=True)
class FileAccuracy:
    """Top-1 of one file as ONNX Runtime runs it, and its drop against PyTorch (points)."""

    precision: str
    path: str
    top1_percent: float
    drop_points: float


@dataclass(frozen=True)
class AccuracyReport:
    """Top-1 accuracy on held-out data of the PyTorch model and of each exported file.

    Attributes:
        data: The data spec scored on; `split` which of its splits (``test``, or ``val``
            where the data has no test split).
        images: Images scored.
    """

    data: str
    split: str
    images: int
    pytorch_top1_percent: float
    files: tuple[FileAccuracy, ...]

    def of(self, precision: str) -> FileAccuracy | None:
        return next((f for f in self.files if f.precision == precision), None)


@dataclass(frozen=True)
class SlowerFile:
    """A reduced-precision file that ran slower than the fp32 file on the device."""

    precision: str
    latency_ms: float
    fp32_latency_ms: float

    @property
    def ratio(self) -> float:
        return self.latency_ms / self.fp32_latency_ms


@dataclass(frozen=True)
class PrecisionChoice:
    """Which file to ship, from the measured latencies and accuracy drops.

    Attributes:
        fastest: Precision of the file with the lowest median latency; None if none was timed.
        fastest_within_drop: The fastest file whose top-1 drop against PyTorch is at most
            `max_accuracy_drop_points`; None without accuracy (`reason` says why).
        slower_than_fp32: Reduced-precision files slower than the fp32 file.
    """

    fastest: str | None
    fastest_within_drop: str | None
    max_accuracy_drop_points: float
    slower_than_fp32: tuple[SlowerFile, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What was exported: whether its weights are trained, where they came from."""

    trained: bool
    weights: str
    data: str | None = None

    @property
    def label(self) -> str:
        return "trained" if self.trained else UNTRAINED_LABEL


@dataclass(frozen=True)
class BudgetLatency:
    """The latency compared with the budget: the primary file's, on the runtime that ships."""

    runtime: str
    precision: str
    median_ms: float
    p90_ms: float
    p99_ms: float
    n: int

    def __getitem__(self, key: str) -> Any:
        """Read access by field name, for callers written against the earlier dictionary."""
        if key not in {f.name for f in dataclasses.fields(self)}:
            raise KeyError(key)
        return getattr(self, key)


@dataclass(frozen=True)
class ExportReport:
    """What was exported for which device: files per precision, checks, accuracy, latency.

    The first graph is the primary one (the network; an LRNN's step graph, whose latency is
    the latency per token). `precision` is the primary precision (the lowest requested);
    `precisions` every precision written.
    """

    JSON_VIEWS = (
        "onnx_path",
        "sha256",
        "exporter",
        "opset",
        "fallback_reason",
        "max_abs_error",
        "tolerance",
        "passed",
        "measured_latency",
        "measurement",
        "model_label",
    )

    kind: str
    arch: str
    format: str
    precision: str
    precisions: tuple[str, ...]
    device: str
    device_reach: str
    model: ModelInfo
    params: int | None
    macs: int | None
    check_batch: int
    batch_size: int
    details: dict
    graphs: tuple[GraphReport, ...]
    choice: PrecisionChoice
    latency_for_budget: BudgetLatency | None
    accuracy: AccuracyReport | None = None
    accuracy_reason: str | None = None
    predicted_latency_ms: float | None = None
    budget_ms: float | None = None
    within_budget: bool | None = field(default=None)
    report_format: int = REPORT_FORMAT

    @property
    def primary(self) -> GraphReport:
        return self.graphs[0]

    def graph(self, role: str) -> GraphReport:
        return next(g for g in self.graphs if g.role == role)

    def file(self, precision: str, role: str | None = None) -> FileReport:
        """The file of graph `role` (default the primary graph) at `precision`."""
        return (self.graph(role) if role else self.primary).file(precision)

    def accuracy_of(self, precision: str) -> float | None:
        """Top-1 (%) of the primary graph's file at `precision`; None if not measured."""
        found = self.accuracy.of(precision) if self.accuracy else None
        return None if found is None else found.top1_percent

    def latency_ms(self, precision: str) -> float | None:
        """Median latency of the primary graph's file at `precision`; None if not timed."""
        latency = self.file(precision).latency
        return None if latency is None else latency.median_ms

    @property
    def model_label(self) -> str:
        return self.model.label

    @property
    def onnx_path(self) -> str:
        return self.primary.onnx_path

    @property
    def sha256(self) -> str:
        return self.primary.sha256

    @property
    def exporter(self) -> str:
        return self.primary.exporter

    @property
    def opset(self) -> int:
        return self.primary.opset

    @property
    def fallback_reason(self) -> str | None:
        return self.primary.fallback_reason

    @property
    def max_abs_error(self) -> float:
        return self.primary.max_abs_error

    @property
    def tolerance(self) -> float:
        return self.primary.tolerance

    @property
    def passed(self) -> bool:
        return all(graph.passed for graph in self.graphs)

    @property
    def measured_latency(self) -> MeasuredLatency | None:
        return self.primary.measured_latency

    @property
    def measurement(self) -> dict | None:
        return self.primary.measurement

    def to_json(self) -> dict[str, Any]:
        """The `report.json` document: every field, nested, and the `JSON_VIEWS`."""
        return to_json(self)


def to_json(value: Any) -> Any:
    """A dataclass tree as JSON values: fields, then the class's `JSON_VIEWS` properties."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in getattr(type(value), "JSON_VIEWS", ()):
            data[name] = to_json(getattr(value, name))
        return data
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if hasattr(value, "__fspath__"):
        return str(value)
    return value
