"""Does a cell generated for a budget by the kernel predictor meet it when measured (issue 20)?

On this machine with ONNX Runtime (one setting: space NB201, --precision, --threads), the
runtime predictor (`RuntimePredictor`: kernel sums from the kernel table of the references
and a pool, fitted on the 10 references plus 10 chosen cells) answers --budgets budgets,
log-spaced from just above the fastest cell's bound to the slowest measured cell, with
`generate_with_kernels` (90 % bound). Each chosen cell is then timed with the profile's
method (rounds, probe) in a store of its own, and the run prints how many of the budgets it
met, with every budget's row.

    python benchmarks/runtime_budget.py                  # after runtime_predictor.py's run
    python benchmarks/runtime_budget.py --precision int8

Reuses runtime_predictor.py's files under --out (same seed and pool), profiling what is
missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_predictor import draw, time_networks  # noqa: E402

from hwnas.core.spaces.nb201 import NB201Arch  # noqa: E402
from hwnas.jobs.generate import generate_with_kernels  # noqa: E402
from hwnas.methods.runtime_predictor import (  # noqa: E402
    KernelProfiler,
    RuntimePredictor,
    choose_samples,
)
from profilers import OnnxRuntime  # noqa: E402
from profilers.timing import TimingConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budgets", type=int, default=40)
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--pool", type=int, default=40)
    parser.add_argument("--kernel-runs", type=int, default=20)
    parser.add_argument("--max-time-s", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--max-priced", type=int, default=100, help="new cells priced per budget at most"
    )
    parser.add_argument("--out", type=Path, default=Path("hwnas-runs/bench-runtime-predictor"))
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    started = time.perf_counter()
    refs, pool, _ = draw("nb201", args.pool, 50, args.seed)
    runtime = OnnxRuntime(intra_op_threads=args.threads)
    folder = args.out / "nb201"
    profiler = KernelProfiler("nb201", folder, runtime, args.precision)
    table = profiler.table(refs + pool, runs=args.kernel_runs)
    features = RuntimePredictor(profiler, table).features(refs + pool)
    chosen = [pool[i - 10] for i in choose_samples(features, list(range(10)), 10, args.seed)]
    timing = TimingConfig(max_runs=1000, max_time_s=args.max_time_s)
    store = folder / f"store-{profiler.setting}.sqlite"
    latency = time_networks(profiler, refs + chosen, store, timing)
    samples = {str(a): latency[str(a)] for a in refs + chosen}

    predictor = RuntimePredictor(profiler, table)
    first = generate_with_kernels(samples, 1e6, predictor, confidence=args.confidence)
    low = first.fastest.latency_bound_ms * 1.02
    high = max(samples.values())
    budgets = np.geomspace(low, high, args.budgets)
    rows = []
    for budget in budgets:
        result = generate_with_kernels(
            samples,
            float(budget),
            RuntimePredictor(profiler, table),
            confidence=args.confidence,
            max_priced=args.max_priced,
        )
        print(f"  budget {budget:.3f} ms: priced {result.predictor['priced']}", flush=True)
        rows.append((float(budget), result))
    picks = sorted({r.chosen.arch for _, r in rows})
    checks = time_networks(
        profiler, [NB201Arch.from_string(a) for a in picks], folder / "budget-checks.sqlite", timing
    )
    met = 0
    print("| budget ms | chosen (NB201 index) | predicted | bound | measured | met | search |")
    print("|---|---|---|---|---|---|---|")
    for budget, result in rows:
        c = result.chosen
        measured = checks[c.arch]
        ok = measured <= budget
        met += ok
        print(
            f"| {budget:.3f} | {c.nb201_index} | {c.predicted_latency_ms:.3f} | "
            f"{c.latency_bound_ms:.3f} | {measured:.3f} | {'yes' if ok else 'NO'} | "
            + ("cut" if "cut_at" in result.predictor else "whole")
            + " |"
        )
    print(
        f"\nnb201 {args.precision} threads {args.threads}: {met} of {len(rows)} budgets met when "
        f"the chosen cell was measured ({len(picks)} distinct cells; "
        f"{sum('cut_at' in r.predictor for _, r in rows)} searches cut at {args.max_priced} "
        f"new cells priced; predictor "
        f"{rows[0][1].predictor['model']}, bound factor {rows[0][1].bound_factor:.3f}); "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
