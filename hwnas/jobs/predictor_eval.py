"""Leave-one-device-out evaluation of the MetaPredictor against per-device baselines.

For each device of a table: train the MetaPredictor on the other devices, give it the held-out
device's k samples (its reference architectures, plus k - R random others when k > R), and
score its predictions on every architecture it was not given. The baselines see the same k
samples: scikit-learn regressors fitted on that device alone, and MACs / parameter counts
scaled by a least-squares factor (their ranking is the proxy's own).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.core.tables import MeasuredTable
from hwnas.errors import InputError
from hwnas.methods.predictor import (
    FitConfig,
    design_matrix,
    network_costs,
    parse_archs,
    predictor_features,
    reference_rows,
    table_devices,
)

BASELINES = ("gbr", "rf", "ridge", "macs", "params")
METHODS = ("meta", "meta_finetune", "meta_auto", *BASELINES)


@dataclass(frozen=True)
class EvalRow:
    """Scores of one method on one held-out device with k samples."""

    device: str
    k: int
    method: str
    spearman: float
    kendall_tau: float
    mape: float
    within_10: float
    n_test: int


def _baseline(name: str, seed: int):
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import RidgeCV

    if name == "gbr":
        return GradientBoostingRegressor(n_estimators=200, max_depth=3, random_state=seed)
    if name == "rf":
        return RandomForestRegressor(n_estimators=200, random_state=seed)
    if name == "ridge":
        return RidgeCV(alphas=np.logspace(-3, 3, 13))
    raise ValueError(name)


def _scores(device: str, k: int, method: str, truth, predicted) -> EvalRow:
    from predictors.metrics import kendall_tau, mape, spearman, within

    return EvalRow(
        device, k, method,
        spearman(truth, predicted), kendall_tau(truth, predicted),
        mape(truth, predicted), within(truth, predicted, 0.10), len(truth),
    )  # fmt: skip


def sample_rows(n: int, refs: Sequence[int], k: int, seed: int) -> np.ndarray:
    """The k rows a device is given: the references first, then k - R random others."""
    if k < len(refs):
        raise InputError(f"k = {k} is fewer than the {len(refs)} reference architectures")
    if k > n - 2:  # the rest is scored, and a rank correlation needs two
        raise InputError(
            f"--ks {k} leaves fewer than 2 of the table's {n} rows to score: at most {n - 2}"
        )
    others = np.setdiff1d(np.arange(n), refs)
    extra = np.random.default_rng(seed).choice(others, k - len(refs), replace=False)
    return np.concatenate([np.asarray(refs), np.sort(extra)]).astype(np.int64)


def leave_one_device_out(
    space: str,
    table: MeasuredTable,
    ks: Sequence[int] = (10, 20),
    methods: Sequence[str] = METHODS,
    config: FitConfig | None = None,
    finetune_steps: int = 100,
    devices: Sequence[str] | None = None,
    seed: int = 0,
    report: Callable[[EvalRow], None] | None = None,
) -> list[EvalRow]:
    """Score every method on every held-out device (or those named) for each k."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise InputError(f"unknown methods {unknown}; known: {METHODS}")
    refs = reference_rows(space, table)
    archs = parse_archs(space, table.archs, lambda i: f"{table.source}, row {i + 2}")
    for k in ks:  # before any fit: a k the table cannot give is refused at once
        sample_rows(len(archs), refs, k, seed)
    features = predictor_features(space, archs)
    params, macs = network_costs(space, archs)
    proxies = {"macs": macs.astype(np.float64), "params": params.astype(np.float64)}
    data = table_devices(table, refs)
    held_out = [d for d in data if devices is None or d.name in devices]
    rows: list[EvalRow] = []
    for device in held_out:
        estimator = None
        if {"meta", "meta_finetune", "meta_auto"} & set(methods):
            others = [d for d in data if d.name != device.name]
            X = np.concatenate([design_matrix(features, d.embedding) for d in others])
            y = np.concatenate([d.embedding.normalise(d.values) for d in others])
            estimator = (config or FitConfig()).estimator(len(refs)).fit(X, y)
        X_device = design_matrix(features, device.embedding)
        for k in ks:
            given = sample_rows(len(archs), refs, k, seed)
            test = np.setdiff1d(np.arange(len(archs)), given)
            truth = device.values[test]
            for method in methods:
                predicted = _predict(
                    method, estimator, device, X_device, features, proxies, given, test,
                    finetune_steps, seed,
                )  # fmt: skip
                row = _scores(device.name, k, method, truth, predicted)
                rows.append(row)
                if report is not None:
                    report(row)
    return rows


def _predict(method, estimator, device, X_device, features, proxies, given, test, steps, seed):
    n_refs = len(device.embedding.values)
    embedding = device.embedding
    if method in ("meta", "meta_finetune", "meta_auto"):
        X, y = X_device[given], embedding.normalise(device.values[given])
        if method == "meta_auto":
            from predictors.meta import choose_adapt_steps

            steps, _ = choose_adapt_steps(estimator, X, y, np.arange(n_refs, len(given)), steps)
        estimator.set_params(adapt_steps=0 if method == "meta" else steps)
        adapted = estimator.adapt(X, y)
        return embedding.denormalise(adapted.predict(X_device[test]))
    if method in proxies:
        proxy = proxies[method]
        scale = np.dot(proxy[given], device.values[given]) / np.dot(proxy[given], proxy[given])
        return proxy[test] * scale
    regressor = _baseline(method, seed).fit(features[given], np.log(device.values[given]))
    return np.exp(regressor.predict(features[test]))


def summarise(rows: Sequence[EvalRow]) -> dict[tuple[int, str], dict[str, float]]:
    """Mean of each metric over devices, by (k, method)."""
    groups: dict[tuple[int, str], list[EvalRow]] = {}
    for row in rows:
        groups.setdefault((row.k, row.method), []).append(row)
    return {
        key: {
            metric: float(np.mean([getattr(r, metric) for r in group]))
            for metric in ("spearman", "kendall_tau", "mape", "within_10")
        }
        for key, group in groups.items()
    }
