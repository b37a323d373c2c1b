"""`hwnas lrnn train` and `hwnas lrnn export`: thin calls of `hwnas.methods.lrnn`."""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cli.types import positive_float, positive_int
from hwnas.methods.lrnn.tasks import TASKS


def _arch(args: argparse.Namespace):
    from hwnas.core.spaces.lrnn import LRNNArch, LRNNArchError
    from hwnas.errors import InputError

    try:
        if args.arch:
            return LRNNArch.from_string(args.arch)
        return LRNNArch(args.recurrence, args.range, args.layers, args.width, args.state)
    except LRNNArchError as err:
        raise InputError(str(err)) from err


def cmd_train(args: argparse.Namespace) -> int:
    from hwnas.methods.lrnn.train import TrainConfig, train_and_save

    arch = _arch(args)
    config = TrainConfig(
        task=args.task,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        min_length=args.min_length,
        max_length=args.max_length,
        supervision=args.supervision,
        test_lengths=tuple(args.test_lengths),
        test_samples=args.test_samples,
        seed=args.seed,
        threads=args.threads,
        scan=args.scan,
    )

    def progress(step: int, loss: float) -> None:
        if step % 100 == 0:
            print(f"step {step}/{config.steps} loss {loss:.4f}", flush=True)

    result = train_and_save(arch, config, args.out, progress)
    print(f"{arch} on {config.task}: {result.steps_run} steps in {result.train_seconds:.1f} s")
    chance = result.metrics()["chance_accuracy"]
    for length, accuracy in result.accuracy.items():
        print(f"accuracy at length {length}: {accuracy:.3f} (chance {chance:.2f})")
    print(f"model: {args.out}/model.safetensors, config.json; metrics: {args.out}/metrics.json")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """`hwnas lrnn export`: an alias of `hwnas export --lrnn` (the same job and pipeline).

    Prints the lines it always printed, from the one `ExportReport`.
    """
    from hwnas.core.export import OnnxExport
    from hwnas.jobs.export import ExportJob, ExportSettings, export_model
    from hwnas.methods.lrnn.export import LRNNExport, as_lrnn_report
    from profilers import TimingConfig

    config = LRNNExport(
        exporter=args.exporter,
        unrolled_length=args.unrolled_length,
        check_length=args.check_length,
        intra_op_threads=args.threads,
        max_time_s=args.max_time_s,
    )
    settings = ExportSettings(
        onnx=OnnxExport(opset=config.opset, exporter=config.exporter),
        timing=TimingConfig(max_runs=1000, max_time_s=config.max_time_s),
        intra_op_threads=config.intra_op_threads,
        check_batch=config.check_batch,
    )
    job = ExportJob("lrnn", args.model, args.out, settings, source_options={"config": config})
    report = as_lrnn_report(export_model(job))
    step, unrolled = report.graph("step"), report.graphs[1]
    verdict = "ok" if report.passed else "FAILED"
    print(f"step graph: {report.step_onnx} ({step.exporter} exporter)")
    print(
        f"unrolled graph (T={report.unrolled_length}): {report.unrolled_onnx} "
        f"({unrolled.exporter} exporter)"
    )
    print(
        f"max abs error vs PyTorch: step loop over {report.check_length} tokens "
        f"{report.step_max_abs_error:.3g}, unrolled {report.unrolled_max_abs_error:.3g} "
        f"(tolerance {config.tolerance:g}: {verdict})"
    )
    print(
        f"latency per token: step graph {report.step_latency.median_ms:.4f} ms median "
        f"(p90 {report.step_latency.p90_ms:.4f}); unrolled "
        f"{report.unrolled_latency_per_token_ms:.4f} ms"
    )
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0 if report.passed else 1


def add_commands(subparsers) -> None:
    """Adds ``hwnas lrnn train`` and ``hwnas lrnn export``."""
    lrnn = subparsers.add_parser("lrnn", help="linear RNNs that track state: train, export")
    commands = lrnn.add_subparsers(dest="lrnn_command", required=True)

    train = commands.add_parser(
        "train", help="train an LRNN on a state-tracking task, test longer sequences"
    )
    train.add_argument(
        "--task", default="parity", choices=tuple(TASKS), help="the state-tracking task"
    )
    train.add_argument("--range", default="11", choices=("01", "11"), help="eigenvalues")
    train.add_argument(
        "--recurrence",
        default="diag",
        choices=("diag", "deltanet"),
        help="diagonal linear recurrence or DeltaNet",
    )
    train.add_argument("--layers", type=positive_int, default=1, help="recurrent layers")
    train.add_argument("--width", type=positive_int, default=32, help="model (embedding) width")
    train.add_argument(
        "--state", type=positive_int, default=16, help="state size (DeltaNet: per-head state)"
    )
    train.add_argument(
        "--arch", help="a whole architecture, e.g. lrnn:deltanet-11-L2-W64-S16 (overrides above)"
    )
    train.add_argument("--steps", type=positive_int, default=600, help="most Adam steps")
    train.add_argument("--batch-size", type=positive_int, default=64, help="sequences per step")
    train.add_argument("--lr", type=positive_float, default=1e-2, help="Adam learning rate")
    train.add_argument(
        "--min-length", type=positive_int, default=3, help="shortest training sequence"
    )
    train.add_argument(
        "--max-length", type=positive_int, default=40, help="longest training sequence"
    )
    train.add_argument(
        "--supervision",
        choices=("prefixes", "last"),
        help="label every prefix or only the last token (default: prefixes where the task "
        "labels them)",
    )
    train.add_argument(
        "--test-lengths",
        type=positive_int,
        nargs="+",
        default=[40, 128, 256],
        help="sequence lengths the accuracy is reported at",
    )
    train.add_argument(
        "--test-samples", type=positive_int, default=1000, help="test sequences per length"
    )
    train.add_argument("--seed", type=int, default=0, help="seed of weights and data")
    train.add_argument("--threads", type=positive_int, help="torch threads (default torch's)")
    train.add_argument(
        "--scan",
        default="auto",
        choices=("auto", "parallel", "sequential"),
        help="how sequences run (same results); auto: the faster on a CPU",
    )
    train.add_argument("--out", type=Path, required=True, help="folder for model and metrics")
    train.set_defaults(func=cmd_train)

    export = commands.add_parser(
        "export",
        help="alias of `hwnas export --lrnn`: step and unrolled ONNX graphs, checked, timed",
    )
    export.add_argument("--model", type=Path, required=True, help="a folder from lrnn train")
    export.add_argument(
        "--out", type=Path, required=True, help="folder for the ONNX graphs and the report"
    )
    export.add_argument(
        "--unrolled-length",
        type=positive_int,
        default=32,
        help="fixed sequence length T of the unrolled graph",
    )
    export.add_argument(
        "--check-length",
        type=positive_int,
        default=256,
        help="tokens fed through the step graph in the check against PyTorch",
    )
    export.add_argument(
        "--exporter",
        default="auto",
        choices=("auto", "dynamo", "legacy"),
        help="torch.onnx exporter",
    )
    export.add_argument("--threads", type=positive_int, help="ONNX Runtime intra-op threads")
    export.add_argument(
        "--max-time-s", type=positive_float, default=2.0, help="cap on the timing of each graph"
    )
    export.set_defaults(func=cmd_export)
