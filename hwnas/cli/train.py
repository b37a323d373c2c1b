"""`hwnas train`: train an architecture on a dataset into a deployable model folder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hwnas.cli.types import non_negative_int, positive_float, positive_int, probability

_DATA_HELP = (
    "digits, mnist, cifar10:DIR, cifar100:DIR, svhn:DIR, npz:FILE (x (N,C,H,W) float32, "
    "y (N,); optional x_test, y_test, class_names) or folder:DIR (one sub-folder of PNG/JPEG "
    "images per class; optional train/ and test/)"
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train an architecture on a dataset into a model folder (resumable, torchrun-able)",
        description="Train an NB201/FBNet architecture or a DARTS genotype on image data. The "
        "out dir becomes the model folder `hwnas export --model` reads; rerunning the same "
        "command resumes from its last checkpoint. Under `torchrun --nproc_per_node N -m hwnas "
        "train ...` it trains with DistributedDataParallel.",
    )
    which = train.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", help="architecture string (NB201 |op~0|+..., FBNet ...)")
    which.add_argument("--genotype", type=Path, help="a DARTS genotype JSON file")
    train.add_argument("--space", default="nb201", help="search space of --arch (nb201, fbnet)")
    train.add_argument("--data", default="digits", help=_DATA_HELP)
    train.add_argument("--out", type=Path, required=True, help="the model folder to write")
    train.add_argument("--epochs", type=positive_int, default=30, help="training epochs")
    train.add_argument(
        "--batch-size", type=positive_int, default=64, help="over all processes (default 64)"
    )
    train.add_argument("--lr", type=positive_float, help="peak lr (default 0.1 SGD, 0.002 AdamW)")
    train.add_argument(
        "--weight-decay", type=float, help="of conv/linear weights (default 5e-4 SGD, 0.05 AdamW)"
    )
    train.add_argument(
        "--optimizer", default="sgd", choices=("sgd", "adamw"), help="SGD Nesterov or AdamW"
    )
    train.add_argument(
        "--augment",
        default="auto",
        choices=("auto", "none", "crop", "crop-flip"),
        help="auto: crop+flip for CIFAR and RGB photos >= 32 px, crop for SVHN, none for digits",
    )
    train.add_argument(
        "--warmup-epochs", type=non_negative_int, default=2, help="linear warm-up before cosine"
    )
    train.add_argument(
        "--label-smoothing", type=float, default=0.1, help="of the cross-entropy targets"
    )
    train.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of weights, split and order"
    )
    train.add_argument("--torch-device", default="cpu", help="cpu, cuda, cuda:N or auto")
    train.add_argument("--no-amp", action="store_true", help="fp32 on CUDA too")
    train.add_argument("--channels", type=positive_int, help="network width (default 16)")
    train.add_argument(
        "--cells", type=positive_int, help="NB201 cells per stage (default 1), DARTS cells (5)"
    )
    train.add_argument(
        "--input-size", type=positive_int, help="resize images to this side inside the network"
    )
    train.add_argument(
        "--val-fraction",
        type=probability,
        default=0.1,
        help="share of the training images held out to pick the best epoch",
    )
    train.add_argument("--max-images", type=positive_int, help="cap on train+val images")
    train.add_argument(
        "--init-from", type=Path, help="a supernet folder (hwnas modnas train --mode supernet)"
    )
    train.add_argument("--threads", type=positive_int, help="torch CPU threads")
    train.add_argument(
        "--force", action="store_true", help="replace an earlier run of other settings in --out"
    )
    train.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from hwnas.jobs.train import TrainJob, train_model
    from hwnas.methods.training.config import TrainConfig
    from hwnas.methods.training.progress import EpochProgress

    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        warmup_epochs=args.warmup_epochs,
        augment=args.augment,
        seed=args.seed,
        amp=not args.no_amp,
    )
    job = TrainJob(
        out=args.out,
        arch=args.arch,
        genotype=args.genotype,
        space=args.space,
        data=args.data,
        config=config,
        channels=args.channels,
        cells=args.cells,
        input_size=args.input_size,
        val_fraction=args.val_fraction,
        max_images=args.max_images,
        torch_device=args.torch_device,
        init_from=args.init_from,
        force=args.force,
    )
    result = train_model(job, progress=EpochProgress())
    if os.environ.get("RANK", "0") != "0":
        return 0
    if result.resumed_from:
        print(f"resumed from epoch {result.resumed_from}/{result.epochs}")
    print(f"model: {result.model_dir}")
    test = (
        "n/a (no test split)" if result.test_accuracy is None else f"{result.test_accuracy:.2f} %"
    )
    print(
        f"accuracy (PyTorch): validation {result.val_accuracy:.2f} % (epoch {result.best_epoch}, "
        f"best on validation), test {test}"
    )
    speed = "" if result.images_per_s is None else f", {result.images_per_s:,.0f} images/s"
    print(
        f"training time: {result.train_seconds:.1f} s over {result.epochs} epochs{speed} "
        f"(wall {result.wall_seconds:.1f} s)"
    )
    return 0
