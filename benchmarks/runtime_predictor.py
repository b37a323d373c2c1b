"""Predictors for the runtime this machine runs: kernel sums, chosen samples, a prior (issue 20).

For each space (NB201, FBNet), precision (fp32, int8: ONNX Runtime's own int8 files) and
thread count (1 and every usable core), in one run:

1. Draws the space's 10 references, a pool of --pool candidates and --test held-out
   networks (seeded, distinct); exports each once (int8: quantised from the fp32 file).
2. Profiles the kernels of the references and the pool in place with ONNX Runtime's profiler
   (`profilers.kernels`): the device setting's kernel table. The held-out networks' kernels
   are only listed (one untimed run), never timed into the table.
3. Times the references, 10 random pool networks, 10 chosen ones (`choose_samples`, from
   the references' and pool's features) and the held-out networks with `hwnas profile`'s
   method (rounds, probe; `profilers.run_campaign`), one store per setting.
4. Scores on the held-out networks: MACs alone (rank only), the MetaPredictor adapted from
   the 10 references (zero-shot), the kernel sum scaled on the 10 references, and the
   runtime predictor (`RuntimePredictor`: kernel sum, prior, costs; cross-validation
   chooses) fitted on 10 + 10 random and on 10 + 10 chosen.

    python benchmarks/runtime_predictor.py                      # all 8 settings
    python benchmarks/runtime_predictor.py --spaces nb201 --precisions fp32 --threads 1

Prints one table row per setting and predictor: Spearman, MAPE and the share within 10 %.
The files, kernel profiles and stores stay under --out, so a second run resumes.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from devices import local_device
from hwnas.core.spaces import create_space
from hwnas.jobs.profile import ProfileConfig, profile_archs
from hwnas.methods.predictor import adapt_model, fit_model, load_table
from hwnas.methods.runtime_predictor import KernelProfiler, RuntimePredictor, choose_samples
from predictors import mape, spearman, within
from profilers import MeasurementStore, OnnxRuntime, run_campaign
from profilers.rounds import RoundsConfig
from profilers.timing import TimingConfig


def draw(space_name: str, pool: int, test: int, seed: int) -> tuple[list, list, list]:
    """The 10 references, ``pool`` candidates and ``test`` held-out networks, all distinct."""
    archs = profile_archs(ProfileConfig(space=space_name, samples=pool + test, seed=seed))
    return archs[:10], archs[10 : 10 + pool], archs[10 + pool :]


def time_networks(profiler, archs, store_path: Path, timing: TimingConfig) -> dict[str, float]:
    """Median latency (ms) of each network with the profile's rounds and probe."""
    items = [(str(a), lambda a=a: profiler.onnx_path(a)) for a in archs]
    with MeasurementStore(store_path) as store:
        run_campaign(
            items,
            store,
            profiler.runtime,
            local_device(),
            timing=timing,
            precision=profiler.precision,
            rounds=RoundsConfig(),
        )
        return {
            m.key: m.latency.median_ms for m in store.measurements(precision=profiler.precision)
        }


def score(truth: np.ndarray, predicted: np.ndarray, rank_only: bool = False) -> str:
    rho = spearman(truth, predicted)
    if rank_only:
        return f"{rho:8.3f} {'':>8} {'':>10}"
    return (
        f"{rho:8.3f} {100 * mape(truth, predicted):7.1f}% "
        f"{100 * within(truth, predicted, 0.10):9.0f}%"
    )


def run_setting(args, space_name: str, precision: str, threads: int, meta) -> list[str]:
    started = time.perf_counter()
    space = create_space(space_name)
    refs, pool, test = draw(space_name, args.pool, args.test, args.seed)
    runtime = OnnxRuntime(intra_op_threads=threads)
    folder = args.out / space_name
    profiler = KernelProfiler(space_name, folder, runtime, precision)
    table = profiler.table(refs + pool, runs=args.kernel_runs)
    kernel_s = time.perf_counter() - started
    known = list(range(10))
    scout = RuntimePredictor(profiler, table)
    pool_features = scout.features(refs + pool)
    chosen = [pool[i - 10] for i in choose_samples(pool_features, known, 10, args.seed)]
    rng = np.random.default_rng(args.seed)
    random = [pool[i] for i in rng.permutation(len(pool))[:10]]
    timing = TimingConfig(max_runs=1000, max_time_s=args.max_time_s)
    store = folder / f"store-{profiler.setting}.sqlite"
    latency = time_networks(profiler, refs + random + chosen + test, store, timing)
    truth = np.array([latency[str(a)] for a in test])

    prior = None
    if meta is not None:
        adapted = adapt_model(meta, {str(a): latency[str(a)] for a in refs}, "this-vm", 0)
        prior = adapted.predict
    rows = [("MACs alone (rank only)", space.network_costs(test)[1], True)]
    if prior is not None:
        rows.append(("MetaPredictor zero-shot (10 refs)", prior(test), False))
    ks = RuntimePredictor(profiler, table, model="linear")
    test_features = ks.features(test)
    ref_features = ks.features(refs)
    slope = np.sum(ref_features[:, 0] * [latency[str(a)] for a in refs]) / np.sum(
        ref_features[:, 0] ** 2
    )
    rows.append(("kernel sum, scaled on the 10 refs", slope * test_features[:, 0], False))
    chosen_as = {}
    for label, extra in (("10 + 10 random", random), ("10 + 10 chosen", chosen)):
        predictor = RuntimePredictor(profiler, table, prior=prior)
        predictor.fit(refs + extra, [latency[str(a)] for a in refs + extra])
        test_x = test_features.copy()
        if prior is not None:
            test_x[:, 1] = prior(test)
        rows.append((f"runtime predictor, {label}", predictor.predict(test, test_x), False))
        chosen_as[label] = predictor.chosen
    seconds = time.perf_counter() - started
    head = (
        f"{space_name} {precision} threads {threads}: {len(test)} held-out networks "
        f"{truth.min():.3g}-{truth.max():.3g} ms; kernel table {len(table)} kernels from "
        f"{len(refs) + len(pool)} networks in {kernel_s:.0f} s; setting {seconds:.0f} s; "
        f"cross-validation chose {chosen_as}"
    )
    lines = [head]
    for name, predicted, rank_only in rows:
        cells = " | ".join(score(truth, np.asarray(predicted), rank_only).split())
        lines.append(f"| {space_name} | {precision} | {threads} | {name} | {cells} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default="nb201,fbnet")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--threads", default=f"1,{len(os.sched_getaffinity(0))}")
    parser.add_argument("--pool", type=int, default=40, help="candidates to choose from")
    parser.add_argument("--test", type=int, default=50, help="held-out networks")
    parser.add_argument("--kernel-runs", type=int, default=20)
    parser.add_argument("--max-time-s", type=float, default=1.0, help="timing per network")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-prior", action="store_true", help="skip the MetaPredictor")
    parser.add_argument("--out", type=Path, default=Path("hwnas-runs/bench-runtime-predictor"))
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    out = []
    for space_name in args.spaces.split(","):
        meta = None
        if not args.no_prior:
            started = time.perf_counter()
            meta = fit_model(space_name, load_table(space_name))
            print(f"{space_name}: MetaPredictor fitted in {time.perf_counter() - started:.0f} s")
        for precision in args.precisions.split(","):
            for threads in sorted({int(t) for t in args.threads.split(",")}):
                lines = run_setting(args, space_name, precision, threads, meta)
                print("\n".join(lines), flush=True)
                out += lines
    print()
    print("| space | precision | threads | predictor | Spearman | MAPE | within 10 % |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(line for line in out if line.startswith("|")))
    print("\n".join(line for line in out if not line.startswith("|")))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
