"""`hwnas nes search`: a thin call of `hwnas.jobs.nes.nes_search_job`.

Torch and the NES modules are imported inside the command function, so building the parser
stays light.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cli.types import non_negative_int, positive_float, positive_int, probability
from hwnas.core.spaces import cell_spaces, create_space

ALGORITHMS = ("rs", "re")
SMALL_DEPTH = {"cells_per_stage": 1, "layers": 3}
"""Default member depth by the space's depth keyword: 1 cell per stage, or 3 cells in all."""


def add_commands(subparsers) -> None:
    """Adds `nes search` to the `hwnas` parser."""
    nes = subparsers.add_parser("nes", help="Neural Ensemble Search: pools of diverse networks")
    sub = nes.add_subparsers(dest="nes_command", required=True)
    search = sub.add_parser(
        "search",
        help="build a pool (NES-RS/RE), select an ensemble, compare with a deep ensemble",
    )
    search.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="rs",
        help="NES-RS (random search) or NES-RE (regularised evolution)",
    )
    search.add_argument(
        "--space",
        choices=cell_spaces(variants=False),
        default="nb201",
        help="the cell search space",
    )
    search.add_argument("--pool", type=positive_int, default=10, help="K: networks trained")
    search.add_argument("--size", type=positive_int, default=3, help="M: ensemble members")
    search.add_argument("--population", type=positive_int, help="P of NES-RE (default K/2)")
    search.add_argument("--parent-candidates", type=positive_int, help="m of NES-RE (default M)")
    search.add_argument(
        "--children",
        type=positive_int,
        default=1,
        help="NES-RE children trained per iteration (default 1; match the Ray workers)",
    )
    search.add_argument("--replace", action="store_true", help="select with replacement")
    search.add_argument(
        "--data", default="digits", help="digits, mnist, cifar10:PATH, cifar100:PATH, svhn:PATH"
    )
    search.add_argument("--max-train", type=positive_int, help="cap the training images")
    search.add_argument(
        "--valid-fraction",
        type=probability,
        default=0.2,
        help="share of the training images held out to select the ensemble",
    )
    search.add_argument(
        "--epochs", type=positive_int, default=10, help="training epochs of each network"
    )
    search.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    search.add_argument(
        "--optimizer", choices=("sgd", "adamw"), default="sgd", help="the networks' optimiser"
    )
    search.add_argument("--lr", type=positive_float, help="default 0.05 (sgd), 0.003 (adamw)")
    search.add_argument(
        "--channels", type=positive_int, default=8, help="channels of the first cell"
    )
    search.add_argument("--cells", type=positive_int, help="per stage (nb201, default 1) or "
                        "in all (darts, default 3)")  # fmt: skip
    search.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="train the pool in this process or on a Ray cluster",
    )
    search.add_argument("--no-baseline", action="store_true", help="skip the deep ensemble")
    search.add_argument(
        "--corruptions", help="comma-separated corruptions to evaluate (default: all; '' none)"
    )
    search.add_argument(
        "--shift-seed", type=non_negative_int, default=0, help="seed of the corrupted test images"
    )
    search.add_argument(
        "--latency-budget-ms",
        type=positive_float,
        help="largest summed latency of the members (default: no budget)",
    )
    search.add_argument("--predictor", type=Path, help="MetaPredictor model directory")
    search.add_argument("--device", help="the predictor's device to predict latencies for")
    search.add_argument(
        "--latencies", type=Path, help="measured latencies: CSV with arch,latency_ms (nb201)"
    )
    search.add_argument(
        "--measure-on",
        metavar="DEVICE",
        help="time every pool member's ONNX file on this device ('local' or a described "
        "board) for the budget",
    )
    search.add_argument("--device-file", type=Path, help="a device description (TOML)")
    search.add_argument(
        "--measure-threads",
        type=positive_int,
        default=1,
        help="ONNX Runtime threads when timing members (default 1)",
    )
    search.add_argument(
        "--measure-max-time-s",
        type=positive_float,
        default=2.0,
        help="seconds of timed runs per member at most (default 2)",
    )
    search.add_argument(
        "--exporter",
        choices=("auto", "dynamo", "legacy"),
        default="auto",
        help="ONNX exporter of the timed members (auto: dynamo, legacy as fallback)",
    )
    search.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads (tiny networks: 1)"
    )
    search.add_argument("--seed", type=int, default=0, help="seed of the search and training")
    search.add_argument(
        "--out", type=Path, required=True, help="folder for the pool, ensembles and report"
    )
    search.set_defaults(func=cmd_search)


def _latency_budget(args: argparse.Namespace):
    from hwnas.errors import InputError
    from hwnas.jobs.nes import LatencyBudget

    given = [
        name
        for name, value in (
            ("--predictor", args.predictor),
            ("--device", args.device),
            ("--latencies", args.latencies),
            ("--measure-on", args.measure_on),
            ("--device-file", args.device_file),
        )
        if value is not None
    ]
    if args.latency_budget_ms is None:
        if given:
            raise InputError(f"{', '.join(given)} only apply with --latency-budget-ms")
        return None
    if args.device_file is not None and args.measure_on is None:
        raise InputError("--device-file names the board of --measure-on; pass --measure-on")
    table = measure = None
    if args.latencies is not None:
        from hwnas.jobs.generate import read_latency_csv

        table = read_latency_csv(args.latencies, space=args.space)
    if args.measure_on is not None:
        from devices import find_device
        from hwnas.methods.nes.latency import MeasureConfig

        files = [args.device_file] if args.device_file else []
        from profilers.timing import TimingConfig

        measure = MeasureConfig(
            find_device(args.measure_on, files),
            args.measure_threads,
            timing=TimingConfig(max_runs=1000, max_time_s=args.measure_max_time_s),
            exporter=args.exporter,
        )
    return LatencyBudget(args.latency_budget_ms, table, args.predictor, args.device, measure)


def cmd_search(args: argparse.Namespace) -> int:
    import torch

    from hwnas.core.datasets import load_dataset
    from hwnas.jobs.nes import NesJob, ShiftConfig, nes_search_job
    from hwnas.methods.nes.search import NesConfig
    from hwnas.methods.nes.train import TrainConfig

    config = NesConfig(
        algorithm=args.algorithm,
        space=args.space,
        pool_size=args.pool,
        ensemble_size=args.size,
        population_size=args.population,
        parent_candidates=args.parent_candidates,
        children=args.children,
        replace=args.replace,
        channels=args.channels,
        cells=args.cells or SMALL_DEPTH[create_space(args.space).depth_keyword],
        seed=args.seed,
    )
    lr = args.lr or (0.05 if args.optimizer == "sgd" else 0.003)
    train = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=lr
    )
    corruptions = None
    if args.corruptions is not None:
        corruptions = tuple(name for name in args.corruptions.split(",") if name.strip())
    job = NesJob(
        valid_fraction=args.valid_fraction,
        max_train=args.max_train,
        backend=args.backend,
        baseline=not args.no_baseline,
        latency=_latency_budget(args),
        shift=ShiftConfig(corruptions=corruptions, seed=args.shift_seed),
    )
    dataset = load_dataset(args.data, seed=args.seed)
    torch.set_num_threads(args.threads)

    def report(member, trained: bool) -> None:
        state = "trained" if trained else "resumed"
        print(
            f"{state} {member.id} valid NLL {member.metrics['valid_nll']:.4f} "
            f"error {100 * member.metrics['valid_error']:.2f}% {member.spec.arch}",
            flush=True,
        )

    summary = nes_search_job(config, dataset, train, args.out, job, report)
    _print_table(summary)
    if "latency" in summary:
        latency = summary["latency"]
        where = f" on {job.latency.measure.device.name}" if job.latency.measure else ""
        print(
            f"ensemble latency: {latency['ensemble_ms']:.4g} ms of the "
            f"{latency['budget_ms']:g} ms budget (sum over members, {latency['source']}{where})"
        )
    files = ["ensemble.json", "metrics.json", "reliability.png"]
    if "deep_ensemble" in summary["in_distribution"]:
        files.insert(1, "deep_ensemble.json")
    for name in files:
        print(f"{name.split('.')[0]}: {args.out / name}")
    return 0


def _print_table(summary: dict) -> None:
    """The in-distribution and mean-over-corruptions figures of each ensemble, as a table."""
    from rich.console import Console
    from rich.table import Table

    table = Table("", "NLL", "error %", "ECE", "oracle NLL", "member NLL", box=None)
    sections = [("test", summary["in_distribution"])]
    sections += [
        (f"shift sev {severity}", by_name)
        for severity, by_name in summary.get("shift_mean_over_corruptions", {}).items()
    ]
    for label, by_name in sections:
        for name, m in by_name.items():
            table.add_row(
                f"{label} {name}",
                f"{m['nll']:.4f}",
                f"{100 * m['error']:.2f}",
                f"{m['ece']:.4f}",
                f"{m['oracle_nll']:.4f}",
                f"{m['mean_member_nll']:.4f}",
            )
    Console(width=100).print(table)
