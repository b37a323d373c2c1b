"""MODNAS on NAS-Bench-201: zero-shot hypervolume per device, budget queries, timings.

Part 1, zero-shot fronts. The 13 devices of the shipped NB201 latency table are split into
`--folds` groups (13: leave one device out). For each group, a MetaPredictor is fitted on the
other devices' columns only, a MetaHypernetwork is trained over them (surrogate mode), and each
held-out device, known only by its 10 reference latencies, gets the 24 most likely cells of 24
evenly spread preferences. Printed per device: their hypervolume over the true front's (true
error and latency from the tables, normalised over the whole space, reference (1, 1)), and the
same for random search and NSGA-II run over the same predictors with as many evaluations
(`--baseline-evals`).

Part 2, budget queries. With a model trained on all 13 devices (`--model`, default the shipped
one), `--queries` random (device, budget) pairs, the budget uniform between the 10th and 90th
percentile of the device's latencies; each is answered from the device's 10 reference
latencies alone (`hwnas.methods.modnas.generate.answer_budget`, `--confidence` bound). Printed: the
share whose true latency meets the budget, and the gap to the most accurate cell that truly
meets it.

Part 3: seconds of the surrogate-mode training, and of `hwnas generate` end to end (a fresh
process, start-up included).

    python benchmarks/modnas_hv.py                   # all parts, leave-one-device-out
    python benchmarks/modnas_hv.py --folds 4 --part fronts
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def fronts(args: argparse.Namespace) -> None:
    import torch

    from hwnas.jobs.modnas import ModnasJob, table_devices, train_modnas
    from hwnas.methods.modnas.evaluate import evaluate_device
    from hwnas.methods.modnas.model import load_modnas_model
    from hwnas.methods.modnas.train import TrainConfig
    from hwnas.methods.predictor import FitConfig

    torch.set_num_threads(args.threads)
    devices = list(table_devices())
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(devices))
    groups = [sorted(devices[i] for i in order[k :: args.folds]) for k in range(args.folds)]
    evals = tuple(int(e) for e in args.baseline_evals.split(","))
    header = ["device", "modnas", *[f"{m}@{e}" for e in evals for m in ("random", "nsga2")]]
    rows, train_seconds = [], []
    for k, held in enumerate(groups):
        train = [d for d in devices if d not in held]
        print(f"fold {k + 1}/{len(groups)}: holding out {', '.join(held)}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            job = ModnasJob(
                devices=tuple(train),
                train=TrainConfig(steps=args.steps, seed=args.seed),
                fit=FitConfig(epochs=args.predictor_epochs),
            )
            out, summary = train_modnas(job, Path(tmp) / "model", log=lambda m: None)
            seconds = summary["seconds"]
            train_seconds.append(seconds["accuracy"] + seconds["hypernetwork"])
            model = load_modnas_model(out)
            from hwnas.core.tables import load_latency_table
            from hwnas.methods.modnas.generate import device_embedding

            table = load_latency_table("nb201")
            for device in held:
                embedding = device_embedding(table.by_arch(device))
                front = evaluate_device(model, device, embedding, baseline_evals=evals)
                row = [device, front.ratio]
                for e in evals:
                    for m in ("random", "nsga2"):
                        row.append(front.baselines[f"{m}@{e}"] / front.true_hypervolume)
                rows.append(row)
                print("  " + "  ".join(_fmt(v) for v in row), flush=True)
    print("\nzero-shot hypervolume / true front's (24 cells per device; baselines at their evals)")
    print("  ".join(f"{h:>14}" for h in header))
    for row in sorted(rows):
        print("  ".join(f"{_fmt(v):>14}" for v in row))
    means = ["mean", *[statistics.fmean(r[i] for r in rows) for i in range(1, len(header))]]
    print("  ".join(f"{_fmt(v):>14}" for v in means))
    print(
        f"surrogate-mode training (surrogate fit + hypernetwork, {args.steps} steps, "
        f"{args.threads} thread): {statistics.fmean(train_seconds):.0f} s per fold on average"
    )


def queries(args: argparse.Namespace) -> None:
    from hwnas.core.spaces.nb201 import NUM_ARCHS, NB201Arch, all_codes
    from hwnas.core.tables import load_latency_table, reference_archs
    from hwnas.methods.modnas.generate import answer_budget
    from hwnas.methods.modnas.model import load_modnas_model
    from hwnas.methods.modnas.objectives import table_accuracy

    model = load_modnas_model(args.model)
    table = load_latency_table("nb201")
    accuracy = table_accuracy(model.dataset)
    refs = reference_archs("nb201")
    rng = np.random.default_rng(args.seed)
    hits, gaps, failures = 0, [], 0
    devices = list(model.meta["training_devices"])
    for _ in range(args.queries):
        device = devices[rng.integers(len(devices))]
        latency = np.empty(NUM_ARCHS)
        latency[all_codes()] = table.column(device)
        low, high = np.percentile(latency, [10, 90])
        budget = float(rng.uniform(low, high))
        by_arch = table.by_arch(device)
        answer = answer_budget(model, {a: by_arch[a] for a in refs}, budget, args.confidence)
        code = NB201Arch.from_string(answer.chosen.arch).code
        hits += latency[code] <= budget
        best = accuracy[latency <= budget].max()
        gaps.append(best - accuracy[code])
    print(
        f"\n{args.queries} (device, budget) queries, answered from the 10 reference latencies:"
        f"\n  true latency within budget: {hits / args.queries:.1%}"
        f"\n  accuracy gap to the best cell within budget: median {np.median(gaps):.2f} points, "
        f"mean {np.mean(gaps):.2f}, 90th percentile {np.percentile(gaps, 90):.2f}"
        + (f"\n  no answer: {failures}" if failures else "")
    )


def generate_time(args: argparse.Namespace) -> None:
    from hwnas.core.tables import load_latency_table, reference_archs

    table = load_latency_table("nb201")
    by_arch = table.by_arch("gold_6240")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "refs.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["arch", "latency_ms"])
            for arch in reference_archs("nb201"):
                writer.writerow([arch, by_arch[arch]])
        command = [sys.executable, "-m", "hwnas.cli", "generate", "--device-latencies", str(path)]
        command += ["--latency-budget-ms", "10"]
        if args.model:
            command += ["--modnas-model", str(args.model)]
        times = []
        for _ in range(5):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - start)
        print(
            f"\nhwnas generate (fresh process, 5 runs): median {np.median(times):.2f} s, "
            f"best {min(times):.2f} s; it answered:\n{done.stdout}"
        )


def _fmt(value) -> str:
    return value if isinstance(value, str) else f"{value:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "fronts", "queries", "time"), default="all")
    parser.add_argument("--folds", type=int, default=13, help="device groups (13: one each)")
    parser.add_argument("--steps", type=int, default=1500, help="hypernetwork steps per fold")
    parser.add_argument("--predictor-epochs", type=int, default=10)
    parser.add_argument("--baseline-evals", default="24,240", help="comma-separated")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--confidence", type=float, default=0.85, help="of the latency bound")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.part in ("all", "time"):
        generate_time(args)
    if args.part in ("all", "queries"):
        queries(args)
    if args.part in ("all", "fronts"):
        fronts(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
