"""`hwnas darts search` and `hwnas darts train`: thin calls of `hwnas.jobs.darts`.

Torch and the DARTS modules are imported inside the command functions, so building the
parser stays light.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cli.types import positive_float, positive_int
from hwnas.core.spaces import cell_spaces, create_space, list_spaces
from hwnas.core.spaces.darts_space import DartsSpace
from hwnas.methods.darts.robust import MODES

SMALL_DEPTH = {"cells_per_stage": 1, "layers": 5}
"""Default search depth by the space's depth keyword: 1 cell per stage, or 5 cells in all."""


def _genotype_spaces() -> list[str]:
    return list_spaces(lambda cls: issubclass(cls, DartsSpace))


def add_commands(subparsers) -> None:
    """Adds `darts search` and `darts train` to the `hwnas` parser."""
    darts = subparsers.add_parser("darts", help="DARTS cell search with the RobustDARTS cures")
    sub = darts.add_subparsers(dest="darts_command", required=True)

    search = sub.add_parser("search", help="search a cell; write genotype, eigenvalues, plot")
    search.add_argument(
        "--space", choices=cell_spaces(), default="nb201", help="the cell search space"
    )
    search.add_argument(
        "--mode",
        choices=MODES,
        default="darts",
        help="plain DARTS, or RobustDARTS early stopping (es) or adaptive L2 (ada)",
    )
    search.add_argument("--epochs", type=positive_int, default=20, help="search epochs")
    search.add_argument(
        "--data", default="digits", help="digits, mnist, cifar10:PATH, cifar100:PATH, svhn:PATH"
    )
    search.add_argument("--max-images", type=positive_int, help="cap the training images used")
    search.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for the genotype (or arch.json), eigenvalues and events",
    )
    search.add_argument("--order", type=int, choices=(1, 2), default=1, help="architect order")
    search.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    search.add_argument(
        "--channels", type=positive_int, default=8, help="channels of the first cell"
    )
    search.add_argument(
        "--layers", type=positive_int, help="cells (cell spaces, default 5) or cells per stage "
        "(nb201, default 1)",
    )  # fmt: skip
    search.add_argument(
        "--w-lr", type=positive_float, default=0.025, help="the weights' SGD learning rate"
    )
    search.add_argument("--weight-decay", type=float, default=3e-4, help="the weights' L2 factor")
    search.add_argument(
        "--arch-lr", type=positive_float, default=3e-4, help="the architecture's Adam learning rate"
    )
    search.add_argument("--window", type=positive_int, default=5, help="ES/ADA local average")
    search.add_argument("--k", type=positive_int, default=5, help="ES/ADA look-back, epochs")
    search.add_argument("--factor", type=positive_float, default=1.3, help="ES/ADA trigger")
    search.add_argument(
        "--es-start-epoch", type=int, default=0, help="ES/ADA: no decision before this epoch"
    )
    search.add_argument(
        "--ada-multiplier",
        type=positive_float,
        default=3.0,
        help="ADA: factor on the L2 factor at each trigger",
    )
    search.add_argument(
        "--ada-max-weight-decay",
        type=positive_float,
        default=8.1e-3,
        help="ADA: largest L2 factor; past it ADA only watches",
    )
    search.add_argument(
        "--eigen-iters",
        type=positive_int,
        default=20,
        help="most power iterations for the Hessian's largest eigenvalue",
    )
    search.add_argument("--seed", type=int, default=0, help="seed of weights, data and sampling")
    search.set_defaults(func=cmd_search)

    train = sub.add_parser("train", help="train a genotype from scratch and export it to ONNX")
    train.add_argument("--genotype", type=Path, required=True, help="genotype.json of a search")
    train.add_argument(
        "--space", choices=_genotype_spaces(), help="refuse a genotype of another space"
    )
    train.add_argument(
        "--data", default="digits", help="digits, mnist, cifar10:PATH, cifar100:PATH, svhn:PATH"
    )
    train.add_argument("--max-images", type=positive_int, help="cap the training images used")
    train.add_argument("--epochs", type=positive_int, default=10, help="training epochs")
    train.add_argument("--batch-size", type=positive_int, default=64, help="images per step")
    train.add_argument(
        "--channels", type=positive_int, default=8, help="channels of the first cell"
    )
    train.add_argument("--layers", type=positive_int, default=5, help="cells in the network")
    train.add_argument("--lr", type=positive_float, default=0.05, help="SGD learning rate")
    train.add_argument("--seed", type=int, default=0, help="seed of weights and data order")
    train.add_argument(
        "--out", type=Path, required=True, help="folder for the trained model and its ONNX file"
    )
    train.set_defaults(func=cmd_train)


def cmd_search(args: argparse.Namespace) -> int:
    from hwnas.core.datasets import load_dataset
    from hwnas.jobs.darts import search_job
    from hwnas.methods.darts.architect import ArchitectConfig
    from hwnas.methods.darts.robust import RobustConfig
    from hwnas.methods.darts.search import SearchConfig

    config = SearchConfig(
        space=args.space,
        mode=args.mode,
        epochs=args.epochs,
        batch_size=args.batch_size,
        channels=args.channels,
        layers=args.layers or SMALL_DEPTH[create_space(args.space).depth_keyword],
        w_lr=args.w_lr,
        w_lr_min=min(0.001, args.w_lr),
        weight_decay=args.weight_decay,
        architect=ArchitectConfig(order=args.order, lr=args.arch_lr),
        robust=RobustConfig(
            window=args.window,
            k=args.k,
            factor=args.factor,
            start_epoch=args.es_start_epoch,
            multiplier=args.ada_multiplier,
            max_weight_decay=args.ada_max_weight_decay,
        ),
        eigen_iters=args.eigen_iters,
        seed=args.seed,
    )
    dataset = load_dataset(args.data, seed=args.seed)

    def report(record) -> None:
        table = "" if record.table_accuracy is None else f" table acc {record.table_accuracy:.2f}%"
        print(
            f"run {record.run} epoch {record.epoch:3d} L2 {record.weight_decay:.1e} "
            f"eigenvalue {record.eigenvalue:.4f} valid acc {record.valid_acc:.1f}%{table} "
            f"{record.arch}",
            flush=True,
        )

    result, paths = search_job(config, dataset, args.out, args.max_images, report)
    for event in result.events:
        print(
            f"{event['action']}: epoch {event['epoch']} -> rollback epoch "
            f"{event['rollback_epoch']} ({event['reason']}, ratio {event.get('ratio')})"
        )
    print(f"architecture (epoch {result.arch_epoch}): {result.arch}")
    if result.table_accuracy is not None:
        print(f"cifar10 test accuracy (NB201 table): {result.table_accuracy:.2f}%")
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from hwnas.core.datasets import load_dataset
    from hwnas.core.spaces.darts_genotype import load_genotype
    from hwnas.jobs.darts import train_job
    from hwnas.methods.darts.network import TrainConfig

    genotype = load_genotype(args.genotype, space=args.space)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        channels=args.channels,
        layers=args.layers,
        seed=args.seed,
    )
    dataset = load_dataset(args.data, seed=args.seed)
    report = train_job(genotype, dataset, config, args.out, args.max_images)
    print(f"genotype: {report['genotype']}")
    print(f"test accuracy: {report['test_accuracy']:.2f}% on {report['test_images']} images")
    print(f"onnx: {report['onnx']} ({report['exporter']} exporter, opset {report['opset']})")
    error = report["max_abs_error"]
    print(f"max abs error vs PyTorch: {error if error is None else f'{error:.2e}'}")
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0
