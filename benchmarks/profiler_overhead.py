"""Overhead of hwnas's ONNX Runtime timing against a bare ``session.run`` loop, per NB201 cell.

For each of the 10 NB201 reference cells (the device-embedding architectures): export the
network to ONNX, make one ``onnxruntime.InferenceSession`` with the runtime's options (same
threads, sequential execution, all graph optimisations), and time it in alternation

* **hwnas**: ``profilers.profile_session`` on an ``OnnxSession`` wrapping that very session
  (warm-up by time and count, runs until the median's 95 % CI is within 1 % or a cap), and
* **bare**: the same warm-up, then as many ``session.run(None, feed)`` calls timed with
  ``perf_counter_ns`` as hwnas made, and their median,

over ``--rounds`` rounds in ABBA order (hwnas first in even rounds, bare first in odd ones) so
that slow drifts of the machine cancel. The ratio of a cell is the median over rounds of
``hwnas median / bare median``; the goal is 1.00 +- 0.02. ``best_ratio`` divides the fastest
round's median of each method, the quiet-machine estimate where other load comes in bursts.
On a shared machine the spread of the per-round ratios (min, max) shows the noise: report it
with the ratios.

    python benchmarks/profiler_overhead.py --threads 1 --rounds 7
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from hwnas.core.export import OnnxExport, export_onnx
from hwnas.core.spaces import create_space
from profilers import OnnxRuntime, TimingConfig
from profilers.profile import profile_session
from profilers.runtimes.onnxruntime import OnnxSession


def bare_median_ms(session, feed: dict[str, np.ndarray], timing: TimingConfig, runs: int) -> float:
    """Warm up like ``time_callable``, then time ``runs`` bare calls; return their median."""
    end = time.perf_counter() + timing.warmup_s
    done = 0
    while done < timing.warmup_runs or time.perf_counter() < end:
        session.run(None, feed)
        done += 1
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        session.run(None, feed)
        samples.append(time.perf_counter_ns() - t0)
    return float(np.median(samples)) / 1e6


def measure_cell(path: Path, runtime: OnnxRuntime, timing: TimingConfig, rounds: int) -> dict:
    """Return hwnas and bare medians per round and the median ratio for one ONNX file."""
    import onnxruntime as ort

    bare = ort.InferenceSession(
        str(path), sess_options=runtime.session_options(), providers=list(runtime.providers)
    )
    ours = OnnxSession(path, bare)  # the very same InferenceSession behind our interface
    feed = ours.random_inputs(1, seed=0)
    hwnas_ms, bare_ms, ratios, stops, covs = [], [], [], [], []
    for round_index in range(rounds):
        order = ("hwnas", "bare") if round_index % 2 == 0 else ("bare", "hwnas")
        result: dict[str, float] = {}
        runs = None
        for which in order:
            if which == "hwnas":
                stats, _ = profile_session(ours, timing, batch_size=1, seed=0)
                result["hwnas"], runs = stats.median_ms, stats.n
                stops.append(stats.stop_reason)
                covs.append(stats.cov)
            else:
                n = runs or timing.min_runs * 10
                result["bare"] = bare_median_ms(bare, feed, timing, n)
        hwnas_ms.append(result["hwnas"])
        bare_ms.append(result["bare"])
        ratios.append(result["hwnas"] / result["bare"])
    return {
        "hwnas_ms": statistics.median(hwnas_ms),
        "bare_ms": statistics.median(bare_ms),
        "ratio": statistics.median(ratios),
        "best_ratio": min(hwnas_ms) / min(bare_ms),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "stops": stops,
        "cov": statistics.median(covs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--rounds", type=int, default=7, help="alternations per cell")
    parser.add_argument("--max-time-s", type=float, default=0.5, help="time cap per timing")
    parser.add_argument("--cells", type=int, default=10, help="reference cells to time (<= 10)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the ONNX files here")
    args = parser.parse_args()
    logging.getLogger("profilers.profile").setLevel(logging.ERROR)  # the table shows the CoV

    space = create_space("nb201")
    archs = space.reference_archs()[: args.cells]
    runtime = OnnxRuntime(intra_op_threads=args.threads)
    timing = TimingConfig(max_time_s=args.max_time_s)
    print(f"onnxruntime {runtime.describe()['version']}, {args.threads} intra-op thread(s)")
    print(f"timing {timing.to_dict()}, {args.rounds} ABBA rounds per cell")
    print("cell, hwnas_ms, bare_ms, ratio, ratio_min, ratio_max, best_ratio, cov, stops, arch")
    ratios, best_ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        for arch in archs:
            path = workdir / f"nb201_{arch.index}.onnx"
            if not path.is_file():
                import torch

                torch.manual_seed(0)
                export_onnx(space.build(arch), space.input_shape, path, OnnxExport())
            cell = measure_cell(path, runtime, timing, args.rounds)
            ratios.append(cell["ratio"])
            best_ratios.append(cell["best_ratio"])
            stops = ",".join(sorted(set(cell["stops"])))
            print(
                f"{arch.index}, {cell['hwnas_ms']:.4f}, {cell['bare_ms']:.4f}, "
                f"{cell['ratio']:.4f}, {cell['ratio_min']:.4f}, {cell['ratio_max']:.4f}, "
                f"{cell['best_ratio']:.4f}, {cell['cov']:.4f}, {stops}, {arch}",
                flush=True,
            )
    for name, values in (("ratio", ratios), ("best_ratio", best_ratios)):
        within = sum(abs(r - 1.0) <= 0.02 for r in values)
        worst = max(values, key=lambda r: abs(r - 1.0))
        print(
            f"{name}: median {statistics.median(values):.4f}, worst {worst:.4f}; "
            f"{within}/{len(values)} cells within 2 % (goal: all)"
        )


if __name__ == "__main__":
    main()
