"""Few-shot latency prediction on a new device: MetaPredictor against per-device baselines.

Leave-one-device-out over the 13 devices of each shipped table (HELP and HW-NAS-Bench data):
the held-out device is known only from its k measured architectures (its 10 reference
architectures, plus k - 10 random others for k > 10). Prints, per device and as the mean over
devices, Spearman (and Kendall tau, MAPE, share within +-10 %) of every method on the
architectures the device did not measure. The anchor: HELP (Lee et al., NeurIPS 2021) reports
a mean Spearman of 0.932 on six NAS-Bench-201 test devices with 10 samples.

    python benchmarks/predictor_fewshot.py                      # both spaces, k = 10 and 20
    python benchmarks/predictor_fewshot.py --space nb201 --ks 10 --devices pixel3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwnas.jobs.predictor_eval import METHODS, leave_one_device_out, summarise  # noqa: E402
from hwnas.methods.predictor import FitConfig, load_table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", choices=("nb201", "fbnet", "both"), default="both")
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--devices", nargs="+", help="held-out devices (default: all)")
    parser.add_argument("--hidden", type=int, default=FitConfig.hidden)
    parser.add_argument("--epochs", type=int, default=FitConfig.epochs)
    parser.add_argument("--members", type=int, default=FitConfig.n_members)
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument("--finetune-lr", type=float, default=FitConfig.adapt_learning_rate)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = FitConfig(
        hidden=args.hidden,
        epochs=args.epochs,
        n_members=args.members,
        adapt_learning_rate=args.finetune_lr,
        random_state=args.seed,
    )
    spaces = ("nb201", "fbnet") if args.space == "both" else (args.space,)
    for space in spaces:
        started = time.perf_counter()
        print(f"\n== {space}: leave-one-device-out, {config}", flush=True)
        print(f"{'device':<16}{'k':>4}  {'method':<14}{'spearman':>9}{'kendall':>9}"
              f"{'mape':>8}{'within10':>9}", flush=True)  # fmt: skip

        def show(row) -> None:
            text = f"{row.device:<16}{row.k:>4}  {row.method:<14}{row.spearman:>9.4f}"
            text += f"{row.kendall_tau:>9.4f}{row.mape:>8.3f}{row.within_10:>9.3f}"
            print(text, flush=True)

        rows = leave_one_device_out(
            space,
            load_table(space),
            ks=args.ks,
            methods=args.methods,
            config=config,
            finetune_steps=args.finetune_steps,
            devices=args.devices,
            seed=args.seed,
            report=show,
        )
        n_devices = len({r.device for r in rows})
        print(f"\n{space}: mean over {n_devices} held-out devices "
              f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
        print(f"{'k':>4}  {'method':<14}{'spearman':>9}{'kendall':>9}{'mape':>8}{'within10':>9}")
        for (k, method), m in sorted(summarise(rows).items()):
            print(f"{k:>4}  {method:<14}{m['spearman']:>9.4f}{m['kendall_tau']:>9.4f}"
                  f"{m['mape']:>8.3f}{m['within_10']:>9.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
