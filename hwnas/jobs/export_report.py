"""The deployment report of `hwnas export`: per graph its files, checks and latencies, as
JSON (`report.json`) and Markdown (`report.md`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GraphReport:
    """One exported graph: the file deployed, how close it is to PyTorch, how fast it runs.

    Attributes:
        role: ``network`` (image models), ``step`` or ``unrolled_T`` (LRNNs).
        onnx_path: The ONNX file deployed at the report's precision; `sha256` is its digest.
        fp32_onnx_path: The exported fp32 file (the same as `onnx_path` at fp32).
        exporter: Which ONNX exporter wrote the fp32 file (`fallback_reason` if not the default).
        conversion: How the fp32 file was converted to fp16 or int8, or None.
        checks: Each file compared with PyTorch: ``file``, ``precision``, ``max_abs_error``,
            ``tolerance``, ``rule``, ``inputs``, ``passed``.
        measured_latency: The profiler's statistics (ms) of `onnx_path` with ONNX Runtime on
            the device, at `batch_size`.
        measurement: How it was timed: device, host and runtime fingerprint, inputs, timing
            method, energy (or why none was measured).
        engine: The TensorRT engine (``--format tensorrt``): files, check, latency; or None.
    """

    role: str
    onnx_path: str
    sha256: str
    fp32_onnx_path: str
    exporter: str
    opset: int
    fallback_reason: str | None
    conversion: dict | None
    checks: list[dict]
    batch_size: int
    measured_latency: dict
    measurement: dict
    engine: dict | None = None

    @property
    def max_abs_error(self) -> float:
        """The deployed file's largest |ONNX Runtime - PyTorch|."""
        return self.checks[-1]["max_abs_error"]

    @property
    def tolerance(self) -> float:
        return self.checks[-1]["tolerance"]

    @property
    def passed(self) -> bool:
        """Every file (fp32, converted, engine) within its tolerance."""
        engine_ok = self.engine is None or self.engine["check"]["passed"]
        return all(check["passed"] for check in self.checks) and engine_ok


PRIMARY_FIELDS = (
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
)
"""Fields of the first graph that the report repeats at its top level."""


@dataclass(frozen=True)
class ExportReport:
    """What was exported for which device, its graphs, and the latency against the budget.

    The first graph is the primary one (the network; an LRNN's step graph, whose latency is
    the latency per token); its fields are also the report's (`onnx_path`, `max_abs_error`,
    `measured_latency`, ...).

    Attributes:
        kind: ``nb201``, ``fbnet``, ``darts``, ``nes`` or ``lrnn``.
        arch: The model's canonical string (architecture, genotype, ensemble folder).
        device: The device's name; `device_reach` how it was reached.
        latency_for_budget: ``runtime`` and latency statistics of the primary graph, compared
            with the budget: the TensorRT engine's with ``--format tensorrt``, else ONNX
            Runtime's.
        within_budget: Whether that median is within `budget_ms`; None without a budget.
    """

    kind: str
    arch: str
    format: str
    precision: str
    device: str
    device_reach: str
    params: int | None
    macs: int | None
    check_batch: int
    batch_size: int
    details: dict
    graphs: tuple[GraphReport, ...]
    latency_for_budget: dict
    predicted_latency_ms: float | None = None
    budget_ms: float | None = None
    within_budget: bool | None = field(default=None)

    @property
    def primary(self) -> GraphReport:
        return self.graphs[0]

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
    def measured_latency(self) -> dict:
        return self.primary.measured_latency

    @property
    def measurement(self) -> dict:
        return self.primary.measurement

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["graphs"] = [{**asdict(g), "passed": g.passed} for g in self.graphs]
        primary = {name: getattr(self, name) for name in PRIMARY_FIELDS}
        return {**data, **primary}


def _ms(value: float | None) -> str:
    return "not given" if value is None else f"{value:.4g} ms"


def _latency_rows(label: str, latency: dict) -> list[str]:
    return [
        f"| {label} median | {latency['median_ms']:.4g} |",
        f"| {label} p90 | {latency['p90_ms']:.4g} |",
        f"| {label} p99 | {latency['p99_ms']:.4g} |",
    ]


def _graph_section(graph: GraphReport, many: bool) -> list[str]:
    runtime = graph.measurement.get("runtime", {})
    runtime_text = (
        f"{runtime.get('runtime', '?')} {runtime.get('version', '')}, "
        f"{runtime.get('intra_op_threads', '?')} intra-op threads"
    )
    rows = [f"## Graph `{graph.role}`", ""] if many else []
    rows += [
        f"- File: `{graph.onnx_path}` ({graph.exporter} exporter, opset {graph.opset})",
        f"- sha256: `{graph.sha256}`",
    ]
    if graph.conversion is not None:
        rows.append(f"- Converted from `{graph.fp32_onnx_path}`: {graph.conversion['method']}")
    for check in graph.checks:
        verdict = "ok" if check["passed"] else "FAILED"
        rows.append(
            f"- Max abs error vs PyTorch ({check['precision']} file, {check['inputs']}): "
            f"{check['max_abs_error']:.3g} (tolerance {check['tolerance']:.3g}, {check['rule']}: "
            f"{verdict})"
        )
    latency = graph.measured_latency
    rows += [
        f"- Timed with {runtime_text} over {latency['n']} runs (CoV {latency['cov'] * 100:.1f} %, "
        f"stopped by {latency['stop_reason']})",
    ]
    energy = graph.measurement.get("energy") or {}
    if energy.get("energy_mj") is not None:
        rows.append(f"- Energy per inference: {energy['energy_mj']:.4g} mJ ({energy['reason']})")
    else:
        rows.append(f"- Energy: not measured ({energy.get('reason') or 'no meter'})")
    engine = graph.engine
    if engine is not None:
        check = engine["check"]
        verdict = "ok" if check["passed"] else "FAILED"
        rows += [
            f"- TensorRT engine: `{engine['engine_path']}` (TensorRT {engine['tensorrt_version']},"
            f" {engine['gpu']}, precision {engine['precision']}; metadata "
            f"`{engine['sidecar_path']}`)",
            f"- Engine max abs error vs PyTorch: {check['max_abs_error']:.3g} (tolerance "
            f"{check['tolerance']:.3g}, {check['rule']}: {verdict}); vs ONNX Runtime: "
            f"{engine['max_abs_diff_vs_onnxruntime']:.3g}",
        ]
    rows += ["", f"| latency at batch {graph.batch_size} | ms |", "|---|---|"]
    rows += _latency_rows("ONNX Runtime", latency)
    if engine is not None:
        rows += _latency_rows("TensorRT", engine["measured_latency"])
    return [*rows, ""]


def render_markdown(report: ExportReport) -> str:
    """The deployment report for people: model, device, files, checks, latency against budget."""
    host = report.measurement.get("host", {})
    cpu = host.get("cpu_model") or "unknown CPU"
    measured = report.latency_for_budget
    budget = "no budget given"
    if report.budget_ms is not None:
        verdict = "yes" if report.within_budget else "NO"
        budget = (
            f"{report.budget_ms:.4g} ms; {measured['runtime']} median {measured['median_ms']:.4g}"
            f" ms: within budget: {verdict}"
        )
    costs = []
    if report.params is not None:
        costs.append(f"{report.params:,} parameters")
    if report.macs is not None:
        costs.append(f"{report.macs / 1e6:.1f} M MACs")
    rows = [
        f"# Deployment report: {report.kind} `{report.arch}`",
        "",
        f"- Device: {report.device} (reach {report.device_reach}; {cpu}, "
        f"{host.get('cpu_usable_cores', '?')} usable cores)",
        f"- Format {report.format}, precision {report.precision}, batch {report.batch_size}",
        f"- Network: {', '.join(costs) or 'size not counted'}",
        f"- Weights: {report.details.get('weights', 'not stated')}",
        f"- Predicted latency: {_ms(report.predicted_latency_ms)}",
        f"- Budget: {budget}",
        "",
    ]
    for graph in report.graphs:
        rows += _graph_section(graph, len(report.graphs) > 1)
    return "\n".join(rows)
