"""DARTS, DARTS-ES and DARTS-ADA on the NAS-Bench-201 supernet, on small real data, on this CPU.

Prints, per epoch of each search, the dominant eigenvalue of the validation-loss Hessian with
respect to the alphas and the CIFAR-10 test accuracy (shipped NAS-Bench-201 table) of the
current argmax cell; then every ES/ADA decision and the final table accuracy of each method.
The three searches share seed, data and settings, so they coincide until ES/ADA act.

The defaults (300 scikit-learn digits split 150/150, weights learned fast with SGD at 0.1 and
L2 3e-4, alphas with Adam at 3e-3, 20 epochs of 10 steps) are chosen so that the weights
overfit the small training half and the eigenvalue rises within a CPU budget. The
NAS-Bench-201 table is for CIFAR-10: the table accuracy says how good the cell found on digits
is on CIFAR-10, not on digits.

    python benchmarks/darts_nb201.py                # the three searches
    python benchmarks/darts_nb201.py --modes es     # one of them
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from hwnas.core.datasets import load_dataset, split_for_search
from hwnas.jobs.darts import save_search
from hwnas.methods.darts.architect import ArchitectConfig
from hwnas.methods.darts.robust import RobustConfig
from hwnas.methods.darts.search import SearchConfig, run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--max-images", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--cells-per-stage", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps-per-epoch", type=int, default=10)
    parser.add_argument("--eigen-batch", type=int, default=128)
    parser.add_argument("--w-lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=3e-4)
    parser.add_argument("--arch-lr", type=float, default=3e-3)
    parser.add_argument("--order", type=int, default=1)
    parser.add_argument("--window", type=int, default=3)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--factor", type=float, default=1.3)
    parser.add_argument("--start-epoch", type=int, default=6)
    parser.add_argument("--ada-max-weight-decay", type=float, default=8.1e-3)
    parser.add_argument("--modes", default="darts,es,ada")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/hwnas-darts-nb201"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = load_dataset(args.data, seed=args.seed)
    train, valid = split_for_search(dataset.train, args.max_images, args.seed)
    print(
        f"data: {args.data}, {len(train)} weight / {len(valid)} architecture images "
        f"{train.input_shape}; supernet C={args.channels}, {args.cells_per_stage} cell(s)/stage"
    )
    summary = {}
    for mode in args.modes.split(","):
        config = SearchConfig(
            space="nb201",
            mode=mode,
            epochs=args.epochs,
            batch_size=args.batch_size,
            steps_per_epoch=args.steps_per_epoch,
            eigen_batch=args.eigen_batch,
            channels=args.channels,
            layers=args.cells_per_stage,
            w_lr=args.w_lr,
            weight_decay=args.weight_decay,
            architect=ArchitectConfig(order=args.order, lr=args.arch_lr),
            robust=RobustConfig(
                window=args.window,
                k=args.k,
                factor=args.factor,
                start_epoch=args.start_epoch,
                max_weight_decay=args.ada_max_weight_decay,
            ),
            seed=args.seed,
        )
        print(f"\n== DARTS mode {mode} (L2 {config.weight_decay:g}) ==")
        print("run epoch      L2  eigenvalue  train%  valid%  table%  cell")
        started = time.perf_counter()

        def show(r) -> None:
            table = "    n/a" if r.table_accuracy is None else f"{r.table_accuracy:7.2f}"
            print(
                f"{r.run:3d} {r.epoch:5d} {r.weight_decay:7.1e} {r.eigenvalue:11.4f} "
                f"{r.train_acc:7.1f} {r.valid_acc:7.1f} {table}  {r.arch}",
                flush=True,
            )

        result = run_search(config, train, valid, show)
        seconds = time.perf_counter() - started
        for event in result.events:
            print(f"  event: {json.dumps(event)}")
        print(f"  final: epoch {result.arch_epoch} cell {result.arch} -> table CIFAR-10 "
              f"{result.table_accuracy:.2f}% ({seconds:.0f} s)")  # fmt: skip
        save_search(result, args.out / mode)
        summary[mode] = {
            "arch": str(result.arch),
            "arch_epoch": result.arch_epoch,
            "table_accuracy": result.table_accuracy,
            "events": len(result.events),
            "seconds": seconds,
            "eigenvalues": [r.eigenvalue for r in result.records],
            "config": asdict(config),
        }
    print("\n== summary ==")
    for mode, item in summary.items():
        print(
            f"{mode:6s} table CIFAR-10 {item['table_accuracy']:.2f}%  (epoch "
            f"{item['arch_epoch']}, {item['events']} decision(s), {item['seconds']:.0f} s)  "
            f"{item['arch']}"
        )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"plots and JSON: {args.out}/<mode>/")


if __name__ == "__main__":
    main()
