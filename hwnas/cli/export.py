"""`hwnas export` (and its alias `hwnas lrnn export`): a thin call of `hwnas.jobs.export`."""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cli.types import positive_float

PRECISION_CHOICES = ("fp32", "fp16", "int8", "all")


def non_negative_float(text: str) -> float:
    """A float >= 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


MODEL_FLAGS = ("model", "arch", "genotype", "ensemble", "lrnn")
"""The flags naming what to export (one of them); `hwnas.jobs.export_sources.FLAG_KINDS`."""


def add_export_arguments(export: argparse.ArgumentParser) -> None:
    """The model, precision, accuracy and budget flags of `hwnas export`."""
    model = export.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model",
        type=Path,
        help="a trained model folder written by `hwnas train` (normalisation inside the graph; "
        "int8 calibrated on its training images; every file scored on its test split)",
    )
    model.add_argument(
        "--arch",
        help="an NB201 string |op~0|+|op~0|op~1|+|...| or an FBNet string k3_e1-skip-... "
        "(fresh random weights: for timing only)",
    )
    model.add_argument(
        "--genotype",
        type=Path,
        help="a DARTS genotype.json (fresh weights) or a folder written by `hwnas darts train`",
    )
    model.add_argument("--ensemble", type=Path, help="an NES ensemble folder (ensemble.json)")
    model.add_argument(
        "--lrnn",
        type=Path,
        help="a folder written by `hwnas lrnn train` (`hwnas lrnn export` is an alias)",
    )
    export.add_argument(
        "--out", type=Path, required=True, help="folder for the ONNX files, engines and report"
    )
    export.add_argument(
        "--format",
        choices=("onnx", "tensorrt"),
        default="onnx",
        help="onnx (default), or also a TensorRT engine per precision built for this GPU",
    )
    export.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISION_CHOICES,
        default=["fp32"],
        help="one or more of fp32, fp16 (converted), int8 (Q/DQ), or all; the fp32 file is "
        "always written, every file is checked and timed, the lowest precision is deployed "
        "(default fp32)",
    )
    export.add_argument(
        "--calibration-data",
        type=Path,
        help="int8: a .npy of (N, C, H, W) float32 inputs like the deployment data (default: "
        "256 training images of a --model's data; random normal inputs for fresh weights)",
    )
    export.add_argument(
        "--accuracy-data",
        help="score every file on this data's test split (a data spec of the model's image "
        "format, e.g. npz:test.npz; default: the --model's own data)",
    )
    export.add_argument(
        "--max-accuracy-drop",
        type=non_negative_float,
        default=1.0,
        help="largest top-1 drop (points) against PyTorch of a file to ship; the report names "
        "the fastest file within it (default 1)",
    )
    export.add_argument(
        "--predicted-latency-ms",
        type=positive_float,
        help="the predictor's latency, reported beside the measured one",
    )
    export.add_argument(
        "--latency-budget-ms",
        type=positive_float,
        help="the budget the measured latency is judged against (default: none)",
    )
    export.add_argument(
        "--device",
        help="where the ONNX files are timed: 'local' (default), or a device of `hwnas devices "
        "list` reached over ssh or Ray",
    )
    export.add_argument("--device-file", type=Path, help="a device description (TOML)")
    export.add_argument(
        "--max-time-s",
        type=positive_float,
        default=2.0,
        help="time cap of the repeated timed runs per file (default 2 s)",
    )
    export.add_argument("--seed", type=int, default=0, help="seed of fresh weights (default 0)")


def export_settings(args: argparse.Namespace):
    """The `ExportSettings` of parsed `hwnas export` arguments."""
    from hwnas.core.export import OnnxExport
    from hwnas.jobs.export import ExportSettings
    from profilers import TimingConfig

    return ExportSettings(
        format=args.format,
        precisions=tuple(args.precision),
        onnx=OnnxExport(exporter=args.exporter),
        timing=TimingConfig(max_runs=1000, max_time_s=args.max_time_s),
        intra_op_threads=args.threads,
        batch_size=args.batch_size,
        calibration_data=args.calibration_data,
        accuracy_data=args.accuracy_data,
        max_accuracy_drop_points=args.max_accuracy_drop,
    )


def run_export_command(args: argparse.Namespace, device, source_options=None) -> int:
    """Runs `hwnas export` for parsed arguments on `device`; prints the report."""
    from hwnas.errors import InputError
    from hwnas.jobs.export import ExportJob, export_model
    from hwnas.jobs.export_sources import FLAG_KINDS

    named = [flag for flag in MODEL_FLAGS if getattr(args, flag, None) is not None]
    if len(named) != 1:
        raise InputError(f"name exactly one model to export (--{', --'.join(MODEL_FLAGS)})")
    job = ExportJob(
        kind=FLAG_KINDS[named[0]],
        target=getattr(args, named[0]),
        out_dir=args.out,
        settings=export_settings(args),
        device=device,
        predicted_latency_ms=args.predicted_latency_ms,
        budget_ms=args.latency_budget_ms,
        seed=args.seed,
        source_options=source_options or {},
    )
    report = export_model(job)
    print_export(report)
    return 0 if report.passed else 1


def _check_line(check) -> str:
    from hwnas.core.export.markdown import check_verdict

    return (
        f"max abs error vs PyTorch ({check.precision}): {check.max_abs_error:.3g} "
        f"(tolerance {check.tolerance:.3g}: {check_verdict(check)})"
    )


def print_export(report) -> None:
    """The console report: model label, files, checks, latencies, accuracy, choice, budget."""
    from hwnas.core.export.markdown import choice_lines

    print(f"model: {report.kind} {report.arch}: {report.model.label}")
    many = len(report.graphs) > 1
    for graph in report.graphs:
        name = f"{graph.role} " if many else ""
        print(f"{name}onnx: {graph.onnx_path} ({graph.exporter} exporter, opset {graph.opset})")
        for item in graph.files:
            if item.precision != graph.primary_precision:
                print(f"{name}{item.precision} onnx: {item.path}")
        for item in graph.files:
            print(_check_line(item.check))
        for item in graph.files:
            measured = item.latency
            if measured is None:
                print(f"measured latency ({item.precision}): {item.latency_reason}")
                continue
            label = "" if len(graph.files) == 1 else f", {item.precision}"
            print(
                f"measured latency (onnxruntime, {report.device}{label}): "
                f"{measured.median_ms:.3f} ms median, p90 {measured.p90_ms:.3f} ms"
            )
        for item in graph.files:
            engine = item.engine
            if engine is None:
                continue
            print(f"tensorrt engine: {engine.engine_path} ({engine.precision})")
            print(
                f"engine {_check_line(engine.check)}; vs onnxruntime "
                f"{engine.max_abs_diff_vs_onnxruntime:.3g}"
            )
            print(f"measured latency (tensorrt): {engine.measured_latency.median_ms:.3f} ms")
    accuracy = report.accuracy
    if accuracy is not None:
        print(
            f"top-1 on {accuracy.data} ({accuracy.split} split, {accuracy.images} images): "
            f"PyTorch {accuracy.pytorch_top1_percent:.2f} %"
        )
        for item in accuracy.files:
            print(
                f"  onnx {item.precision}: {item.top1_percent:.2f} % "
                f"(drop {item.drop_points:+.2f} points)"
            )
    else:
        print(f"accuracy: not measured ({report.accuracy_reason})")
    for line in choice_lines(report):
        print(line)
    if report.predicted_latency_ms is not None:
        print(f"predicted latency: {report.predicted_latency_ms:.3f} ms")
    if report.budget_ms is not None:
        from hwnas.core.export.markdown import budget_verdict_sentence

        verdict = budget_verdict_sentence(report) or ("yes" if report.within_budget else "no")
        print(f"within budget ({report.budget_ms:g} ms): {verdict}")
    print(f"report: {Path(report.onnx_path).parent / 'report.json'}")
