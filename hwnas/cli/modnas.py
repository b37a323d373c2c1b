"""`hwnas modnas train | generate`: one search for every device, and its Pareto fronts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hwnas.cli.types import non_negative_int, positive_int
from hwnas.errors import InputError
from hwnas.methods.modnas import SPACE as MODNAS_SPACE

MAX_PREFERENCES = 100_000
"""Most preference vectors `modnas generate --n` scans (1e8 ran out of memory)."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    modnas = sub.add_parser(
        "modnas", help="MODNAS: one hypernetwork for every device and latency/accuracy trade-off"
    )
    commands = modnas.add_subparsers(dest="modnas_command", required=True)

    train = commands.add_parser("train", help="train a MetaHypernetwork over the table devices")
    train.add_argument(
        "--space", default=MODNAS_SPACE, choices=(MODNAS_SPACE,), help="the cell search space"
    )
    train.add_argument(
        "--mode",
        default="surrogate",
        choices=("surrogate", "supernet"),
        help="accuracy from a surrogate of the NB201 table, or from a supernet trained here",
    )
    train.add_argument("--out", type=Path, required=True, help="MODNAS model directory to write")
    train.add_argument(
        "--predictor", type=Path, help="a MetaPredictor model directory (default: fit one)"
    )
    train.add_argument(
        "--devices", help="comma-separated training devices (default: every table device)"
    )
    train.add_argument(
        "--dataset",
        default="cifar10",
        choices=("cifar10", "cifar100", "imagenet16_120"),
        help="surrogate mode: whose NB201 table accuracy",
    )
    train.add_argument(
        "--steps", type=positive_int, default=1500, help="hypernetwork training steps"
    )
    train.add_argument(
        "--surrogate-epochs", type=positive_int, default=60, help="surrogate mode: its fit"
    )
    train.add_argument(
        "--preferences",
        type=positive_int,
        help="preference vectors per step (default 16; supernet mode 2)",
    )
    train.add_argument(
        "--samples", type=positive_int, default=2, help="cells per device, preference and step"
    )
    train.add_argument(
        "--devices-per-step",
        type=positive_int,
        help="devices whose gradients enter a step (default all; supernet mode 4)",
    )
    train.add_argument(
        "--sampler",
        default="gumbel",
        choices=("gumbel", "reinmax"),
        help="straight-through cell sampler",
    )
    train.add_argument(
        "--update",
        default="mgd",
        choices=("mgd", "mean"),
        help="min-norm combination of the devices' gradients, or their mean",
    )
    train.add_argument("--entropy", type=float, default=None, help="entropy bonus (default 0.5)")
    train.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of weights and sampling"
    )
    train.add_argument(
        "--data", default="digits", help="supernet mode: digits, mnist, cifar10:DIR, ..."
    )
    train.add_argument("--torch-device", default="cpu", help="supernet mode: cpu, cuda, ...")
    train.add_argument(
        "--warm-up", type=non_negative_int, default=256, help="supernet mode: warm-up steps"
    )
    train.add_argument("--threads", type=positive_int, default=None, help="torch threads")
    train.set_defaults(func=cmd_train)

    generate = commands.add_parser(
        "generate", help="the most likely cell for n evenly spread preferences on a device"
    )
    generate.add_argument("--model", type=Path, help="model directory (default: shipped NB201)")
    generate.add_argument(
        "--device-latencies", type=Path, required=True, help="CSV with arch,latency_ms rows"
    )
    generate.add_argument(
        "--n",
        type=positive_int,
        default=24,
        help=f"preference vectors, at most {MAX_PREFERENCES:,} (default 24)",
    )
    generate.set_defaults(func=cmd_generate)


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from hwnas.jobs.modnas import ModnasJob, train_modnas
    from hwnas.methods.modnas.train import TrainConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    supernet_mode = args.mode == "supernet"
    extra = {} if args.entropy is None else {"entropy": args.entropy}
    train = TrainConfig(
        steps=args.steps,
        preferences=args.preferences or (2 if supernet_mode else 16),
        samples=args.samples,
        devices_per_step=args.devices_per_step or (4 if supernet_mode else None),
        sampler=args.sampler,
        update=args.update,
        seed=args.seed,
        **extra,
    )
    supernet = None
    if supernet_mode:
        from hwnas.methods.modnas.supernet import SupernetConfig

        supernet = SupernetConfig(data=args.data, seed=args.seed)
    from hwnas.methods.modnas.objectives import SurrogateConfig

    job = ModnasJob(
        mode=args.mode,
        surrogate=SurrogateConfig(dataset=args.dataset, epochs=args.surrogate_epochs),
        dataset=args.dataset,
        predictor=args.predictor,
        devices=tuple(d.strip() for d in args.devices.split(",")) if args.devices else None,
        device=args.torch_device,
        warm_up=args.warm_up,
        train=train,
        supernet=supernet,
    )
    out, summary = train_modnas(job, args.out, log=lambda m: print(m, file=sys.stderr))
    ratios = [d["ratio"] for d in summary["devices"].values()]
    total = sum(summary["seconds"].values())
    print(
        f"trained MODNAS ({args.mode}) over {len(ratios)} devices in {total:.0f} s; saved to {out}"
    )
    print(
        f"hypervolume of 24 generated cells / true front: mean {sum(ratios) / len(ratios):.3f} "
        f"(min {min(ratios):.3f}); fronts: {out / 'fronts.png'}"
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from hwnas.core.spaces.nb201 import NB201Arch
    from hwnas.jobs.generate import read_latency_csv
    from hwnas.methods.modnas.generate import device_embedding, pareto_codes
    from hwnas.methods.modnas.model import load_modnas_model

    if args.n > MAX_PREFERENCES:
        raise InputError(
            f"--n {args.n} preference vectors: at most {MAX_PREFERENCES:,} (the scan's distinct "
            "cells stop growing long before; NAS-Bench-201 holds 15,625)"
        )
    model = load_modnas_model(args.model)
    embedding = device_embedding(read_latency_csv(args.device_latencies))
    codes = pareto_codes(model, embedding, args.n)
    distinct = list(dict.fromkeys(codes.tolist()))
    for code in distinct:
        print(NB201Arch.from_code(code))
    sys.stdout.flush()
    print(
        f"{args.n} preference vectors gave {len(distinct)} distinct cells, from the lowest "
        "latency to the highest accuracy",
        file=sys.stderr,
    )
    return 0
