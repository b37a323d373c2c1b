"""Why one file has two speeds: 20 fresh sessions of one file, and where their spread comes from.

Part 1, as the profile reports them: one shipped-style file (an NB201 cell as `hwnas run`
ships it for 8x8 digits, or `--onnx FILE`) timed in 20 rounds of one campaign
(`profilers.verify.time_like_profile`: each round a fresh ONNX Runtime session beside the
disturbance probe, scaled to the speed anchor), printing each round's raw and anchored median
and how many are within 5 % of their median.

Part 2, what a session's settings change: 20 fresh sessions (100 warm-up runs, median of 500)
for each of the default session, no CPU memory arena, no memory pattern, denormals as zero,
no thread spinning, pinned to one CPU, and a 64-byte-aligned input, interleaved (session i of
every variant before session i + 1 of any, so a slow phase of the machine falls on all of
them alike). Beside each session, the probe's window median: the share of the spread that
follows the machine rather than the session.

    python benchmarks/session_spread.py [--onnx FILE] [--sessions 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def shipped_like_file(folder: Path) -> Path:
    """An NB201 cell as `hwnas run` ships it for 8x8 digits (1x8x8 input, 16 channels)."""
    from hwnas.core.export import OnnxExport, export_onnx
    from hwnas.jobs.profile_setting import NetworkSetting

    setting = NetworkSetting((1, 8, 8), 10, {"channels": 16, "cells_per_stage": 1})
    network, shape = setting.build("nb201", ARCH)
    path = folder / "cell.onnx"
    export_onnx(network, shape, path, OnnxExport(exporter="legacy"))
    return path


def within(values, rel: float = 0.05) -> int:
    """How many values are within ``rel`` of their median."""
    m = statistics.median(values)
    return sum(abs(v / m - 1) <= rel for v in values)


def as_profiled(path: Path, sessions: int, folder: Path) -> None:
    from devices import local_device
    from profilers import create_runtime
    from profilers.rounds import RoundsConfig
    from profilers.speed import SpeedAnchors
    from profilers.timing import default_timing
    from profilers.verify import time_like_profile

    timing = default_timing()
    rounds = RoundsConfig(rounds=sessions, max_rounds=2 * sessions)  # disturbed ones again
    timed = time_like_profile(
        [("file", path)],
        1e6,
        store_path=folder / "m.sqlite",
        runtime=create_runtime("onnxruntime", intra_op_threads=1),
        device=local_device(),
        timing=timing,
        rounds=rounds,
        anchors=SpeedAnchors(os.environ.get("HWNAS_SPEED_ANCHORS") or folder / "anchors.json"),
    )["file"]
    raw = list(timed.raw_verdict.round_medians_ms)
    anchored = list(timed.verdict.round_medians_ms)
    from profilers import MeasurementStore

    with MeasurementStore(folder / "m.sqlite") as store:
        every = store.rounds(timed.key)
    print(
        f"part 1: fresh sessions as the profile times a cell ({path.name}): {len(every)} timed, "
        f"{sum(r.disturbed for r in every)} disturbed (too few runs between quiet looks of "
        f"the probe), {len(raw)} kept"
    )
    for name, values in (("raw", raw), ("anchored", anchored)):
        print(
            f"  {name:<9} median {statistics.median(values):.4f} ms, range "
            f"{min(values):.4f}-{max(values):.4f}, within 5 %: {within(values)}/{len(values)}"
        )
    print(f"  (rounds kept: {len(raw)}; speed factor {timed.speed_factor:.3f})")


def _options(ort, **settings):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    for key, value in settings.items():
        if key.startswith("config:"):
            options.add_session_config_entry(key[len("config:") :], value)
        else:
            setattr(options, key, value)
    return options


VARIANTS = {
    "default": {},
    "no memory arena": {"enable_cpu_mem_arena": False},
    "no memory pattern": {"enable_mem_pattern": False},
    "denormals as zero": {"config:session.set_denormal_as_zero": "1"},
    "no spinning": {"config:session.intra_op.allow_spinning": "0"},
    "pinned to CPU 0": {"pin": 0},
    "aligned input": {"aligned": True},
}


def _aligned(x: np.ndarray, alignment: int = 64) -> np.ndarray:
    buffer = np.empty(x.nbytes + alignment, dtype=np.uint8)
    offset = (-buffer.ctypes.data) % alignment
    out = buffer[offset : offset + x.nbytes].view(x.dtype).reshape(x.shape)
    out[...] = x
    return out


def variants(path: Path, sessions: int, runs: int = 500) -> None:
    import onnxruntime as ort

    from profilers.probe import open_probe

    probe = open_probe(__import__("profilers").create_runtime("onnxruntime", intra_op_threads=1))
    probe.calibrate()
    results = {name: [] for name in VARIANTS}
    probes = {name: [] for name in VARIANTS}
    everywhere = os.sched_getaffinity(0)
    x = None
    for _ in range(sessions):
        for name, settings in VARIANTS.items():
            settings = dict(settings)
            pin = settings.pop("pin", None)
            aligned = settings.pop("aligned", False)
            if pin is not None:
                os.sched_setaffinity(0, {pin})
            try:
                session = ort.InferenceSession(
                    str(path),
                    sess_options=_options(ort, **settings),
                    providers=["CPUExecutionProvider"],
                )
                node = session.get_inputs()[0]
                if x is None:
                    shape = [d if isinstance(d, int) else 1 for d in node.shape]
                    x = np.random.default_rng(0).random(shape, dtype=np.float32)
                feed = {node.name: _aligned(x) if aligned else x.copy()}
                for _ in range(100):
                    session.run(None, feed)
                times = []
                for _ in range(runs):
                    start = time.perf_counter_ns()
                    session.run(None, feed)
                    times.append(time.perf_counter_ns() - start)
                results[name].append(statistics.median(times) / 1e6)
                probes[name].append(probe.window_ms())
                del session
            finally:
                os.sched_setaffinity(0, everywhere)
    probe.close()
    print(f"part 2: {sessions} fresh sessions per variant, interleaved (median of {runs} runs)")
    print("| variant | median ms | range ms | within 5 % | correlation with the probe |")
    print("|---|---:|---:|---:|---:|")
    for name, values in results.items():
        corr = float(np.corrcoef(values, probes[name])[0, 1]) if len(values) > 2 else float("nan")
        print(
            f"| {name} | {statistics.median(values):.4f} | {min(values):.4f}-{max(values):.4f} | "
            f"{within(values)}/{len(values)} | {corr:.2f} |"
        )
    every = [p for values in probes.values() for p in values]
    print(
        f"probe windows meanwhile: median {statistics.median(every):.4f} ms, range "
        f"{min(every):.4f}-{max(every):.4f}, within 5 %: {within(every)}/{len(every)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, help="the file (default: an 8x8 NB201 cell)")
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    print(f"session_spread: load average {os.getloadavg()[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = args.onnx or shipped_like_file(folder)
        as_profiled(path, args.sessions, folder)
        variants(path, args.sessions)


if __name__ == "__main__":
    main()
