"""NES-RS and NES-RE ensembles against the deep ensemble, at equal size M, on this CPU.

For each seed and each algorithm, `hwnas.jobs.nes.nes_search_job` builds a pool of K small
NAS-Bench-201 networks (random search, or regularised evolution with P = K/2 and m = M),
forward-selects M of them without replacement on validation NLL, and trains the deep
ensemble of the pool's best network (that network and M-1 retrainings with new seeds). Both
ensembles are evaluated on the test split and under 5 corruptions (Gaussian noise, blur,
contrast, rotation, pixelation) at severities 1-5; the table prints NLL, error and ECE in
distribution and, per severity, the mean over the 5 corruptions (per-corruption figures are in
each run's ``metrics.json``).

Defaults: scikit-learn digits, half of the 1,437 training images held out for selection
(719), 300 of the rest for training, 359 test images; K=30, M=5, 30 epochs of SGD, 16
channels, 2 cells per stage, seeds 0-4, two runs at a time (`--jobs`, one process and one
torch thread each). One process took 21 minutes on an idle 2-core VM. With 8 channels and 1
cell per stage (`--channels 8 --cells 1`) many random cells are too weak to help an
ensemble, and NES-RS was lower than its deep ensemble in only 1 of 5 seeds. With all
training images the members reach ~0.5 % error and a test NLL of ~0.03, where a few hundred
test and validation images cannot tell ensembles apart (`--max-train 0` uses them all).

    python benchmarks/nes_small.py                       # digits, seeds 0-4
    python benchmarks/nes_small.py --data mnist --seeds 0 1 --pool 15 --epochs 10 \
        --channels 8 --cells 1 --max-train 1000 --valid-fraction 0.2 --out /tmp/nes-bench
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from hwnas.core.datasets import load_dataset
from hwnas.jobs.nes import NesJob, nes_search_job
from hwnas.methods.nes.search import NesConfig
from hwnas.methods.nes.train import TrainConfig

KEYS = ("nll", "error", "ece")


def _row(label: str, metrics: dict) -> str:
    return (
        f"{label:<28} {metrics['nll']:8.4f} {100 * metrics['error']:8.2f} {metrics['ece']:8.4f}"
        f" {metrics['oracle_nll']:8.4f} {metrics['mean_member_nll']:8.4f}"
    )


def _run(args: argparse.Namespace, seed: int, algorithm: str, out: Path) -> tuple[dict, float]:
    """One NES search with its deep ensemble, in a worker process with one torch thread."""
    torch.set_num_threads(1)
    config = NesConfig(
        algorithm=algorithm,
        pool_size=args.pool,
        ensemble_size=args.size,
        channels=args.channels,
        cells=args.cells,
        seed=seed,
    )
    started = time.perf_counter()
    summary = nes_search_job(
        config,
        load_dataset(args.data, seed=seed),
        TrainConfig(epochs=args.epochs),
        out / f"{algorithm}-seed{seed}",
        NesJob(args.valid_fraction, max_train=args.max_train or None),
    )
    return summary, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pool", type=int, default=30)
    parser.add_argument("--size", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=2)
    parser.add_argument("--max-train", type=int, default=300, help="training images (0: all)")
    parser.add_argument("--valid-fraction", type=float, default=0.5, help="of the train split")
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temp folder)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="runs in parallel, one process and thread each"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="nes-bench-"))
    runs = [(seed, algorithm) for seed in args.seeds for algorithm in ("rs", "re")]
    results: dict[tuple[int, str], dict] = {}
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run, args, seed, algorithm, out): (seed, algorithm)
                   for seed, algorithm in runs}  # fmt: skip
        for future in as_completed(futures):
            seed, algorithm = futures[future]
            summary, seconds = future.result()
            results[(seed, algorithm)] = summary
            print(
                f"seed {seed} NES-{algorithm.upper()}: {seconds:.0f} s "
                f"({out / f'{algorithm}-seed{seed}'})",
                flush=True,
            )
    results = {run: results[run] for run in runs}  # seed order, whatever finished first
    images = next(iter(results.values()))["images"]
    print(
        f"\n{args.data}: {images['train']} train / {images['valid']} valid / {images['test']} "
        f"test images; K={args.pool}, M={args.size}, {args.epochs} epochs, "
        f"{args.channels} channels, {args.cells} cell(s) per stage; "
        f"{time.perf_counter() - started:.0f} s in all ({args.jobs} parallel jobs)"
    )
    header = f"{'':<28} {'NLL':>8} {'error %':>8} {'ECE':>8} {'oracle':>8} {'member':>8}"
    wins = []
    for (seed, algorithm), summary in results.items():
        print(f"\nseed {seed}, NES-{algorithm.upper()} vs its deep ensemble")
        print(header)
        sections = [("test", summary["in_distribution"])] + [
            (f"shift sev {sev} (mean of 5)", by_name)
            for sev, by_name in summary["shift_mean_over_corruptions"].items()
        ]
        for label, by_name in sections:
            print(_row(f"{label} NES", by_name["nes"]))
            print(_row(f"{label} DeepEns", by_name["deep_ensemble"]))
        nes, deep = summary["in_distribution"]["nes"], summary["in_distribution"]["deep_ensemble"]
        wins.append(nes["nll"] < deep["nll"])
    print(
        f"\nin-distribution NLL, NES lower than the deep ensemble in {sum(wins)} of "
        f"{len(wins)} runs"
    )
    for algorithm in ("rs", "re"):
        runs = [s for (seed, a), s in results.items() if a == algorithm]
        for name in ("nes", "deep_ensemble"):
            means = {k: np.mean([r["in_distribution"][name][k] for r in runs]) for k in KEYS}
            shifted = {
                k: np.mean(
                    [np.mean([m[name][k] for m in r["shift_mean_over_corruptions"].values()])
                     for r in runs]
                )
                for k in KEYS
            }  # fmt: skip
            print(
                f"mean over seeds, NES-{algorithm.upper()} run, {name:<13}: test NLL "
                f"{means['nll']:.4f} error {100 * means['error']:.2f}% ECE {means['ece']:.4f}; "
                f"over all shifts NLL {shifted['nll']:.4f} error {100 * shifted['error']:.2f}% "
                f"ECE {shifted['ece']:.4f}"
            )
    (out / "summary.json").write_text(
        json.dumps({f"{a}-seed{s}": r for (s, a), r in results.items()}, indent=2) + "\n"
    )
    print(f"\nsummary: {out / 'summary.json'}")


if __name__ == "__main__":
    main()
