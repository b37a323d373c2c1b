"""`hwnas predictor fit|adapt|predict|evaluate`: the MetaPredictor on the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hwnas.cli.types import positive_int
from hwnas.core.spaces import table_spaces

TARGETS = ("latency_ms", "energy_mj")


def _steps(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 0, got {value}")
    return value


def _set_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", 0):
        import torch

        torch.set_num_threads(args.threads)


def cmd_fit(args: argparse.Namespace) -> int:
    import time

    from hwnas.methods.predictor import FitConfig, fit_model, load_table, save_model

    _set_threads(args)
    config = FitConfig(
        hidden=args.hidden, epochs=args.epochs, n_members=args.members, random_state=args.seed
    )
    table = load_table(args.space, args.data)
    started = time.perf_counter()
    model = fit_model(args.space, table, config, devices=args.devices, target=args.target)
    seconds = time.perf_counter() - started
    save_model(model, args.out)
    print(
        f"fitted a MetaPredictor on {len(table)} {args.space} architectures x "
        f"{len(model.training_devices)} devices in {seconds:.0f} s; "
        f"saved to {args.out}"
    )
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from hwnas.methods.predictor import adapt_model, load_model, read_samples_csv, save_model

    _set_threads(args)
    model = load_model(args.model)
    samples = read_samples_csv(args.samples, model.space, model.target)
    adapted = adapt_model(model, samples, args.device_name, args.steps)
    save_model(adapted, args.out)
    steps = adapted.device["adapt_steps"]
    how = f"fine-tuned {steps} steps" if steps else "zero-shot: embedding only"
    print(f"adapted to {args.device_name} from {len(samples)} samples ({how}); saved to {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import csv

    from hwnas.errors import InputError
    from hwnas.methods.predictor import load_model, parse_archs

    model = load_model(args.model)
    try:
        lines = args.archs.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read architectures file {args.archs}: {err}") from None
    if not lines:
        raise InputError(f"{args.archs} is empty: expected one architecture per line")
    texts = [line.strip() for line in lines]
    archs = parse_archs(model.space, texts, lambda i: f"{args.archs}, line {i + 1}")
    values = model.predict(archs, device=args.device)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["arch", model.target])
    writer.writerows((str(arch), f"{value:.6g}") for arch, value in zip(archs, values))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from hwnas.jobs.predictor_eval import leave_one_device_out, summarise
    from hwnas.methods.predictor import FitConfig, load_table

    _set_threads(args)
    config = FitConfig(
        hidden=args.hidden, epochs=args.epochs, n_members=args.members, random_state=args.seed
    )
    header = f"{'device':<16}{'k':>4}  {'method':<14}{'spearman':>9}{'kendall':>9}"
    print(header + f"{'mape':>8}{'within10':>9}", flush=True)

    def show(row) -> None:
        text = f"{row.device:<16}{row.k:>4}  {row.method:<14}{row.spearman:>9.4f}"
        print(text + f"{row.kendall_tau:>9.4f}{row.mape:>8.3f}{row.within_10:>9.3f}", flush=True)

    rows = leave_one_device_out(
        args.space,
        load_table(args.space, args.data),
        ks=args.ks,
        methods=args.methods,
        config=config,
        devices=args.devices,
        seed=args.seed,
        report=show,
    )
    print(f"\nmean over {len({r.device for r in rows})} held-out devices")
    print(f"{'k':>4}  {'method':<14}{'spearman':>9}{'kendall':>9}{'mape':>8}{'within10':>9}")
    for (k, method), m in sorted(summarise(rows).items()):
        text = f"{k:>4}  {method:<14}{m['spearman']:>9.4f}{m['kendall_tau']:>9.4f}"
        print(text + f"{m['mape']:>8.3f}{m['within_10']:>9.3f}")
    return 0


def _training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--space", choices=table_spaces(), default="nb201", help="the search space of the table"
    )
    parser.add_argument(
        "--data", type=Path, help="wide CSV <space>_index,arch,<device>... (default: shipped table)"
    )
    parser.add_argument("--devices", nargs="+", help="device columns to use (default: all)")
    parser.add_argument("--hidden", type=positive_int, default=256, help="hidden width")
    parser.add_argument("--epochs", type=positive_int, default=10, help="training epochs")
    parser.add_argument("--members", type=positive_int, default=1, help="ensemble size")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data order")
    parser.add_argument(
        "--threads", type=positive_int, help="torch threads (default: torch's own choice)"
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    predictor = sub.add_parser(
        "predictor", help="MetaPredictor: fit on many devices, adapt to a new one, predict"
    )
    commands = predictor.add_subparsers(dest="predictor_command", required=True)

    fit = commands.add_parser("fit", help="train a MetaPredictor on a latency table")
    _training_options(fit)
    fit.add_argument(
        "--target", choices=TARGETS, default="latency_ms", help="the quantity predicted"
    )
    fit.add_argument("--out", type=Path, required=True, help="model directory to write")
    fit.set_defaults(func=cmd_fit)

    adapt = commands.add_parser("adapt", help="adapt a model to a new device from its samples")
    adapt.add_argument("--model", type=Path, required=True, help="model directory of predictor fit")
    adapt.add_argument(
        "--samples",
        type=Path,
        required=True,
        help="CSV arch,latency_ms with the 10 reference architectures (and any others)",
    )
    adapt.add_argument("--out", type=Path, required=True, help="adapted model directory to write")
    adapt.add_argument("--device-name", default="new-device", help="name stored in the model")
    adapt.add_argument(
        "--steps",
        type=_steps,
        default="auto",
        help="fine-tuning steps, 0 = zero-shot, or auto (default): fine-tune only if that "
        "predicts held-out samples better",
    )
    adapt.add_argument(
        "--threads", type=positive_int, help="torch threads (default: torch's own choice)"
    )
    adapt.set_defaults(func=cmd_adapt)

    predict = commands.add_parser("predict", help="predict for architectures; CSV on stdout")
    predict.add_argument(
        "--model", type=Path, required=True, help="model directory of predictor fit or adapt"
    )
    predict.add_argument("--archs", type=Path, required=True, help="one architecture per line")
    predict.add_argument("--device", help="a training device instead of the adapted one")
    predict.set_defaults(func=cmd_predict)

    evaluate = commands.add_parser(
        "evaluate", help="leave-one-device-out: MetaPredictor against per-device baselines"
    )
    _training_options(evaluate)
    evaluate.add_argument(
        "--ks",
        type=positive_int,
        nargs="+",
        default=[10, 20],
        help="measured architectures given to each held-out device, references included",
    )
    evaluate.add_argument(
        "--methods",
        nargs="+",
        default=["meta", "meta_auto", "gbr", "rf", "ridge", "macs", "params"],
        choices=("meta", "meta_finetune", "meta_auto", "gbr", "rf", "ridge", "macs", "params"),
        help="methods scored",
    )
    evaluate.set_defaults(func=cmd_evaluate)
