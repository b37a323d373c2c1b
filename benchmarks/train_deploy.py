"""Budgets to trained, measured engines on this machine; inherited against scratch weights.

Part 1: the main job (`hwnas run`'s `run_pipeline`) for three latency budgets on one shared
profile of this machine: the NB201 network as it ships for 8x8 digits is profiled once, the
budgets are quantiles of its measured latencies, and for each budget the chosen cell is
trained, exported at fp32, fp16 and int8, scored on the digits test split (PyTorch and each
ONNX file as ONNX Runtime runs it) and timed. One Markdown row per budget.

Part 2: weight inheritance, once-for-all style. A small supernet is trained with
`hwnas modnas train --mode supernet` (digits, the supernet's own width and depth); each chosen
cell is then trained at that size for the same number of epochs from its supernet slice
(`hwnas train --init-from`) and from scratch, and both are scored on the test split.

    python benchmarks/train_deploy.py --out /tmp/train_deploy
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PREDICTOR = ROOT / "hwnas" / "data" / "modnas_nb201" / "predictor"


def _fmt(value, spec: str = ".2f", unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def profile_once(args, plan):
    """The shared profile: the shipped network of `plan` on this machine."""
    import dataclasses

    from hwnas.jobs.pipeline import DEFAULT_EXPORTER, network_setting
    from hwnas.jobs.profile import ProfileConfig, profile_device
    from profilers import TimingConfig

    config = ProfileConfig(
        samples=args.samples,
        exporter=DEFAULT_EXPORTER,
        timing=TimingConfig(max_runs=1000, max_time_s=args.max_time_s),
    )
    config = dataclasses.replace(config, network=network_setting(plan, config.space))
    started = time.perf_counter()
    result = profile_device(args.out / "measurements.sqlite", config)
    print(
        f"profiled {len(result.latency_ms)} cells ({len(result.measured)} now) as they ship for "
        f"{plan.data} ({result.setting}) in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return config, result


def budget_rows(args, plan, config, latencies) -> list[dict]:
    """One `run_pipeline` per budget (the profile is resumed from the shared store)."""
    from hwnas.jobs.generate import BudgetError
    from hwnas.jobs.pipeline import run_pipeline

    values = np.array(sorted(latencies.values()))
    rows = []
    for quantile in args.quantiles:
        budget = float(np.quantile(values, quantile))
        print(f"budget {budget:.3f} ms (quantile {quantile:g} of the measured cells)", flush=True)
        try:
            result = run_pipeline(
                args.out / f"budget_q{quantile:g}",
                budget_ms=budget,
                config=config,
                plan=plan,
                confidence=args.confidence,
                store_path=args.out / "measurements.sqlite",
                stage=lambda message: print(f"  {message}", flush=True),
            )
        except BudgetError as err:
            rows.append({"quantile": quantile, "budget_ms": budget, "error": str(err)})
            continue
        report, chosen = result.export, result.generate.chosen
        rows.append(
            {
                "quantile": quantile,
                "budget_ms": budget,
                "arch": chosen.arch,
                "nb201_index": chosen.nb201_index,
                "predicted_latency_ms": chosen.predicted_latency_ms,
                "bound_ms": chosen.latency_bound_ms,
                "latency_ms": {p: report.latency_ms(p) for p in report.precisions},
                "pytorch_top1": report.accuracy.pytorch_top1_percent,
                "top1": {p: report.accuracy_of(p) for p in report.precisions},
                "drop": {f.precision: f.drop_points for f in report.accuracy.files},
                "slower_than_fp32": [s.precision for s in report.choice.slower_than_fp32],
                "fastest_within_drop": report.choice.fastest_within_drop,
                "train_s": result.train.train_seconds,
                "epochs_run": result.train.epochs_run,
                "model_dir": str(result.train.model_dir),
            }
        )
    return rows


def budget_table(rows: list[dict], precisions) -> str:
    head = (
        "| budget ms | cell (NB201 index) | predicted ms (bound) | measured ms "
        + "/".join(precisions)
        + " | within | PyTorch top-1 | ONNX top-1 "
        + "/".join(precisions)
        + " | drop "
        + "/".join(precisions)
        + " | train s |"
    )
    lines = [head, "|" + "---|" * 9]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['budget_ms']:.3f} | no cell fits: {row['error']} |" + " |" * 7)
            continue
        latency = "/".join(_fmt(row["latency_ms"][p], ".3f") for p in precisions)
        within = "yes" if row["latency_ms"]["fp32"] <= row["budget_ms"] else "no"
        top1 = "/".join(_fmt(row["top1"][p]) for p in precisions)
        drop = "/".join(_fmt(row["drop"][p]) for p in precisions)
        slower = f" (slower than fp32: {', '.join(row['slower_than_fp32'])})"
        lines.append(
            f"| {row['budget_ms']:.3f} | {row['nb201_index']} | "
            f"{row['predicted_latency_ms']:.3f} ({row['bound_ms']:.3f}) | {latency}"
            f"{slower if row['slower_than_fp32'] else ''} | fp32 {within} | "
            f"{row['pytorch_top1']:.2f} | {top1} | {drop} | {row['train_s']:.1f} |"
        )
    return "\n".join(lines)


def train_supernet(args) -> Path:
    """`hwnas modnas train --mode supernet`, small; its weights folder."""
    if args.supernet is not None:
        print(f"supernet: {args.supernet} (given)", flush=True)
        return args.supernet
    out = args.out / "modnas_supernet"
    if (out / "supernet").is_dir():
        print(f"supernet: reusing {out / 'supernet'}", flush=True)
        return out / "supernet"
    command = [
        sys.executable,
        "-m",
        "hwnas",
        "modnas",
        "train",
        "--mode",
        "supernet",
        "--data",
        "digits",
        "--out",
        str(out),
        "--steps",
        str(args.supernet_steps),
        "--warm-up",
        str(args.supernet_warm_up),
        "--threads",
        "1",
    ]
    if SHIPPED_PREDICTOR.is_dir():
        command += ["--predictor", str(SHIPPED_PREDICTOR)]
    print("$ " + " ".join(command[2:]).replace(str(ROOT) + "/", ""), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"supernet trained in {time.perf_counter() - started:.0f} s", flush=True)
    return out / "supernet"


def inherit_rows(args, supernet: Path, index_of: dict[str, int]) -> list[dict]:
    """Each cell trained from its supernet slice and from scratch, same epochs and seed."""
    import torch

    from hwnas.jobs.train import TrainJob, train_model
    from hwnas.methods.training.config import TrainConfig

    meta = json.loads((supernet / "supernet.json").read_text())
    channels, cells = int(meta["channels"]), int(meta["cells_per_stage"])
    torch.set_num_threads(1)
    rows = []
    for arch, index in index_of.items():
        for epochs in args.inherit_epochs:
            row = {"arch": arch, "epochs": epochs, "channels": channels, "cells": cells}
            for mode in ("inherited", "scratch"):
                job = TrainJob(
                    out=args.out / "inherit" / f"nb201_{index:05d}_{epochs}ep_{mode}",
                    arch=arch,
                    data="digits",
                    config=TrainConfig(epochs=epochs, seed=0),
                    channels=channels,
                    cells=cells,
                    init_from=supernet if mode == "inherited" else None,
                    force=True,
                )
                result = train_model(job)
                row[mode] = {"test": result.test_accuracy, "val": result.val_accuracy}
            rows.append(row)
            print(
                f"  {arch} {epochs} epoch(s): inherited {row['inherited']['test']:.2f} %, "
                f"scratch {row['scratch']['test']:.2f} %",
                flush=True,
            )
    return rows


def inherit_table(rows: list[dict], index_of: dict[str, int]) -> str:
    lines = [
        "| cell (NB201 index) | network | epochs | inherited test top-1 | scratch test top-1 |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {index_of[row['arch']]} | {row['channels']} ch, {row['cells']} cell/stage | "
            f"{row['epochs']} | {row['inherited']['test']:.2f} | {row['scratch']['test']:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("hwnas-runs/train_deploy"))
    parser.add_argument("--samples", type=int, default=30, help="random cells beyond the 10")
    parser.add_argument("--max-time-s", type=float, default=2.0, help="timing cap per cell")
    parser.add_argument("--epochs", type=int, default=None, help="default: hwnas run's")
    parser.add_argument(
        "--quantiles",
        type=float,
        nargs=3,
        default=[0.5, 0.75, 0.95],
        help="budgets as quantiles of the measured latencies (0.3 of 30 cells fitted no cell "
        "with its 90%% bound on the development VM)",
    )
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument(
        "--supernet",
        type=Path,
        help="a supernet folder made by `hwnas modnas train --mode supernet` (default: train one)",
    )
    parser.add_argument("--supernet-steps", type=int, default=30)
    parser.add_argument("--supernet-warm-up", type=int, default=300)
    parser.add_argument("--inherit-epochs", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()

    from hwnas.jobs.pipeline import TrainingPlan

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    base = TrainingPlan()
    plan = TrainingPlan(epochs=args.epochs or base.epochs, precisions=("fp32", "fp16", "int8"))
    config, profile = profile_once(args, plan)
    rows = budget_rows(args, plan, config, profile.latency_ms)
    index_of = {row["arch"]: row["nb201_index"] for row in rows if "arch" in row}
    supernet = train_supernet(args)
    inherited = inherit_rows(args, supernet, index_of)
    (args.out / "train_deploy.json").write_text(
        json.dumps({"budgets": rows, "inheritance": inherited}, indent=2) + "\n"
    )
    print()
    print(
        f"Network as shipped for digits: {profile.setting}; {plan.epochs} epochs; "
        f"ONNX Runtime, 1 thread, batch 1; budgets at quantiles {args.quantiles} of the "
        f"{len(profile.latency_ms)} profiled cells' latencies; {args.confidence:.0%} bound."
    )
    print()
    print(budget_table(rows, plan.precisions))
    print()
    print(inherit_table(inherited, index_of))
    print()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
