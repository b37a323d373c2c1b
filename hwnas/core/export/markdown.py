"""`report.md`: the deployment report for people, rendered from the typed `ExportReport`."""

from __future__ import annotations

from hwnas.core.export.report import (
    ExportReport,
    FileCheck,
    FileReport,
    GraphReport,
    MeasuredLatency,
)


def _ms(value: float | None) -> str:
    return "not given" if value is None else f"{value:.4g} ms"


def _latency_rows(label: str, latency: MeasuredLatency) -> list[str]:
    return [
        f"| {label} median | {latency.median_ms:.4g} |",
        f"| {label} p90 | {latency.p90_ms:.4g} |",
        f"| {label} p99 | {latency.p99_ms:.4g} |",
    ]


def check_verdict(check: FileCheck) -> str:
    """``ok``, ``FAILED`` or the reason the check is not the verdict."""
    if check.passed is None:
        return check.judged_by
    verdict = "ok" if check.passed else "FAILED"
    return verdict if check.judged_by == "output error" else f"{check.judged_by}: {verdict}"


def _file_rows(item: FileReport) -> list[str]:
    check = item.check
    rows = [f"- {item.precision} file `{item.path}` (sha256 `{item.sha256}`)"]
    if item.conversion is not None:
        rows.append(f"  - Converted from the fp32 file: {item.conversion.method}")
        if item.conversion.calibration is not None:
            rows.append(f"  - Calibrated on {item.conversion.calibration.origin}")
    rows.append(
        f"  - Max abs error vs PyTorch ({check.precision} file, {check.inputs}): "
        f"{check.max_abs_error:.3g} (tolerance {check.tolerance:.3g}, {check.rule}: "
        f"{check_verdict(check)})"
    )
    if item.latency is not None:
        measurement = item.measurement or {}
        runtime = measurement.get("runtime", {})
        rows.append(
            f"  - Timed with {runtime.get('runtime', '?')} {runtime.get('version', '')}, "
            f"{runtime.get('intra_op_threads', '?')} intra-op threads over {item.latency.n} runs "
            f"(CoV {item.latency.cov * 100:.1f} %, stopped by {item.latency.stop_reason})"
        )
        energy = measurement.get("energy") or {}
        if energy.get("energy_mj") is not None:
            rows.append(
                f"  - Energy per inference: {energy['energy_mj']:.4g} mJ ({energy['reason']})"
            )
        else:
            rows.append(f"  - Energy: not measured ({energy.get('reason') or 'no meter'})")
    else:
        rows.append(f"  - Latency: {item.latency_reason}")
    engine = item.engine
    if engine is not None:
        rows += [
            f"  - TensorRT engine: `{engine.engine_path}` (TensorRT {engine.tensorrt_version}, "
            f"{engine.gpu}, precision {engine.precision}; metadata `{engine.sidecar_path}`)",
            f"  - Engine max abs error vs PyTorch: {engine.check.max_abs_error:.3g} (tolerance "
            f"{engine.check.tolerance:.3g}, {engine.check.rule}: {check_verdict(engine.check)}); "
            f"vs ONNX Runtime: {engine.max_abs_diff_vs_onnxruntime:.3g}",
        ]
    return rows


def _graph_section(graph: GraphReport, many: bool) -> list[str]:
    rows = [f"## Graph `{graph.role}`", ""] if many else []
    rows.append(f"- Exported by the {graph.exporter} exporter, opset {graph.opset}")
    if graph.fallback_reason:
        rows.append(f"- Fallback: {graph.fallback_reason}")
    for item in graph.files:
        rows += _file_rows(item)
    rows += ["", f"| latency at batch {graph.batch_size} | ms |", "|---|---|"]
    for item in graph.files:
        if item.latency is not None:
            rows += _latency_rows(f"ONNX Runtime {item.precision}", item.latency)
        if item.engine is not None:
            rows += _latency_rows(f"TensorRT {item.precision}", item.engine.measured_latency)
    primary = graph.primary
    if primary.latency is not None:  # the deployed file's rows under their earlier names
        rows += _latency_rows("ONNX Runtime", primary.latency)
    if primary.engine is not None:
        rows += _latency_rows("TensorRT", primary.engine.measured_latency)
    return [*rows, ""]


def _accuracy_section(report: ExportReport) -> list[str]:
    accuracy = report.accuracy
    if accuracy is None:
        return [f"- Accuracy: not measured ({report.accuracy_reason})", ""]
    rows = [
        f"## Accuracy on {accuracy.data} ({accuracy.split} split, {accuracy.images} images)",
        "",
        "| model | top-1 % | drop (points) | median latency ms |",
        "|---|---|---|---|",
        f"| PyTorch | {accuracy.pytorch_top1_percent:.2f} | | |",
    ]
    for item in accuracy.files:
        latency = report.latency_ms(item.precision)
        text = "not timed" if latency is None else f"{latency:.4g}"
        rows.append(
            f"| ONNX {item.precision} | {item.top1_percent:.2f} | {item.drop_points:+.2f} | "
            f"{text} |"
        )
    return [*rows, ""]


def choice_lines(report: ExportReport) -> list[str]:
    """The fastest file, the fastest within the drop, and files slower than fp32."""
    choice = report.choice
    lines = []
    if choice.fastest is not None:
        lines.append(
            f"fastest file: {choice.fastest} ({report.latency_ms(choice.fastest):.4g} ms median)"
        )
    if choice.fastest_within_drop is not None:
        lines.append(
            f"fastest within {choice.max_accuracy_drop_points:g} point(s) of PyTorch top-1: "
            f"{choice.fastest_within_drop}"
        )
    elif choice.reason:
        lines.append(f"fastest within {choice.max_accuracy_drop_points:g} point(s): "
                     f"{choice.reason}")  # fmt: skip
    for slow in choice.slower_than_fp32:
        lines.append(
            f"{slow.precision} is SLOWER than fp32 on {report.device}: {slow.latency_ms:.4g} ms "
            f"against {slow.fp32_latency_ms:.4g} ms ({slow.ratio:.2f}x)"
        )
    return lines


def budget_verdict_sentence(report: ExportReport) -> str | None:
    """The budget verdict from rounds as one line (which figures judge, raw beside anchored).

    None where the verdict was not timed in rounds (a graph with its own inputs).
    """
    from profilers.verdict import BudgetVerdict

    details = report.details or {}
    if "budget_verdict" not in details:
        return None
    sentence = BudgetVerdict(**details["budget_verdict"]).sentence()
    timing = details.get("shipped_timing") or {}
    raw = details.get("budget_verdict_raw")
    if timing.get("judged_by") == "anchored" and raw is not None:
        raw_verdict = BudgetVerdict(**raw)
        sentence += (
            f"; judged on the rounds scaled to the profile's speed anchor (x"
            f"{timing['speed_factor']:.3f}); raw: {raw_verdict.verdict}, median "
            f"{raw_verdict.median_ms:.3f} ms"
        )
    elif timing:
        sentence += "; judged on raw rounds (no speed anchor)"
    return sentence


def render_markdown(report: ExportReport) -> str:
    """The deployment report: model, device, files, checks, accuracy, latency against budget."""
    host = (report.measurement or {}).get("host", {})
    cpu = host.get("cpu_model") or "unknown CPU"
    measured = report.latency_for_budget
    budget = "no budget given"
    if report.budget_ms is not None and measured is not None:
        verdict = "yes" if report.within_budget else "NO"
        budget = (
            f"{report.budget_ms:.4g} ms; {measured.runtime} median {measured.median_ms:.4g}"
            f" ms: within budget: {verdict}"
        )
        sentence = budget_verdict_sentence(report)
        if sentence is not None:
            budget = f"{report.budget_ms:.4g} ms: within budget: {sentence}"
    costs = []
    if report.params is not None:
        costs.append(f"{report.params:,} parameters")
    if report.macs is not None:
        costs.append(f"{report.macs / 1e6:.1f} M MACs")
    rows = [
        f"# Deployment report: {report.kind} `{report.arch}`",
        "",
        f"- Model: {report.model.label}",
        f"- Device: {report.device} (reach {report.device_reach}; {cpu}, "
        f"{host.get('cpu_usable_cores', '?')} usable cores)",
        f"- Format {report.format}, precisions {', '.join(report.precisions)} (deployed: "
        f"{report.precision}), batch {report.batch_size}",
        f"- Network: {', '.join(costs) or 'size not counted'}",
        f"- Weights: {report.model.weights}",
        f"- Predicted latency: {_ms(report.predicted_latency_ms)}",
        f"- Budget: {budget}",
        *[f"- {line[0].upper()}{line[1:]}" for line in choice_lines(report)],
        "",
    ]
    rows += _accuracy_section(report)
    for graph in report.graphs:
        rows += _graph_section(graph, len(report.graphs) > 1)
    return "\n".join(rows)
