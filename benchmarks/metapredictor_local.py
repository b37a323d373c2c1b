"""A MetaPredictor adapted to this machine, a device none of the shipped tables holds.

Profiles the space's 10 reference architectures and --samples others on this machine with
`hwnas profile`'s job (ONNX Runtime; resumable store under --out), fits a MetaPredictor on
the 13 devices of the shipped table (or loads --model), adapts it to this machine from the
10 references alone (zero-shot: the device embedding) and from the references plus --extra
profiled ones (`--steps auto`: fine-tuned only where that predicts held-out samples better),
and scores each on the profiled architectures it did not see: Spearman, mean absolute
percentage error and the share within 10 %. Also prints the ranking by MACs alone.

    python benchmarks/metapredictor_local.py --space fbnet --samples 40
    python benchmarks/metapredictor_local.py --space nb201 --samples 40 --model models/nb201
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from hwnas.jobs import ProfileConfig, profile_device
from hwnas.jobs.profile import profile_archs
from hwnas.methods.predictor import adapt_model, fit_model, load_model, load_table, network_costs
from predictors import mape, spearman, within
from profilers import TimingConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", choices=("nb201", "fbnet"), default="fbnet")
    parser.add_argument("--samples", type=int, default=40, help="profiled beyond the 10")
    parser.add_argument("--extra", type=int, default=10, help="adaptation samples beyond the 10")
    parser.add_argument("--model", type=Path, help="a fitted MetaPredictor (default: fit one)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime and torch threads")
    parser.add_argument("--max-time-s", type=float, default=2.0, help="timing cap per network")
    parser.add_argument("--out", type=Path, default=Path("hwnas-runs/bench-metapredictor"))
    args = parser.parse_args()
    if args.extra >= args.samples:
        parser.error("--extra must be smaller than --samples: the rest are the test set")
    torch.set_num_threads(args.threads)

    config = ProfileConfig(
        samples=args.samples,
        space=args.space,
        intra_op_threads=args.threads,
        timing=TimingConfig(max_runs=1000, max_time_s=args.max_time_s),
    )
    started = time.perf_counter()
    out = args.out / args.space
    result = profile_device(out / "measurements.sqlite", config, workdir=out / "onnx")
    values = profile_archs(config)
    archs = [str(a) for a in values]
    if result.failed:
        raise SystemExit(f"{len(result.failed)} networks failed to profile: {result.failed}")
    print(
        f"profiled {len(archs)} {args.space} networks on {result.device} "
        f"({len(result.measured)} timed now, {len(result.resumed)} resumed) in "
        f"{time.perf_counter() - started:.0f} s"
    )
    latency = np.array([result.latency_ms[a] for a in archs])

    if args.model:
        model = load_model(args.model)
    else:
        started = time.perf_counter()
        model = fit_model(args.space, load_table(args.space))
        seconds = time.perf_counter() - started
        print(f"fitted the MetaPredictor on the 13 table devices in {seconds:.0f} s")
    references, others = archs[:10], archs[10:]
    test = others[args.extra :]
    truth = latency[10 + args.extra :]
    macs = network_costs(args.space, values[10 + args.extra :])[1]
    rows = [("MACs alone (rank only)", macs, None)]
    for name, known in (
        ("MetaPredictor, 10 references", references),
        (f"MetaPredictor, 10 + {args.extra}", references + others[: args.extra]),
    ):
        adapted = adapt_model(model, {a: result.latency_ms[a] for a in known}, result.device)
        steps = adapted.device["adapt_steps"]
        rows.append((f"{name} ({f'fine-tuned {steps} steps' if steps else 'zero-shot'})",
                     adapted.predict(test), True))  # fmt: skip
    print(
        f"\n{len(test)} held-out {args.space} networks on {result.device}: measured "
        f"{truth.min():.3g} to {truth.max():.3g} ms"
    )
    print(f"{'':<52} {'Spearman':>8} {'MAPE':>8} {'within 10%':>10}")
    for name, predicted, is_latency in rows:
        if is_latency:
            print(
                f"{name:<52} {spearman(truth, predicted):8.3f} "
                f"{100 * mape(truth, predicted):7.1f}% {100 * within(truth, predicted, 0.10):9.0f}%"
            )
        else:
            print(f"{name:<52} {spearman(truth, predicted):8.3f} {'':>8} {'':>10}")


if __name__ == "__main__":
    main()
