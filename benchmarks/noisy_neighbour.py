"""Does a profile give the same answer twice on a shared machine, and beside a CPU hog?

The same 24 NB201 cells (the 10 references and 14 random ones, seed 5) are profiled three
times by each method: quiet, quiet again, and with a one-core CPU hog (a busy Python loop in
another process) running for about the first half of the campaign. Methods:

- before: one timing window per cell (``profile_onnx`` with the profile's timing, up to 2 s),
  ONNX Runtime at every usable core: what ``hwnas profile`` did before rounds.
- after: ``hwnas profile``'s defaults now: rounds spread over the campaign, one thread, the
  disturbance probe, re-timed disturbed rounds, latencies scaled to the machine setting's
  speed anchor (``profilers.run_campaign``, ``profilers.speed``; the anchor is set by the
  first quiet profile, in a fresh anchors file of this run). The same stores give the
  "after, raw" rows: each cell's median over its undisturbed rounds, unscaled (what
  ``--no-speed-anchor`` reports).

For each pair it prints Spearman's rank correlation, the median absolute deviation of the
latencies and the cells off by more than 25 %, as in issue 18's table; for the hogged run of
"after", how many rounds were marked disturbed in the store (and how many of them ran while
the hog did), and the cells flagged unstable. The ONNX files are exported once (``--exporter``,
default legacy: the fastest, the same files for both methods).

    python benchmarks/noisy_neighbour.py              # about 8 minutes on 2 cores
    python benchmarks/noisy_neighbour.py --before-threads 0,1   # also the 1-thread rows
    python benchmarks/noisy_neighbour.py --repeat 12   # then 12 quiet profiles back to back

``--repeat N`` then profiles the cells N more times, quiet, by the "after" method (the same
anchors file), and prints over every pair of those profiles the median absolute deviation,
raw and scaled to the speed anchor: its median and worst pair, the share of pairs above 3 %,
and the worst cell.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from devices import local_device
from hwnas.core.export import OnnxExport, export_onnx
from hwnas.core.spaces import create_space
from hwnas.jobs.profile import PROFILE_THREADS, ProfileConfig, profile_archs
from profilers import MeasurementStore, OnnxRuntime, profile_onnx, run_campaign
from profilers.rounds import RoundsConfig, summarize_rounds
from profilers.speed import SpeedAnchors
from profilers.timing import default_timing

OFF = 0.25


class Hog:
    """A one-core CPU hog in another process, for ``seconds`` from ``start()``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.proc: subprocess.Popen | None = None
        self.started = self.stopped = ""

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        threading.Timer(self.seconds, self.stop).start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.stopped = datetime.now(timezone.utc).isoformat(timespec="seconds")


def export_cells(
    folder: Path, exporter: str, cells: int = 24, samples: int = 14
) -> list[tuple[str, Path]]:
    """Export the first ``cells`` of the references and ``samples`` random cells (seed 5).

    Returns ``(key, path)`` in order; each file is exported once.
    """
    space = create_space("nb201")
    items = []
    for arch in profile_archs(ProfileConfig(samples=samples, seed=5))[:cells]:
        path = folder / f"nb201_{arch.index:05d}.onnx"
        export_onnx(space.build(arch), space.input_shape, path, OnnxExport(exporter=exporter))
        items.append((str(arch), path))
    return items


def profile_before(items, threads: int | None) -> dict[str, float]:
    """One window per cell, as profiles were timed before rounds."""
    runtime = OnnxRuntime(intra_op_threads=threads)
    return {key: profile_onnx(path, runtime, default_timing())[0].median_ms for key, path in items}


def profile_after(
    items, store_path: Path, rounds: RoundsConfig, anchors: SpeedAnchors | None = None
):
    """The profile's defaults now (rounds, one thread, probe, speed anchor): latencies, summary."""
    with MeasurementStore(store_path) as store:
        result = run_campaign(
            items,
            store,
            OnnxRuntime(intra_op_threads=PROFILE_THREADS),
            local_device(),
            timing=default_timing(),
            rounds=rounds,
            notice=lambda line: print(f"    notice: {line}", flush=True),
            anchors=anchors,
        )
        latency = {m.key: m.latency.median_ms for m in store.measurements()}
    return latency, result.summary


def raw_latencies(store_path: Path) -> dict[str, float]:
    """Each cell's latency from its rounds as timed (``summarize_rounds``, not scaled)."""
    with MeasurementStore(store_path, create=False) as store:
        rounds = store.rounds()
    by_key: dict[str, list] = {}
    for record in rounds:
        by_key.setdefault(record.key, []).append(record)
    return {
        key: summarize_rounds([r.latency for r in recs], [r.disturbed for r in recs])[0].median_ms
        for key, recs in by_key.items()
    }


def compare(a: dict[str, float], b: dict[str, float]) -> tuple[float, float, int, float]:
    """Spearman, median absolute deviation (relative to ``a``), cells off by > 25 %, worst x."""
    keys = list(a)
    x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    ratio = np.maximum(y / x, x / y)
    return (
        float(spearmanr(x, y).statistic),
        float(np.median(np.abs(y - x) / x)),
        int((ratio > 1 + OFF).sum()),
        float(ratio.max()),
    )


def timed(label: str, fn, hog: Hog | None = None):
    print(f"  {label} ...", flush=True)
    if hog is not None:
        hog.start()
    start = time.perf_counter()
    try:
        out = fn()
    finally:
        if hog is not None:
            hog.stop()
    seconds = time.perf_counter() - start
    print(f"  {label}: {seconds:.0f} s", flush=True)
    return out, seconds


def disturbed_rounds(store_path: Path, hog: Hog) -> tuple[int, int, int]:
    """Rounds in the store, those marked disturbed, and those of them timed while the hog ran."""
    with MeasurementStore(store_path, create=False) as store:
        rounds = store.rounds()
    marked = [r for r in rounds if r.disturbed]
    during = [r for r in marked if hog.started <= r.created_at <= (hog.stopped or "~")]
    return len(rounds), len(marked), len(during)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", default="legacy", choices=("auto", "dynamo", "legacy"))
    parser.add_argument(
        "--before-threads",
        default="0",
        help="thread counts of the 'before' method, comma-separated; 0 = every usable core",
    )
    parser.add_argument("--rounds", type=int, default=RoundsConfig().rounds)
    parser.add_argument("--cells", type=int, default=24, help="the first N cells (a quick try)")
    parser.add_argument(
        "--repeat", type=int, default=0, help="quiet profiles back to back after the table"
    )
    args = parser.parse_args()
    rounds = RoundsConfig(rounds=args.rounds, max_rounds=max(9, 2 * args.rounds - 1))
    print(f"load average before: {os.getloadavg()}; usable cores: {len(os.sched_getaffinity(0))}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="noisy-neighbour-") as tmp:
        folder = Path(tmp)
        export = lambda: export_cells(folder, args.exporter, args.cells)  # noqa: E731
        items, seconds = timed(f"export {args.cells} cells", export)
        for threads in [int(t) or None for t in args.before_threads.split(",")]:
            name = f"before, threads {threads or os.cpu_count()} (one window per cell)"
            print(name, flush=True)
            quiet, wall = timed("quiet", lambda t=threads: profile_before(items, t))
            again, _ = timed("quiet again", lambda t=threads: profile_before(items, t))
            hog = Hog(wall / 2)
            hogged, _ = timed("one-core hog", lambda t=threads: profile_before(items, t), hog)
            rows.append((name, "quiet vs quiet", compare(quiet, again)))
            rows.append((name, "quiet vs hog for half", compare(quiet, hogged)))
        name = f"after, defaults: {rounds.rounds} rounds, threads {PROFILE_THREADS}, probe"
        print(name, flush=True)

        anchors = SpeedAnchors(folder / "speed-anchors.json")

        def after(store: str):
            return profile_after(items, folder / store, rounds, anchors)

        (quiet, s1), wall = timed("quiet", lambda: after("q1.sqlite"))
        (again, s2), _ = timed("quiet again", lambda: after("q2.sqlite"))
        hog = Hog(wall / 2)
        (hogged, s3), _ = timed("one-core hog", lambda: after("h.sqlite"), hog)
        raw = [raw_latencies(folder / s) for s in ("q1.sqlite", "q2.sqlite", "h.sqlite")]
        rows.append((f"{name}, raw", "quiet vs quiet", compare(raw[0], raw[1])))
        rows.append((f"{name}, raw", "quiet vs hog for half", compare(raw[0], raw[2])))
        name += ", speed anchor"
        rows.append((name, "quiet vs quiet", compare(quiet, again)))
        rows.append((name, "quiet vs hog for half", compare(quiet, hogged)))
        total, marked, during = disturbed_rounds(folder / "h.sqlite", hog)
        repeats = []
        for i in range(args.repeat):
            store = f"r{i}.sqlite"
            (latency, _), _ = timed(
                f"quiet profile {i + 1} of {args.repeat}", lambda s=store: after(s)
            )
            repeats.append((raw_latencies(folder / store), latency))
    print()
    print("| method | runs compared | Spearman | median abs. deviation | cells off by > 25 % |")
    print("|---|---|---|---|---|")
    for name, pair, (rho, mad, off, worst) in rows:
        off_text = f"{off} of {len(items)} (max {worst:.2f}x)"
        print(f"| {name} | {pair} | {rho:.3f} | {100 * mad:.1f} % | {off_text} |")
    print()
    for label, summary in (("quiet", s1), ("quiet again", s2), ("hogged", s3)):
        print(f"after, {label}: " + " | ".join(summary.lines()))
    print(
        f"hogged run: {marked} of {total} rounds marked disturbed in the store, {during} of them "
        f"timed while the hog ran ({hog.started} to {hog.stopped})"
    )
    if len(repeats) > 1:
        print(f"\n{len(repeats)} quiet profiles back to back, every pair of them:")
        for label, index in (("raw", 0), ("speed anchor", 1)):
            pairs = [compare(a[index], b[index]) for a, b in itertools.combinations(repeats, 2)]
            mads = np.array([mad for _, mad, _, _ in pairs]) * 100
            print(
                f"  {label}: median abs. deviation median {np.median(mads):.1f} %, worst pair "
                f"{mads.max():.1f} %, {np.mean(mads > 3):.0%} of {len(pairs)} pairs above 3 %; "
                f"Spearman min {min(p[0] for p in pairs):.3f}; worst cell "
                f"{max(p[3] for p in pairs):.2f}x"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
