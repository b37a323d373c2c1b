"""Is a latency taken here stable over minutes, with one ONNX Runtime thread and with every core?

On a shared VM a neighbour can hold a core for seconds to minutes; a multi-threaded session
then runs at up to half speed, with a low spread inside the timing window, so no stopping
rule notices. This script exports one NB201 cell, then for --seconds alternates windows of
--runs timed runs with 1 intra-op thread and with every usable core (sessions kept open,
10 warm-up runs per window), and prints for each the lowest, median and highest window
median and how many windows are more than 25 % above the lowest.

    python benchmarks/timing_stability.py --seconds 180
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CELL = (
    "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|"
    "+|skip_connect~0|skip_connect~1|nor_conv_1x1~2|"
)


def main() -> None:
    from devices.fingerprint import usable_cores
    from hwnas.core.export import export_onnx
    from hwnas.core.spaces.nb201 import NB201Space, parse_arch
    from profilers import create_runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--runs", type=int, default=150, help="timed runs per window")
    args = parser.parse_args()

    space = NB201Space()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cell.onnx"
        export_onnx(space.build(parse_arch(CELL)), space.input_shape, path)
        threads = sorted({1, usable_cores()})
        sessions = {
            t: create_runtime("onnxruntime", intra_op_threads=t).load(path) for t in threads
        }
        windows: dict[int, list[float]] = {t: [] for t in threads}
        try:
            runs = {t: s.prepare(s.random_inputs(1, seed=0)) for t, s in sessions.items()}
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                for t, run in runs.items():
                    for _ in range(10):
                        run()
                    samples = []
                    for _ in range(args.runs):
                        start = time.perf_counter_ns()
                        run()
                        samples.append(time.perf_counter_ns() - start)
                    windows[t].append(statistics.median(samples) / 1e6)
        finally:
            for session in sessions.values():
                session.close()
    print(f"cell {CELL}; {len(windows[threads[0]])} windows of {args.runs} runs per setting")
    print("threads  lowest   median   highest  windows > 1.25 x lowest")
    for t, values in windows.items():
        low = min(values)
        off = sum(v > 1.25 * low for v in values)
        print(
            f"{t:7d}  {low:.3f}    {statistics.median(values):.3f}    {max(values):.3f}    "
            f"{off} of {len(values)}"
        )


if __name__ == "__main__":
    main()
