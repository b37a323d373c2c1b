"""How well the per-device latency predictor of `hwnas generate` ranks and bounds latencies.

Two parts, each printing a table:

* `tables`: on the shipped NB201 latency table (13 real device settings), fit on the 10
  reference cells plus random cells (n in total), test on every other cell. Compares the count
  encoding that hwnas uses with the one-hot edge encoding, and reports how often the true
  latency stays below the 90 % conformal bound.
* `local`: on this machine, profile the reference cells plus --samples random cells with ONNX
  Runtime (the main job's profile), then measure --held-out other random cells and compare
  them with the predictions, of hwnas's predictor (feature set chosen by cross-validation)
  and of one on all 10 count features side by side; then each picks the most accurate cell
  within a budget (the median training latency), and both choices are measured.

    python benchmarks/latency_predictor.py --part tables
    python benchmarks/latency_predictor.py --part local --out hwnas-runs/bench-local
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hwnas.core.spaces.nb201 import NB201Arch, NB201Space, all_codes, encode, encode_codes, one_hot
from hwnas.core.tables import load_latency_table, reference_indices
from hwnas.jobs import ProfileConfig, profile_archs, profile_device
from hwnas.jobs.generate import FEATURE_SETS, fit_latency_predictor, generate_for_budget
from predictors import LatencyRegressor, mape, spearman, within


def _summary(truth: np.ndarray, predicted: np.ndarray, bound: np.ndarray) -> tuple:
    return (
        spearman(truth, predicted),
        mape(truth, predicted),
        within(truth, predicted, 0.10),
        float(np.mean(truth <= bound)),
    )


def part_tables(sizes: tuple[int, ...], seeds: int) -> None:
    table = load_latency_table("nb201")
    refs = np.array(reference_indices("nb201"))
    counts = encode_codes(all_codes())
    edges = one_hot([NB201Arch.from_code(int(c)) for c in all_codes()])
    others = np.setdiff1d(np.arange(len(table)), refs)
    print(
        "device          n  | counts: spearman  mape  within10  cover90 | one-hot: spearman  mape"
    )
    for device in table.columns:
        y = table.column(device)
        for n in sizes:
            rows = {"counts": [], "one-hot": []}
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                train = np.r_[refs, rng.choice(others, n - len(refs), replace=False)]
                test = np.setdiff1d(np.arange(len(table)), train)
                for name, features in (("counts", counts), ("one-hot", edges)):
                    sets = FEATURE_SETS if name == "counts" else None
                    model = LatencyRegressor(feature_sets=sets).fit(features[train], y[train])
                    predicted = model.predict(features[test])
                    bound = model.upper_bound(features[test], 0.9)
                    rows[name].append(_summary(y[test], predicted, bound))
            c = np.mean(rows["counts"], axis=0)
            o = np.mean(rows["one-hot"], axis=0)
            print(
                f"{device:14s} {n:3d}  |        {c[0]:.3f}   {c[1]:.3f}   {c[2]:.3f}    {c[3]:.3f}"
                f"  |          {o[0]:.3f}   {o[1]:.3f}"
            )


def part_local(out: Path, samples: int, held_out: int) -> None:
    from devices import local_device
    from hwnas.core.export import export_onnx
    from profilers import MeasurementStore, create_runtime, run_campaign

    device = local_device()
    config = ProfileConfig(samples=samples)
    start = time.perf_counter()
    profile = profile_device(out / "measurements.sqlite", config, device=device)
    print(f"profiled {len(profile.latency_ms)} cells in {time.perf_counter() - start:.0f} s")

    space = NB201Space()
    seen = set(profile_archs(config))
    rng = np.random.default_rng(12345)
    test_archs: list[NB201Arch] = []
    while len(test_archs) < held_out:
        arch = space.sample(rng)
        if arch not in seen:
            seen.add(arch)
            test_archs.append(arch)

    def exporter(arch: NB201Arch):
        path = out / "held_out" / f"nb201_{arch.index:05d}.onnx"
        return lambda: export_onnx(space.build(arch), space.input_shape, path).path

    runtime = create_runtime("onnxruntime")
    with MeasurementStore(out / "held_out.sqlite") as store:
        run_campaign(
            [(str(a), exporter(a)) for a in test_archs],
            store,
            runtime,
            device,
            timing=config.timing,
        )
        truth = np.array(
            [store.get(str(a), device.name, runtime.name).latency.median_ms for a in test_archs]
        )
    latencies = profile.latency_ms
    train = encode([NB201Arch.from_string(a) for a in latencies])
    targets = np.array(list(latencies.values()))
    models = {
        "all 10 features": LatencyRegressor().fit(train, targets),
        "hwnas (feature set by CV)": fit_latency_predictor(latencies),
    }
    features = encode_codes(np.array([a.code for a in test_archs]))
    budget = float(np.median(targets))
    print(f"device {device.name}; trained on {len(latencies)} cells, tested on {held_out} held-out")
    print(f"budget for the choice: {budget:.3f} ms (median of the training latencies)")
    chosen = {}
    for label, model in models.items():
        predicted = model.predict(features)
        bound = model.upper_bound(features, 0.9)
        rho, err, share, cover = _summary(truth, predicted, bound)
        print(f"{label}: {model.model_}, cv MAPE {model.cv_mape_[model.model_]:.3f}")
        print(
            f"  spearman {rho:.3f}  MAPE {err:.3f}  within +-10% {share:.3f}  "
            f"true <= 90% bound {cover:.3f} (bound factor {model.bound_factor(0.9):.3f})"
        )
        choice = generate_for_budget(latencies, budget, predictor=model).chosen
        chosen[label] = NB201Arch.from_string(choice.arch)
        print(
            f"  chooses {choice.arch} (cifar10 {choice.accuracy:.2f}%), predicted "
            f"{choice.predicted_latency_ms:.3f} ms, bound {choice.latency_bound_ms:.3f} ms"
        )
    with MeasurementStore(out / "held_out.sqlite") as store:
        run_campaign(
            [(str(a), exporter(a)) for a in set(chosen.values())],
            store,
            runtime,
            device,
            timing=config.timing,
        )
        for label, arch in chosen.items():
            measured = store.get(str(arch), device.name, runtime.name).latency.median_ms
            verdict = "within" if measured <= budget else "OVER"
            print(f"  {label}: chosen cell measured {measured:.3f} ms, {verdict} the budget")
    print("arch, measured_ms, predicted_ms (hwnas), bound_ms (hwnas)")
    model = models["hwnas (feature set by CV)"]
    for arch, t, p, b in zip(
        test_archs, truth, model.predict(features), model.upper_bound(features, 0.9)
    ):
        print(f"{arch}, {t:.3f}, {p:.3f}, {b:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("tables", "local", "both"), default="both")
    parser.add_argument("--sizes", type=int, nargs="+", default=[15, 40])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("hwnas-runs/bench-local"))
    args = parser.parse_args()
    if args.part in ("tables", "both"):
        part_tables(tuple(args.sizes), args.seeds)
    if args.part in ("local", "both"):
        part_local(args.out, args.samples, args.held_out)


if __name__ == "__main__":
    main()
