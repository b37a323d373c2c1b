"""Two campaigns of the same NB201 cells on this CPU: do they rank the cells the same way?

Exports the cells once (the 10 reference cells, then random ones), runs two complete campaigns
one after the other into two stores with the profile job's timing method, and prints the
Spearman and Kendall rank correlations of the two runs' median latencies (goal: Spearman >=
0.98) and how far the medians moved.

    python benchmarks/campaign_repeatability.py --cells 50 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def export_cells(cells: int, workdir: Path, exporter: str) -> list[tuple[str, Path]]:
    """Export the cells a profile with ``cells - 10`` samples times; reuse files already there."""
    from hwnas.core.export import OnnxExport, export_onnx
    from hwnas.core.spaces.nb201 import NB201Space
    from hwnas.jobs import ProfileConfig, profile_archs

    space = NB201Space()
    items = []
    for arch in profile_archs(ProfileConfig(samples=max(cells - 10, 0)))[:cells]:
        path = workdir / f"nb201_{arch.index:05d}.onnx"
        if not path.exists():
            export_onnx(space.build(arch), space.input_shape, path, OnnxExport(exporter=exporter))
        items.append((str(arch), path))
    return items


def campaign(items, store_path: Path, threads: int, max_time_s: float) -> dict[str, float]:
    """Time every cell into a fresh store; return the median latency of each."""
    from devices import local_device
    from profilers import MeasurementStore, create_runtime, run_campaign
    from profilers.timing import default_timing

    store_path.unlink(missing_ok=True)
    timing = default_timing()
    timing = type(timing)(**{**timing.to_dict(), "max_time_s": max_time_s})
    runtime = create_runtime("onnxruntime", intra_op_threads=threads)
    device = local_device()
    with MeasurementStore(store_path) as store:
        result = run_campaign(items, store, runtime, device, timing=timing)
        if result.failed:
            raise SystemExit(f"cells failed: {result.failed}")
        rows = store.measurements()
    unstable = sum(m.latency.cov > 0.025 for m in rows)
    stops = statistics.multimode(m.latency.stop_reason for m in rows)
    print(f"  {len(rows)} cells, {unstable} with CoV > 2.5 %, most common stop: {stops}")
    return {m.key: m.latency.median_ms for m in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--max-time-s", type=float, default=2.0, help="time cap per cell")
    parser.add_argument("--exporter", default="auto", choices=("auto", "dynamo", "legacy"))
    parser.add_argument("--workdir", type=Path, default=Path("hwnas-runs/repeatability"))
    args = parser.parse_args()

    import logging

    from scipy.stats import kendalltau, spearmanr

    # Each cell's CoV is counted below; the per-cell "unstable" warnings would drown the output.
    logging.getLogger("profilers").setLevel(logging.ERROR)
    args.workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    items = export_cells(args.cells, args.workdir / "onnx", args.exporter)
    print(f"exported {len(items)} cells in {time.perf_counter() - start:.0f} s")
    runs = []
    for name in ("a", "b"):
        start = time.perf_counter()
        print(f"campaign {name}:")
        runs.append(campaign(items, args.workdir / f"{name}.sqlite", args.threads, args.max_time_s))
        print(f"  took {time.perf_counter() - start:.0f} s")
    keys = [key for key, _ in items]
    a = [runs[0][k] for k in keys]
    b = [runs[1][k] for k in keys]
    moved = sorted(abs(x - y) / x for x, y in zip(a, b))
    print(f"latency range: {min(a):.3f} .. {max(a):.3f} ms (campaign a)")
    print(f"Spearman {spearmanr(a, b).statistic:.4f} (goal >= 0.98), "
          f"Kendall {kendalltau(a, b).statistic:.4f}")  # fmt: skip
    print(
        f"|median b - median a| / median a: median {statistics.median(moved):.1%}, "
        f"max {moved[-1]:.1%}"
    )


if __name__ == "__main__":
    main()
