"""The `hwnas` command line: one subcommand per job, each a thin call of `hwnas.jobs`."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from hwnas.cli.export import add_export_arguments
from hwnas.cli.help_defaults import add_default_notes
from hwnas.cli.outputs import add_force_options, check_output
from hwnas.cli.run import DEFAULT_ATTEMPTS, RUN_EXPORTER, add_training_arguments
from hwnas.cli.types import non_negative_int, positive_float, positive_int, probability
from hwnas.core.export.precision import PRECISIONS
from hwnas.core.spaces import create_space, table_spaces
from hwnas.errors import family_of, user_errors
from hwnas.jobs.generate import DATASETS
from predictors.regressor_names import CANDIDATES

RESUME_NOTE = "every finished measurement is in the store: run the same command again to resume"
PRECISION_METAVAR = "{" + ",".join(PRECISIONS) + "}"
"""--precision is checked by the job, not by argparse `choices`: a wrong one is one line."""
DEFAULT_RUNS_DIR = Path("hwnas-runs")
DEFAULT_SPACE = "nb201"
"""The space `hwnas profile` times by default; its runs stay at the top of the device's folder."""
COMMAND_MODULES: tuple[str, ...] = (
    # one line per module, e.g. "hwnas.cli.lrnn",
    "devices.cli",
    "hwnas.cli.darts",
    "hwnas.cli.lrnn",
    "hwnas.cli.predictor",
    "hwnas.cli.nes",
    "hwnas.cli.modnas",
    "hwnas.cli.train",
)
"""Modules adding subcommands: each has ``add_commands(subparsers)``; imported when the parser is
built, so each keeps its heavy imports inside its command functions."""


def _progress_bar(label: str):
    """A progress display and its `progress(done, total, key, row)` callback.

    On a terminal, a live rich progress bar with the time remaining; elsewhere (logs, CI), one
    line per cell. Cells resumed from the store are left out of the bar (and its ETA).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console()
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        disable=not console.is_terminal,
    )
    task = bar.add_task(label, total=None, last="")
    resumed = 0

    def progress(done: int, total: int, key: str, row) -> None:
        nonlocal resumed
        if row is None:
            resumed += 1
            last = "resumed"
        elif hasattr(row, "latency"):
            last = f"{row.latency.median_ms:.3f} ms"
            if hasattr(row, "round"):  # one round of a cell
                last += f" (round {row.round}{', disturbed' if row.disturbed else ''})"
        else:
            last = f"FAILED ({row.stage}: {row.error_type})"
        bar.update(task, completed=done - resumed, total=total - resumed, last=f"{key}  {last}")
        if not console.is_terminal:
            print(f"{label} [{done}/{total}] {key} {last}", flush=True)

    return bar, progress


def _profile_config(args: argparse.Namespace):
    from hwnas.jobs import ProfileConfig
    from profilers import TimingConfig
    from profilers.cpus import parse_cpus
    from profilers.rounds import RoundsConfig

    return ProfileConfig(
        samples=args.samples,
        seed=args.seed,
        batch_size=args.batch_size,
        intra_op_threads=args.threads,
        exporter=args.exporter,
        timing=TimingConfig(max_runs=1000, max_time_s=args.max_time_s),
        rounds=RoundsConfig(
            rounds=args.rounds,
            max_rounds=max(9, 2 * args.rounds - 1),
            speed_anchor=not args.no_speed_anchor,
        ),
        cpus=None if args.cpus is None else parse_cpus(args.cpus),
        oversubscribe=args.oversubscribe,
    )


def _device(args: argparse.Namespace):
    from devices import find_device

    return find_device(args.device, [args.device_file] if args.device_file else [])


def cmd_profile(args: argparse.Namespace) -> int:
    import dataclasses

    from hwnas.jobs import profile_device

    config = dataclasses.replace(
        _profile_config(args),
        space=args.space,
        runtime=args.runtime,
        retry_failed=args.retry_failed,
        precision=args.precision,
        choose=args.choose,
        pool=args.pool,
    )
    device = _device(args)
    out = args.out or DEFAULT_RUNS_DIR / device.name
    if args.out is None and args.space != DEFAULT_SPACE:  # other spaces in a sub-folder
        out = out / args.space
    store_path = args.store or out / "measurements.sqlite"
    csv_stem = "latency_ms" if args.precision == "fp32" else f"latency_ms_{args.precision}"
    bar, progress = _progress_bar(f"profiling {device.name} ({args.space}, {args.precision})")
    with bar:
        result = profile_device(
            store_path,
            config,
            device=device,
            csv_path=out / f"{csv_stem}.csv",
            wide_csv_path=out / f"{csv_stem}_wide.csv",
            progress=progress,
        )
    noun = create_space(args.space).arch_noun
    print(
        f"{result.precision}: measured {len(result.measured)} {noun}, resumed "
        f"{len(result.resumed)} from the store"
        + (f", {len(result.failed)} failed" if result.failed else "")
    )
    for key, error in result.failed.items():
        print(f"failed: {key} {error}")
    if result.failed:
        print("(failed cells are skipped when resuming; --retry-failed times them again)")
    for line in result.rounds.lines() if result.rounds is not None else ():
        print(line)
    print(f"store: {store_path}")
    print(f"latencies (arch,latency_ms): {result.csv_path}")
    print(f"latencies ({args.space}_index,arch,{device.name}): {result.wide_csv_path}")
    return 0


def _latencies(args: argparse.Namespace) -> dict[str, float]:
    from hwnas.jobs import InputError, latencies_from_table, read_latency_csv
    from hwnas.jobs.profile import in_space
    from profilers import MeasurementStore, StoreError

    if args.device_latencies:
        return read_latency_csv(args.device_latencies)
    if args.table_device:
        return latencies_from_table(args.table_device)
    if args.precision not in PRECISIONS:
        raise InputError(f"--precision must be one of {PRECISIONS}, got {args.precision!r}")
    settings = {"runtime": args.runtime, "precision": args.precision, "batch_size": args.batch_size}
    with MeasurementStore(args.store, create=False) as store:
        rows = [m for m in store.measurements(**settings) if in_space("nb201", m.key)]
        devices = sorted({m.device for m in rows})
        device = args.device or (devices[0] if len(devices) == 1 else None)
        if device not in devices:
            held = ", ".join(devices) or "no device"
            raise StoreError(
                f"{args.store} holds {args.runtime} {args.precision} NB201 measurements at batch "
                f"size {args.batch_size} of: {held}; "
                + (f"not of {args.device!r}" if args.device else "name one with --device")
            )
        return {m.key: m.latency.median_ms for m in rows if m.device == device}


def cmd_generate(args: argparse.Namespace) -> int:
    from hwnas.jobs import generate_for_budget

    method = args.method
    if method == "auto":
        method = "modnas" if args.device_latencies else "regression"
    if method == "modnas":
        return _generate_modnas(args)
    latencies = _latencies(args)
    confidence = None if args.no_margin else (args.confidence or 0.9)
    predictor = _kernel_predictor(args, latencies)
    if predictor is not None:
        from hwnas.jobs.generate import generate_with_kernels

        result = generate_with_kernels(
            latencies, args.latency_budget_ms, predictor, args.dataset, confidence
        )
    else:
        result = generate_for_budget(
            latencies, args.latency_budget_ms, args.dataset, args.model, confidence
        )
    _print_generated(result, args.latency_budget_ms)
    return 0


def _print_generated(result, budget_ms: float, proposed: str = "") -> None:
    """The chosen cell, its predicted latency and bound, accuracy, and what it rests on."""
    chosen = result.chosen
    print(chosen.arch)
    print(
        f"predicted latency: {chosen.predicted_latency_ms:.3f} ms "
        f"({_bound_text(result)}; budget {budget_ms:g} ms)"
    )
    print(
        f"{result.dataset} test accuracy: {chosen.accuracy:.2f}% (NB201 index {chosen.nb201_index})"
    )
    if chosen.measured_latency_ms is not None:
        print(f"measured latency: {chosen.measured_latency_ms:.3f} ms")
    if "priced" in result.predictor:
        print(
            f"{result.predictor['priced']} cells priced by their kernels, most accurate first, "
            f"of {result.n_within_budget}{proposed} the count model could not rule out; "
            f"predictor {result.predictor['model']} on {result.predictor['n_train']} cells"
        )
        if "cut_at" in result.predictor:
            print(
                f"search cut at {result.predictor['cut_at']} cells priced: the answer is the "
                f"most accurate priced cell within budget; {result.predictor['unpriced']} "
                "candidates the count model could not rule out were not priced (run again: "
                "priced cells are cached, so the search goes further)"
            )
    else:
        print(
            f"{result.n_within_budget} of 15625 cells predicted within budget; predictor "
            f"{result.predictor['model']} on {result.predictor['n_train']} cells"
        )


def _kernel_predictor(args: argparse.Namespace, latencies: dict[str, float]):
    """The store's runtime predictor where --predictor allows it and the store has kernels."""
    from hwnas.jobs import InputError
    from hwnas.jobs.generate import stored_runtime_predictor
    from profilers import MeasurementStore

    if not args.store or args.predictor == "counts":
        if args.predictor == "kernels":
            raise InputError("--predictor kernels reads a store's kernel profiles: pass --store")
        return None
    with MeasurementStore(args.store, create=False) as store:
        rows = [
            m
            for m in store.measurements(runtime=args.runtime, precision=args.precision)
            if m.key in latencies
            and m.batch_size == args.batch_size
            and (args.device is None or m.device == args.device)
        ]
        device = rows[0].device if rows else ""
        predictor = stored_runtime_predictor(store, device, args.precision, rows)
    if predictor is None and args.predictor == "kernels":
        raise InputError(
            f"{args.store} holds no kernel profiles of this device setting: profile it with "
            "hwnas profile --choose, or pass --predictor counts"
        )
    return predictor


def _generate_modnas(args: argparse.Namespace) -> int:
    from hwnas.jobs import InputError
    from hwnas.methods.modnas.generate import answer_budget
    from hwnas.methods.modnas.model import load_modnas_model

    model = load_modnas_model(args.modnas_model)
    if model.dataset != args.dataset:
        raise InputError(
            f"the MODNAS model trades {model.dataset} accuracy against latency, not "
            f"{args.dataset}: train one with hwnas modnas train --dataset {args.dataset}"
        )
    latencies = _latencies(args)
    predictor = _kernel_predictor(args, latencies)
    if predictor is not None:  # the hypernetwork proposes, the runtime predictor prices
        from hwnas.jobs.generate import generate_with_kernels
        from hwnas.methods.modnas.generate import candidate_indices

        proposed = candidate_indices(model, latencies)
        result = generate_with_kernels(
            latencies,
            args.latency_budget_ms,
            predictor,
            args.dataset,
            None if args.no_margin else (args.confidence or 0.9),
            candidates=proposed,
        )
        note = f" (of {len(proposed)} cells MODNAS proposed)"
        _print_generated(result, args.latency_budget_ms, note)
        return 0
    answer = answer_budget(
        model,
        latencies,
        args.latency_budget_ms,
        confidence=None if args.no_margin else (args.confidence or 0.85),
    )
    chosen = answer.chosen
    print(chosen.arch)
    if chosen.measured_latency_ms is not None:
        bound = f"measured {chosen.measured_latency_ms:.3f} ms"
    elif answer.confidence is None:
        bound = "no margin"
    else:
        bound = (
            f"{answer.confidence:.0%} bound {chosen.latency_bound_ms:.3f} ms from "
            f"{answer.n_measured} measured cells"
        )
    print(
        f"predicted latency: {chosen.predicted_latency_ms:.3f} ms "
        f"({bound}; budget {args.latency_budget_ms:g} ms)"
    )
    print(
        f"{answer.dataset} test accuracy: {chosen.accuracy:.2f}% (NB201 index {chosen.nb201_index})"
    )
    print(
        f"MODNAS: {answer.n_candidates} cells proposed over the preference scan, "
        f"{answer.n_within_budget} within budget; model {model.directory}"
    )
    return 0


def _bound_text(result) -> str:
    if result.confidence is None:
        return "no margin"
    return f"{result.confidence:.0%} bound {result.chosen.latency_bound_ms:.3f} ms"


def cmd_export(args: argparse.Namespace) -> int:
    from hwnas.cli.export import run_export_command

    return run_export_command(args, _device(args))


def _print_export(report) -> None:
    from hwnas.cli.export import print_export

    print_export(report)


def cmd_run(args: argparse.Namespace) -> int:
    from hwnas.cli.run import print_run, training_plan
    from hwnas.jobs import run_pipeline
    from hwnas.methods.training.progress import EpochProgress

    device = _device(args)
    out = args.out or DEFAULT_RUNS_DIR / device.name
    bar, progress = _progress_bar(f"profiling {device.name}")
    calls = iter(range(10**9))

    def stage(message: str) -> None:
        call = next(calls)  # profile once, then generate, train, export per attempt
        number = 1 if call == 0 else 2 + (call - 1) % 3
        if number > 1:
            bar.stop()  # one live display at a time: the training shows its own
        print(f"[{number}/4] {message}", flush=True)

    with bar:
        result = run_pipeline(
            out,
            budget_ms=args.latency_budget_ms,
            config=_profile_config(args),
            plan=training_plan(args),
            rank_by_table=args.dataset,
            confidence=None if args.no_margin else (args.confidence or 0.9),
            device=device,
            progress=progress,
            train_progress=EpochProgress(),
            stage=stage,
            attempts=args.attempts,
            store_path=args.store,
        )
    print_run(result, _bound_text(result.generate))
    return result.exit_status


def _add_runtime_options(parser: argparse.ArgumentParser, exporter: str = "auto") -> None:
    parser.add_argument("--batch-size", type=positive_int, default=1, help="(default 1)")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="ONNX Runtime intra-op threads (profile and run: default 1, reproducible on a "
        "shared machine; export: default every usable core)",
    )
    parser.add_argument(
        "--exporter",
        default=exporter,
        choices=("auto", "dynamo", "legacy"),
        help="ONNX exporter (auto: the torch.export-based one, legacy as fallback; default "
        f"{exporter})",
    )


def _add_profile_options(parser: argparse.ArgumentParser, exporter: str = "auto") -> None:
    _add_runtime_options(parser, exporter)
    parser.add_argument(
        "--samples",
        type=non_negative_int,
        default=30,
        help="random cells timed beyond the 10 references (default 30)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random cells")
    parser.add_argument(
        "--max-time-s",
        type=positive_float,
        default=2.0,
        help="time cap per cell of the repeated runs, shared by its rounds (default 2 s)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=5,
        help="short rounds per cell, spread over the campaign; its latency is their median "
        "(default 5)",
    )
    parser.add_argument(
        "--no-speed-anchor",
        action="store_true",
        help="report raw latencies, not scaled to this machine setting's speed anchor (the "
        "probe's time in its first campaign; kept in $HWNAS_SPEED_ANCHORS, else "
        "~/.local/state/hwnas/speed-anchors.json)",
    )
    parser.add_argument(
        "--cpus",
        metavar="LIST",
        help="pin the timing process to these CPUs, e.g. 0 or 0,2 or 0-3 (default: all usable)",
    )
    parser.add_argument(
        "--oversubscribe",
        action="store_true",
        help="allow --threads above the usable cores (refused otherwise)",
    )
    parser.add_argument(
        "--device",
        help="a device of `hwnas devices list`: 'local' (this machine, the default), a board "
        "described in ~/.config/hwnas/devices/ or --device-file",
    )
    parser.add_argument(
        "--device-file",
        type=Path,
        help="a device description (TOML); its device is used unless --device names another",
    )
    parser.add_argument("--out", type=Path, help="output folder (default hwnas-runs/<device>)")


def _add_margin_options(
    parser: argparse.ArgumentParser, table_flags: tuple[str, ...] = ("--dataset",)
) -> None:
    alias = f" ({', '.join(table_flags[1:])} is an alias)" if len(table_flags) > 1 else ""
    parser.add_argument(
        *table_flags,
        dest="dataset",
        default="cifar10",
        choices=DATASETS,
        help="the NAS-Bench-201 table whose test accuracy ranks the cells (default cifar10); "
        f"not training data{alias}",
    )
    margin = parser.add_mutually_exclusive_group()
    margin.add_argument(
        "--confidence",
        type=probability,
        default=None,
        help="the chosen cell's latency must stay within budget with this probability, by a "
        "conformal bound from the predictor's errors (default 0.9; MODNAS in generate: 0.85)",
    )
    margin.add_argument(
        "--no-margin",
        action="store_true",
        help="compare the bare predicted latency with the budget (no bound)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The `hwnas` parser: every subcommand, and ``--version``."""
    from hwnas import __version__

    parser = argparse.ArgumentParser(
        prog="hwnas", description="Hardware-aware NAS: profile, generate for a budget, export."
    )
    parser.add_argument("--version", action="version", version=f"hwnas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="profile this machine, generate for a budget, train the chosen cell on real data, "
        "export fp32 and int8 and measure their accuracy and latency (the main job)",
    )
    _add_profile_options(run, exporter=RUN_EXPORTER)
    run.add_argument(
        "--latency-budget-ms",
        type=positive_float,
        help="latency budget (default: the median of the profiled cells' latency bounds)",
    )
    _add_margin_options(run, table_flags=("--rank-by-table", "--dataset"))
    add_training_arguments(run)
    run.add_argument(
        "--attempts",
        type=positive_int,
        default=DEFAULT_ATTEMPTS,
        help="cells tried at most: when the shipped fp32 file's verdict is 'no' or "
        "'undecided', its measurement joins the data, the latency model is refitted and the "
        f"next choice is trained and exported (default {DEFAULT_ATTEMPTS})",
    )
    run.add_argument(
        "--store",
        type=Path,
        help="measurement store (default OUT/measurements.sqlite): runs for several budgets "
        "can share one, and time nothing twice",
    )
    run.set_defaults(func=cmd_run, on_interrupt=RESUME_NOTE)

    profile = sub.add_parser(
        "profile",
        help="time NB201 cells or FBNet networks on a device (this machine, ssh board, Ray farm)",
    )
    _add_profile_options(profile)
    profile.add_argument(
        "--choose",
        action="store_true",
        help="choose the --samples cells from a pool of candidates by their kernels (profiled "
        "with ONNX Runtime's profiler, stored for hwnas generate) instead of at random "
        "(default off)",
    )
    profile.add_argument(
        "--pool",
        type=non_negative_int,
        default=None,
        help="with --choose: candidates to choose from (default 4x --samples, at least 40)",
    )
    profile.add_argument(
        "--store", type=Path, help="measurement store (default OUT/measurements.sqlite)"
    )
    profile.add_argument(
        "--space",
        default=DEFAULT_SPACE,
        choices=table_spaces(),
        help="NAS-Bench-201 cells or FBNet networks (default nb201)",
    )
    profile.add_argument(
        "--runtime", default="onnxruntime", choices=("onnxruntime",), help="(default onnxruntime)"
    )
    profile.add_argument(
        "--precision",
        default="fp32",
        metavar=PRECISION_METAVAR,
        help="precision of the timed files: fp32 as exported, fp16 converted, int8 quantised "
        "by ONNX Runtime (static, calibrated on random inputs); each precision has its own "
        "rows in the store and its own CSV files (default fp32)",
    )
    profile.add_argument(
        "--retry-failed",
        action="store_true",
        help="time again the cells stored as failed (default: skip them)",
    )
    profile.set_defaults(func=cmd_profile, on_interrupt=RESUME_NOTE)

    generate = sub.add_parser(
        "generate", help="the most accurate NB201 cell within a latency budget"
    )
    source = generate.add_mutually_exclusive_group(required=True)
    source.add_argument("--device-latencies", type=Path, help="CSV with arch,latency_ms rows")
    source.add_argument("--store", type=Path, help="a measurement store written by hwnas profile")
    source.add_argument("--table-device", help="a device column of the shipped NB201 latency table")
    generate.add_argument("--device", help="with --store: which device's measurements")
    generate.add_argument(
        "--predictor",
        default="auto",
        choices=("auto", "kernels", "counts"),
        help="with --store: price cells by their kernels (the store's kernel profiles, from "
        "hwnas profile --choose) or by operation counts; auto uses kernels where the store "
        "has them (default auto)",
    )
    generate.add_argument(
        "--runtime",
        default="onnxruntime",
        help="with --store: whose measurements (default onnxruntime)",
    )
    generate.add_argument(
        "--batch-size", type=positive_int, default=1, help="with --store: at which batch size"
    )
    generate.add_argument(
        "--precision",
        default="fp32",
        metavar=PRECISION_METAVAR,
        help="with --store: the measurements of files at this precision (hwnas profile "
        "--precision; default fp32)",
    )
    generate.add_argument(
        "--latency-budget-ms",
        type=positive_float,
        required=True,
        help="the largest latency the generated cell may have on the device",
    )
    _add_margin_options(generate)
    generate.add_argument(
        "--method",
        default="auto",
        choices=("auto", "modnas", "regression"),
        help="modnas: the MODNAS hypernetwork and MetaPredictor, from the 10 reference cells "
        "(with a --store holding kernel profiles, the runtime predictor prices the "
        "hypernetwork's proposals); regression: a latency model fitted on the measured cells "
        "(default: modnas for --device-latencies, regression for --store and --table-device)",
    )
    generate.add_argument(
        "--modnas-model", type=Path, help="MODNAS model directory (default: the shipped one)"
    )
    generate.add_argument(
        "--model",
        default="auto",
        choices=("auto", *CANDIDATES),
        help="latency model (default: chosen by cross-validation)",
    )
    generate.set_defaults(func=cmd_generate)

    export = sub.add_parser(
        "export",
        help="export a model to ONNX (or a TensorRT engine), check it against PyTorch, time it",
    )
    add_export_arguments(export)
    _add_runtime_options(export)
    export.set_defaults(func=cmd_export)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(sub)
    add_force_options(parser)
    add_default_notes(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_output(args)
        return args.func(args)
    except user_errors() as err:
        family = family_of(err)
        print(f"hwnas {args.command}: {family.family}: {err}", file=sys.stderr)
        return family.exit_code
    except KeyboardInterrupt:
        kept = getattr(args, "on_interrupt", "the unfinished work was not kept")
        print(f"hwnas {args.command}: interrupted; {kept}", file=sys.stderr)
        return 130
