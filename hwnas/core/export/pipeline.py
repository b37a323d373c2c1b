"""The one export pipeline: export -> check -> convert -> accuracy -> time -> report.

Every model kind goes through `run_export`: its source (`hwnas.core.export.sources`) writes
the fp32 ONNX graphs; each graph is checked against PyTorch, converted to every requested
precision (fp16, int8) and checked again; each file is scored on held-out data where the
model has data (top-1 of PyTorch and of each file as ONNX Runtime runs it), timed with ONNX
Runtime on the device (this machine, a board over SSH, a Ray node), and, with
``format="tensorrt"``, built into an engine per requested precision on this machine's GPU,
checked and timed as well. The report says which file is fastest, which is fastest within
the accuracy drop, and which reduced-precision files are slower than fp32.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.core.export.accuracy import choose_precision
from hwnas.core.export.checks import (
    build_engine_checked,
    check_file,
    profile_here,
    profile_on_target,
)
from hwnas.core.export.report import (
    BudgetLatency,
    Calibration,
    Conversion,
    ExportReport,
    FileCheck,
    FileReport,
    GraphReport,
    ModelInfo,
)
from hwnas.core.export.settings import ExportSettings, check_device, ordered_precisions
from hwnas.core.export.sources import ExportedGraph, ModelSource
from hwnas.errors import InputError

__all__ = ["ExportSettings", "check_device", "ordered_precisions", "run_export", "write_report"]
FP16_METHOD = "onnxconverter_common float16, fp32 inputs and outputs kept"

log = logging.getLogger(__name__)


def _calibration(source: ModelSource, settings: ExportSettings, out_dir: Path):
    """int8 calibration inputs, saved to `out_dir/calibration.npy`, and where they came from."""
    from hwnas.core.export.precision import check_calibration, load_calibration
    from profilers.campaign import file_sha256

    seed = None
    if settings.calibration_data is not None:
        samples = load_calibration(settings.calibration_data)
        origin = f"file {settings.calibration_data}"
        samples = check_calibration(samples, f"--calibration-data {settings.calibration_data}")
    else:
        seed = 0
        samples, origin = source.calibration_samples(settings.calibration_samples, seed)
        samples = check_calibration(samples, origin)
    path = out_dir / "calibration.npy"
    np.save(path, samples, allow_pickle=False)
    return samples, Calibration(origin, int(len(samples)), str(path), file_sha256(path), seed)


def _convert(source, graph: ExportedGraph, precision: str, settings, out_dir: Path, samples):
    """The `precision` copy of `graph`'s fp32 file and how it was made."""
    from hwnas.core.export.precision import convert_fp16, quantize_int8

    stem = graph.path.stem
    if precision == "fp16":
        return convert_fp16(graph.path, out_dir / f"{stem}_fp16.onnx"), Conversion(FP16_METHOD)
    data, calibration = samples
    path = out_dir / f"{stem}_int8_{settings.int8.format}.onnx"
    path = quantize_int8(graph.path, path, data, settings.int8, batch_size=8)
    return path, Conversion(settings.int8.describe(), calibration)


@dataclass
class _File:
    """A file while the pipeline runs (the report's `FileReport` once complete)."""

    precision: str
    path: Path
    conversion: Conversion | None
    check: FileCheck
    latency: object = None
    measurement: dict | None = None
    engine: object = None


def _judge_int8(check: FileCheck, drop: float, limit: float) -> FileCheck:
    from dataclasses import replace

    verdict = f"accuracy drop: {drop:.2f} points of top-1 against PyTorch (at most {limit:g})"
    return replace(check, passed=drop <= limit, judged_by=verdict)


def run_export(
    source: ModelSource,
    out_dir: str | Path,
    settings: ExportSettings | None = None,
    *,
    device=None,
    predicted_latency_ms: float | None = None,
    budget_ms: float | None = None,
    report_name: str | None = "report",
) -> ExportReport:
    """Exports `source`'s graphs to `out_dir`, checks, converts, scores and times every file.

    Args:
        source: What to export.
        out_dir: Folder of the ONNX files, engines and the report.
        settings: Format, precisions, timing, calibration, accuracy data.
        device: A `devices.Device` timing the ONNX files; this machine by default.
        predicted_latency_ms: The predictor's latency, reported beside the measured one.
        budget_ms: The latency budget; the report says whether the measured median meets it.
        report_name: Writes `<report_name>.json` and `.md` to `out_dir`; None writes nothing.

    Raises:
        InputError: for a folder that is a file, a precision the source cannot take, bad
            calibration data, accuracy data of another format, or a device that cannot time
            this export.
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
    check_device(device, source, settings)
    if settings.format == "tensorrt":  # refuse before exporting where no engine can be built
        from hwnas.core.export import tensorrt as export_trt

        export_trt.import_tensorrt()
        export_trt.cuda_gpu()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; the export needs a folder there")
    if settings.calibration_data is not None and not settings.calibration_data.is_file():
        raise InputError(f"calibration data {settings.calibration_data} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)

    written = settings.written_precisions
    options = (
        {} if settings.intra_op_threads is None else {"intra_op_threads": settings.intra_op_threads}
    )
    runtime = create_runtime("onnxruntime", **options)
    job = RemoteJob("onnxruntime", options, settings.timing, settings.batch_size)
    files: dict[str, dict[str, _File]] = {}
    with target_for(device, job) as target:
        if settings.profile:
            target.open()  # an unreachable board or a missing runtime is reported first
        graphs = source.export(out_dir, settings.onnx)
        samples = _calibration(source, settings, out_dir) if "int8" in written else None
        for graph in graphs:
            fp32 = check_file(source, graph, graph.path, runtime, settings.check_batch, "fp32")
            files[graph.role] = {"fp32": _File("fp32", graph.path, None, fp32)}
            for precision in written[1:]:
                path, conversion = _convert(source, graph, precision, settings, out_dir, samples)
                check = check_file(source, graph, path, runtime, settings.check_batch, precision)
                files[graph.role][precision] = _File(precision, path, conversion, check)
        # with a budget, the primary graph's files are timed as the profile timed the cells
        # (`_time_like_profile`, below), not in one window here as well
        rounds_apply = (
            budget_ms is not None
            and settings.profile
            and settings.format == "onnx"
            and source.timing_inputs(graphs[0], settings.batch_size) is None
        )
        if settings.profile:
            on_target = [
                (graph, item)
                for graph in graphs
                if source.timing_inputs(graph, settings.batch_size) is None
                and not (rounds_apply and graph is graphs[0])
                for item in files[graph.role].values()
            ]
            keys = [
                (f"{source.name}:{graph.role}:{item.precision}", item.path)
                for graph, item in on_target
            ]
            for (_, item), timed in zip(on_target, profile_on_target(target, keys)):
                item.latency, item.measurement = timed
    if settings.profile:
        for graph in graphs:
            inputs = source.timing_inputs(graph, settings.batch_size)
            if inputs is not None:
                for item in files[graph.role].values():
                    item.latency, item.measurement = profile_here(
                        item.path, runtime, settings.timing, settings.batch_size, inputs
                    )
                    item.measurement = {"device": device.name, **item.measurement}
            else:
                for item in files[graph.role].values():
                    item.measurement = {"device": device.name, **(item.measurement or {})}
    if settings.format == "tensorrt":
        for graph in graphs:
            for precision in settings.precisions:
                files[graph.role][precision].engine = build_engine_checked(
                    source, graph, precision, settings, out_dir, runtime
                )

    primary_graph = graphs[0]
    accuracy, accuracy_reason = _accuracy(source, settings, files[primary_graph.role], runtime)
    drops = None
    if accuracy is not None:
        drops = {item.precision: item.drop_points for item in accuracy.files}
        int8 = files[primary_graph.role].get("int8")
        if int8 is not None:
            int8.check = _judge_int8(int8.check, drops["int8"], settings.max_accuracy_drop_points)
    timings = {}
    if rounds_apply:
        # every file that may ship is timed as the profile timed the cells (rounds, probe,
        # anchor, companions): its latency, the choice between files and the verdict
        timings = _time_like_profile(
            source, files[primary_graph.role], budget_ms, settings, device, job, out_dir
        )
        for precision, item in files[primary_graph.role].items():
            item.latency = timings[precision].latency
            item.measurement = {
                **timings[precision].fingerprint,
                "device": device.name,
                "timed_as": "profile rounds (profilers.verify)",
                "store_key": timings[precision].key,
            }
    latencies = {
        p: item.latency.median_ms
        for p, item in files[primary_graph.role].items()
        if item.latency is not None
    }
    choice = choose_precision(latencies, drops, settings.max_accuracy_drop_points)

    reason = None if settings.profile else "not profiled: profile=False"
    graph_reports = tuple(
        GraphReport(
            role=graph.role,
            exporter=graph.exporter,
            opset=graph.opset,
            fallback_reason=graph.fallback_reason,
            batch_size=settings.batch_size,
            primary_precision=settings.primary_precision,
            files=tuple(
                FileReport(
                    precision=item.precision,
                    path=str(item.path),
                    sha256=file_sha256(item.path),
                    conversion=item.conversion,
                    check=item.check,
                    latency=item.latency,
                    latency_reason=reason,
                    measurement=item.measurement,
                    engine=item.engine,
                )
                for item in files[graph.role].values()
            ),
        )
        for graph in graphs
    )
    primary = graph_reports[0].primary
    if primary.engine is None and settings.verdict_precision in written:
        primary = graph_reports[0].file(settings.verdict_precision)
    budget_latency = None
    if primary.engine is not None:
        engine_latency = primary.engine.measured_latency
        budget_latency = _budget_latency("tensorrt", primary.precision, engine_latency)
    elif primary.latency is not None:
        budget_latency = _budget_latency("onnxruntime", primary.precision, primary.latency)
    within = None
    details = source.details
    if budget_ms is not None and budget_latency is not None:
        within = budget_latency.median_ms <= budget_ms
        # yes/no/undecided from the profile's rounds (`timings`), where the target's random
        # inputs can feed the graph; graphs with their own inputs (an LRNN's token ids) are
        # timed here, once, and judged by that median.
        if timings and budget_latency.runtime == "onnxruntime":
            shipped = timings[primary.precision]
            within = shipped.verdict.within_budget
            details = {
                **source.details,
                "budget_verdict": shipped.verdict.to_dict(),
                "budget_verdict_raw": shipped.raw_verdict.to_dict(),
                "shipped_timing": {
                    k: v
                    for k, v in shipped.to_dict().items()
                    if k not in ("verdict", "raw_verdict", "fingerprint")
                },
                # every file's verdict, timed alike (the report judges the one above)
                "file_verdicts": {
                    precision: {
                        "verdict": timing.verdict.to_dict(),
                        "raw_verdict": timing.raw_verdict.to_dict(),
                    }
                    for precision, timing in timings.items()
                },
            }
    report = source.report_type(
        kind=source.kind,
        arch=source.name,
        format=settings.format,
        precision=settings.primary_precision,
        precisions=written,
        device=device.name,
        device_reach=device.reach,
        model=ModelInfo(source.trained, source.weights, source.data_spec),
        params=source.details.get("params"),
        macs=source.details.get("macs"),
        check_batch=settings.check_batch,
        batch_size=settings.batch_size,
        details=details,
        graphs=graph_reports,
        choice=choice,
        latency_for_budget=budget_latency,
        accuracy=accuracy,
        accuracy_reason=accuracy_reason,
        predicted_latency_ms=predicted_latency_ms,
        budget_ms=budget_ms,
        within_budget=within,
    )
    if report_name is not None:
        write_report(report, out_dir, report_name)
    return report


def _time_like_profile(source, items, budget_ms, settings, device, job, out_dir: Path):
    """Each file of ``items`` timed as a profile times a cell (`profilers.verify`), by precision.

    Their rounds go to ``settings.store`` (default ``out_dir``/measurements.sqlite) under each
    file's own key, beside ``settings.companions``; the verdicts are decided on the rounds
    scaled to the speed anchor and the companions' factor.
    """
    import dataclasses

    from profilers import create_runtime
    from profilers.remote import target_for
    from profilers.verify import time_like_profile

    rounds = settings.rounds
    round_job = dataclasses.replace(
        job, timing=rounds.round_timing(settings.timing), probe=rounds.probe
    )
    runtime = create_runtime("onnxruntime", **job.runtime_options)
    names = {f"{source.name}@{precision}": precision for precision in items}
    timed = time_like_profile(
        [(name, items[precision].path) for name, precision in names.items()],
        budget_ms,
        store_path=settings.store or out_dir / "measurements.sqlite",
        runtime=runtime,
        device=device,
        timing=settings.timing,
        rounds=rounds,
        batch_size=settings.batch_size,
        target=target_for(device, round_job),
        companions=settings.companions,
    )
    return {names[name]: timing for name, timing in timed.items()}


def write_report(report: ExportReport, out_dir: Path, name: str = "report") -> None:
    """`<name>.json` (the JSON boundary) and `<name>.md` in `out_dir`."""
    from hwnas.core.export.markdown import render_markdown

    (out_dir / f"{name}.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    (out_dir / f"{name}.md").write_text(render_markdown(report))


def _budget_latency(runtime: str, precision: str, latency) -> BudgetLatency:
    return BudgetLatency(
        runtime, precision, latency.median_ms, latency.p90_ms, latency.p99_ms, latency.n
    )


def _accuracy(source: ModelSource, settings: ExportSettings, files: dict, runtime):
    """The accuracy of every file of the primary graph, or None and why not."""
    from hwnas.core.export.accuracy import measure_accuracy

    module = source.scoring_module()
    spec = settings.accuracy_data or (source.data_spec if source.trained else None)
    if module is None:
        return None, f"{source.kind} models are not image classifiers scored on labelled images"
    if spec is None:
        if not source.trained:
            return None, f"{ModelInfo(False, '').label}: no accuracy"
        return None, "the model names no data: pass --accuracy-data SPEC to score the files"
    shape = getattr(source, "input_shape", None)
    paths = {p: item.path for p, item in files.items()}
    return measure_accuracy(module, paths, runtime, spec, shape, source.num_classes), None
