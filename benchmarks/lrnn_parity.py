"""Parity with linear RNNs: eigenvalues in [-1, 1] generalise to length 256, [0, 1] do not.

Grazzi et al., "Unlocking state-tracking in linear RNNs through negative eigenvalues" (ICLR
2025): train on lengths 3-40, test on longer sequences. For each recurrence (diagonal,
DeltaNet) and eigenvalue range (01, 11), one small model is trained with Adam (seeded) and
its accuracy on --test-samples fresh sequences per length is printed, with the seconds spent
(training, then testing; the diagonal models run the parallel scan, DeltaNet the sequential
one, the faster on a CPU: `TrainConfig.scan`).
Goal: [-1, 1] >= 0.99 at length 256 for both recurrences, [0, 1] near chance (0.5).

    python benchmarks/lrnn_parity.py            # add --out DIR to keep models and metrics
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hwnas.methods.lrnn.train import TrainConfig, save_model, train_lrnn

SHAPES = {"diag": ("L1-W32-S16", 600), "deltanet": ("L1-W64-S8", 500)}
"""Layers, width, state and Adam steps per recurrence (DeltaNet: 8 heads of 8 x 8). The
[-1, 1] models reach a loss near 1e-5 within ~200 steps; the rest saturates the step sizes."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    parser.add_argument("--test-lengths", type=int, nargs="+", default=[40, 128, 256])
    parser.add_argument("--test-samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, help="folder for each model and metrics.json")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    lengths = tuple(args.test_lengths)
    start = time.perf_counter()
    rows = []
    header = "arch, seed, " + ", ".join(f"acc@{n}" for n in lengths) + ", steps, train_s, eval_s"
    print(header, flush=True)
    for seed in args.seeds:
        for recurrence, (shape, steps) in SHAPES.items():
            for eigen_range in ("01", "11"):
                arch = f"lrnn:{recurrence}-{eigen_range}-{shape}"
                config = TrainConfig(
                    task="parity",
                    steps=steps,
                    batch_size=64,
                    lr=1e-2,
                    test_lengths=lengths,
                    test_samples=args.test_samples,
                    seed=seed,
                )
                result = train_lrnn(arch, config)
                accs = ", ".join(f"{result.accuracy[n]:.3f}" for n in lengths)
                print(
                    f"{arch}, {seed}, {accs}, {result.steps_run}, {result.train_seconds:.1f}, "
                    f"{result.eval_seconds:.1f}",
                    flush=True,
                )
                rows.append(result.metrics())
                if args.out:
                    folder = args.out / f"{arch.removeprefix('lrnn:')}-seed{seed}"
                    save_model(result.model, folder, {"task": "parity"})
                    (folder / "metrics.json").write_text(json.dumps(result.metrics(), indent=2))
    total = time.perf_counter() - start
    print(f"total wall time: {total:.1f} s ({total / 60:.1f} min; goal <= 20 min)")
    longest = str(max(lengths))
    negative = [r["accuracy"][longest] for r in rows if "-11-" in r["arch"]]
    unit = [r["accuracy"][longest] for r in rows if "-01-" in r["arch"]]
    print(
        f"length {longest}: [-1, 1] runs >= 0.99: {sum(a >= 0.99 for a in negative)} of "
        f"{len(negative)}; [0, 1] accuracies {', '.join(f'{a:.3f}' for a in unit)} (chance 0.5)"
    )


if __name__ == "__main__":
    main()
