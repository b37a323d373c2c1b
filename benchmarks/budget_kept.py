"""Is the budget kept by the file that ships? `hwnas run` for 10 budgets over one profile.

Through the CLI a user runs: one `hwnas run` profiles this machine into a shared store (the
40 cells as they ship for the data), then for 10 budgets spread over the profiled cells'
latencies (geometrically, from their 10th percentile or the lowest budget any cell's 90 %
bound can meet, whichever is higher, to their 90th), `hwnas run --latency-budget-ms X
--store S` chooses a cell, trains it for a few epochs, exports fp32 and int8, and times the
files as the profile timed the cells, trying up to `--attempts` cells. Per budget it prints
the first choice's measured/predicted ratio, the attempts used, the final verdict, the exit
status and the fp32 file's top-1; then the total: budgets kept, and the median and p90 of the
first-choice ratio.

Two settings: `digits` at 8x8, and 3x32x32 (`npz:` data made here from digits, each image
resized to 32x32 and repeated on 3 channels: real images, a larger network input).

    python benchmarks/budget_kept.py --out /tmp/budget_kept [--setting digits|rgb32|both]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def hwnas_command() -> list[str]:
    """The `hwnas` of this Python (the venv's console script where there is one)."""
    script = Path(sys.executable).with_name("hwnas")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hwnas"]


def rgb32_npz(path: Path) -> Path:
    """Digits as 3x32x32 images (bilinear resize, grey repeated on 3 channels), float32 [0, 1]."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    x = x.repeat(1, 3, 1, 1).clamp(0, 1).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=digits.target.astype(np.int64))
    return path


def run(args: list[str], log: Path) -> int:
    """One `hwnas run`, its output to `log`; returns the exit status."""
    with log.open("w") as out:
        done = subprocess.run([*hwnas_command(), "run", *args], stdout=out, stderr=out)
    return done.returncode


def setting(name: str, data: str, out: Path, budgets: int, epochs: int, attempts: int) -> dict:
    """Profile once, then `budgets` budgets; print one row each and the totals."""
    out.mkdir(parents=True, exist_ok=True)
    store = out / "measurements.sqlite"
    common = ["--data", data, "--store", str(store), "--epochs", str(epochs), "--force"]
    started = time.perf_counter()
    status = run([*common, "--out", str(out / "profile"), "--attempts", "1"], out / "profile.log")
    profiled = json.loads((out / "profile" / "summary.json").read_text())
    latencies = _profiled_latencies(out / "profile" / "latency_ms.csv")
    print(
        f"\n== {name} ({data}): profiled {len(latencies)} cells in "
        f"{time.perf_counter() - started:.0f} s (exit {status}); latencies "
        f"{min(latencies):.3f}-{max(latencies):.3f} ms; network {profiled['network']}",
        flush=True,
    )
    low = max(float(np.quantile(latencies, 0.1)), 1.02 * fastest_bound(out / "profile"))
    high = float(np.quantile(latencies, 0.9))
    levels = np.geomspace(low, max(high, 1.5 * low), budgets)
    print(
        "| budget ms | first: predicted | measured | ratio | attempts | final verdict | exit | "
        "fp32 top-1 | shipped cell |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|---|")
    rows = []
    for i, budget in enumerate(levels):
        folder = out / f"budget{i:02d}"
        status = run(
            [
                *common,
                "--out",
                str(folder),
                "--latency-budget-ms",
                f"{budget:.4f}",
                "--attempts",
                str(attempts),
            ],
            out / f"budget{i:02d}.log",
        )
        summary_path = folder / "summary.json"
        if not summary_path.exists():
            tail = (out / f"budget{i:02d}.log").read_text().strip().splitlines()[-1:]
            print(f"| {budget:.4f} | - | - | - | - | none | {status} | - | {tail} |", flush=True)
            rows.append({"budget": budget, "kept": False, "ratio": None, "exit": status})
            continue
        summary = json.loads(summary_path.read_text())
        first = summary["attempts"][0]
        shipped = next(a for a in summary["attempts"] if a["shipped"])
        ratio = (
            None
            if first["measured_latency_ms"] is None
            else first["measured_latency_ms"] / first["predicted_latency_ms"]
        )
        rows.append({"budget": budget, "kept": shipped["verdict"] == "yes", "ratio": ratio})
        rows[-1]["exit"] = status
        print(
            f"| {budget:.4f} | {first['predicted_latency_ms']:.4f} | "
            f"{_f(first['measured_latency_ms'])} | {_f(ratio, '.2f')} | "
            f"{len(summary['attempts'])} | {shipped['verdict']} "
            f"({_f(shipped['measured_latency_ms'])} ms) | {status} | "
            f"{_f(shipped['top1_percent'], '.2f')} % | {shipped['arch']} |",
            flush=True,
        )
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    kept = sum(r["kept"] for r in rows)
    p90 = float(np.quantile(ratios, 0.9)) if ratios else float("nan")
    median = statistics.median(ratios) if ratios else float("nan")
    print(
        f"{name}: {kept} of {len(rows)} budgets kept (verdict yes); first choice measured/"
        f"predicted: median {median:.2f}, p90 {p90:.2f} over {len(ratios)}; "
        f"{time.perf_counter() - started:.0f} s in all",
        flush=True,
    )
    return {"setting": name, "kept": kept, "budgets": len(rows), "median": median, "p90": p90}


def fastest_bound(folder: Path, confidence: float = 0.9) -> float:
    """The lowest 90 % latency bound of any NB201 cell, as `hwnas run` fits it.

    No budget below it can be answered (the run says so and exits 2).
    """
    sys.path.insert(0, str(ROOT))
    from hwnas.core.spaces.nb201 import all_codes, encode_codes
    from hwnas.jobs.generate import fit_latency_predictor, read_latency_csv

    predictor = fit_latency_predictor(read_latency_csv(folder / "latency_ms.csv"))
    factor = predictor.bound_factor(confidence)
    return float(predictor.predict(encode_codes(all_codes())).min() * factor)


def _profiled_latencies(csv_path: Path) -> list[float]:
    import csv

    with csv_path.open() as f:
        return [float(row["latency_ms"]) for row in csv.DictReader(f)]


def _f(value, spec: str = ".4f") -> str:
    return "n/a" if value is None else f"{value:{spec}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/hwnas_budget_kept"))
    parser.add_argument("--setting", choices=("digits", "rgb32", "both"), default="both")
    parser.add_argument("--budgets", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--attempts", type=int, default=3)
    args = parser.parse_args()
    print(
        f"budget_kept: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    results = []
    if args.setting in ("digits", "both"):
        results.append(
            setting(
                "digits 8x8",
                "digits",
                args.out / "digits",
                args.budgets,
                args.epochs,
                args.attempts,
            )
        )
    if args.setting in ("rgb32", "both"):
        data = f"npz:{rgb32_npz(args.out / 'rgb32' / 'digits_3x32x32.npz')}"
        results.append(
            setting("3x32x32", data, args.out / "rgb32", args.budgets, args.epochs, args.attempts)
        )
    print("\n== totals")
    for r in results:
        print(
            f"{r['setting']}: {r['kept']}/{r['budgets']} kept; first-choice ratio median "
            f"{r['median']:.2f}, p90 {r['p90']:.2f}"
        )


if __name__ == "__main__":
    main()
