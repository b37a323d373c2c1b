"""`hwnas run`'s training options and its console report (the command is in `hwnas.cli.main`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cli.types import positive_int
from hwnas.jobs.pipeline import DEFAULT_ATTEMPTS, EXIT_BUDGET_NOT_KEPT, TrainingPlan
from hwnas.jobs.pipeline import DEFAULT_EXPORTER as RUN_EXPORTER

__all__ = [
    "DEFAULT_ATTEMPTS",
    "RUN_EXPORTER",
    "add_training_arguments",
    "print_run",
    "training_plan",
]
TRAINING_DEFAULTS = {
    name: getattr(TrainingPlan, name) for name in ("data", "epochs", "channels", "cells", "threads")
}


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of what the chosen cell is trained on (not what ranks it: --rank-by-table)."""
    group = parser.add_argument_group("training of the chosen cell (the network that ships)")
    group.add_argument(
        "--data",
        default=TRAINING_DEFAULTS["data"],
        help="the data the chosen cell is trained and scored on: digits (default), mnist, "
        "cifar10:DIR, cifar100:DIR, svhn:DIR, npz:FILE, folder:DIR",
    )
    group.add_argument(
        "--epochs",
        type=positive_int,
        default=TRAINING_DEFAULTS["epochs"],
        help=f"training epochs (default {TRAINING_DEFAULTS['epochs']})",
    )
    group.add_argument(
        "--train-batch-size", type=positive_int, default=64, help="training batch (default 64)"
    )
    group.add_argument(
        "--channels",
        type=positive_int,
        default=TRAINING_DEFAULTS["channels"],
        help=f"network width, profiled and trained (default {TRAINING_DEFAULTS['channels']})",
    )
    group.add_argument(
        "--cells",
        type=positive_int,
        default=TRAINING_DEFAULTS["cells"],
        help=f"NB201 cells per stage, profiled and trained (default {TRAINING_DEFAULTS['cells']})",
    )
    group.add_argument(
        "--input-size",
        type=positive_int,
        help="resize the images to this side inside the network (profiled so too); default: "
        "none, the network is profiled and trained at the data's own shape",
    )
    group.add_argument(
        "--train-threads",
        type=positive_int,
        default=TRAINING_DEFAULTS["threads"],
        help="torch CPU threads of the training (default 1: on a shared 2-core machine more "
        "threads trained many times slower)",
    )
    group.add_argument("--train-seed", type=int, default=0, help="seed of the training")
    group.add_argument(
        "--torch-device", default="cpu", help="where to train: cpu (default), cuda, auto"
    )


def training_plan(args: argparse.Namespace):
    """The `TrainingPlan` of the parsed options."""
    return TrainingPlan(
        data=args.data,
        epochs=args.epochs,
        batch_size=args.train_batch_size,
        channels=args.channels,
        cells=args.cells,
        input_size=args.input_size,
        seed=args.train_seed,
        torch_device=args.torch_device,
        threads=args.train_threads,
    )


def describe_setting(setting, data: str) -> str:
    """How the network was profiled: at the data's shape, or resized inside the network."""
    shape = "x".join(str(v) for v in setting.input_shape)
    sizes = ", ".join(f"{key} {value}" for key, value in setting.sizes.items())
    if setting.input_size is None:
        how = f"profiled at the data's shape: input {shape} ({data}), no resize"
    else:
        how = (
            f"resized inside the network: input {shape} ({data}) -> "
            f"{setting.input_size}x{setting.input_size}, profiled with the resize"
        )
    return f"network: {how}; {sizes}; {setting.num_classes} classes"


def print_run(result, bound_text: str) -> None:
    """The run's report; it ends with what shipped (files, accuracy, latency, budget)."""
    chosen = result.generate.chosen
    profile = result.profile
    how = ""
    if result.budget_from_median:
        how = " (the profiled cells' median latency bound; set --latency-budget-ms)"
    print(
        f"device: {profile.device}; {len(profile.latency_ms)} cells profiled "
        f"({len(profile.measured)} measured now, {len(profile.resumed)} from the store)"
    )
    for line in profile.rounds.lines() if profile.rounds is not None else ():
        print(f"  {line}")
    print(describe_setting(result.setting, result.data))
    print(f"budget: {result.budget_ms:.3f} ms{how}")
    print(f"chosen: {chosen.arch}")
    print(f"predicted latency: {chosen.predicted_latency_ms:.3f} ms ({bound_text})")
    print(
        f"ranked by the NAS-Bench-201 {result.rank_by_table} table: {chosen.accuracy:.2f}% "
        "(the table's accuracy of its own network, not of the file below)"
    )
    _print_training(result.train, result.data)
    _print_shipped(result)


def _print_training(train, data: str) -> None:
    test = "no test split" if train.test_accuracy is None else f"test {train.test_accuracy:.2f} %"
    if train.epochs_run == 0:
        when = f"restored: the {train.epochs}-epoch training had finished (checkpoint reused)"
    elif train.resumed_from:
        when = f"resumed at epoch {train.resumed_from}, {train.epochs_run} epochs run now"
    else:
        when = f"{train.epochs} epochs"
    print(
        f"trained on {data}: PyTorch validation {train.val_accuracy:.2f} %, {test} "
        f"(best epoch {train.best_epoch}); {when}; training {train.train_seconds:.1f} s"
    )
    print(f"model folder: {train.model_dir}")


def _print_shipped(result) -> None:
    from hwnas.jobs.pipeline import shipped_files

    report = result.export
    accuracy = report.accuracy
    if accuracy is None:
        print(f"accuracy: not measured ({report.accuracy_reason})")
    else:
        print(
            f"PyTorch top-1 on {accuracy.data} {accuracy.split} ({accuracy.images} images): "
            f"{accuracy.pytorch_top1_percent:.2f} %"
        )
    print(
        f"shipped ({report.model_label}; top-1 of each file as ONNX Runtime runs it, median "
        f"latency on {report.device}, batch {report.batch_size}):"
    )
    budget = f"<= {result.budget_ms:.3f} ms"
    print(f"  {'precision':<9}  {'top-1':>8}  {'drop':>6}  {'latency':>10}  {budget:>14}  file")
    for row in shipped_files(result):
        top1 = "n/a" if row["top1_percent"] is None else f"{row['top1_percent']:.2f} %"
        drop = "n/a" if row["drop_points"] is None else f"{row['drop_points']:.2f}"
        latency = "n/a" if row["latency_ms"] is None else f"{row['latency_ms']:.3f} ms"
        verdict = row["verdict"] or "-"
        flag = ""
        if row["drop_above_max"]:
            flag += f"  DROP above {report.choice.max_accuracy_drop_points:g} point(s)"
        if row["slower_than_fp32"] is not None:
            flag += f"  SLOWER than fp32 ({row['slower_than_fp32']:.2f}x)"
        if row["raw_latency_ms"] is not None:
            flag += f"  (rounds as profiled; raw {row['raw_latency_ms']:.3f} ms"
            if row.get("companions"):
                flag += (
                    f"; x{row['speed_factor']:.3f} anchor, x{row['profile_factor']:.3f} from "
                    f"{row['companions']} profiled cells timed beside it"
                )
            flag += ")"
        elif row["latency_ms"] is not None:
            flag += "  (one window, not judged)"
        print(
            f"  {row['precision']:<9}  {top1:>8}  {drop:>6}  {latency:>10}  {verdict:>14}  "
            f"{row['path']}{flag}"
        )
    choice = report.choice
    if choice.fastest is not None:
        print(f"fastest file: {choice.fastest} ({report.file(choice.fastest).path})")
    within = choice.fastest_within_drop
    drop_text = f"within {choice.max_accuracy_drop_points:g} point(s) of PyTorch"
    if within is not None:
        print(f"fastest {drop_text}: {within} ({report.file(within).path})")
    elif choice.reason:
        print(f"fastest {drop_text}: none ({choice.reason})")
    print(
        f"report: {Path(report.onnx_path).parent / 'report.json'}; summary: {result.summary_path}"
    )
    _print_attempts(result)


def _print_attempts(result) -> None:
    """Every cell tried, and what the exit status says."""
    attempts = getattr(result, "attempts", ())
    if not attempts:
        return
    print(f"attempts ({len(attempts)} of at most {result.attempts_max}):")
    for a in attempts:
        measured = "not timed" if a.measured_latency_ms is None else f"{a.measured_latency_ms:.3f}"
        ratio = a.measured_over_predicted
        ratio_text = "" if ratio is None else f" ({ratio:.2f}x predicted)"
        mark = "  <- shipped" if a is result.shipped else ""
        print(
            f"  {a.number}. {a.arch}: predicted {a.predicted_latency_ms:.3f} ms, measured "
            f"{measured} ms{ratio_text}, verdict {a.verdict or 'n/a'}{mark}"
        )
    if result.exit_status == EXIT_BUDGET_NOT_KEPT:
        best = result.shipped
        print(
            f"budget NOT kept: no fp32 file is within {result.budget_ms:.3f} ms with confidence "
            f"after {len(attempts)} attempt(s); the best is {best.export_dir} (measured "
            f"{best.measured_latency_ms or float('nan'):.3f} ms, verdict {best.verdict}). Raise "
            "--latency-budget-ms, give more --attempts, time more rounds, or run on a quieter "
            f"machine (exit status {EXIT_BUDGET_NOT_KEPT})"
        )
    elif result.exit_status != 0:
        print(
            f"budget kept, but no file is within the accuracy drop (exit status "
            f"{result.exit_status})"
        )
