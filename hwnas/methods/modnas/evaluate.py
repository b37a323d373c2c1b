"""How good a MODNAS front is: hypervolume against the true front of the shipped tables.

For a device of the NAS-Bench-201 latency table, every cell has a true error (100 - test
accuracy) and a true latency; both are min-max normalised over the whole space, so the
reference point (1, 1) is the worst corner. A method's front is the set of cells it returns;
its hypervolume over the true front's is its score. Random search and NSGA-II run over the
same predictors the hypernetwork was trained on, with as many predictor evaluations as the
hypernetwork returns cells, and their non-dominated cells are scored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.core.spaces.nb201 import NUM_ARCHS
from hwnas.methods.modnas.baselines import nsga2, random_search
from hwnas.methods.modnas.pareto import hypervolume, normalise, pareto_mask


@dataclass(frozen=True)
class DeviceFront:
    """One device's fronts and hypervolumes (normalised objectives, reference (1, 1))."""

    device: str
    codes: np.ndarray
    hypervolume: float
    true_hypervolume: float
    baselines: dict[str, float]

    @property
    def ratio(self) -> float:
        """Hypervolume of the generated cells over that of the true front."""
        return self.hypervolume / self.true_hypervolume


def true_objectives(device: str, dataset: str = "cifar10") -> np.ndarray:
    """(15625, 2) normalised (error, latency) of every cell by `NB201Arch.code` on a device."""
    from hwnas.core.spaces.nb201 import all_codes
    from hwnas.core.tables import load_latency_table
    from hwnas.methods.modnas.objectives import table_accuracy

    latency = np.empty(NUM_ARCHS)
    latency[all_codes()] = load_latency_table("nb201").column(device)
    points = np.stack([100.0 - table_accuracy(dataset), latency], axis=1)
    return normalise(points, points.min(axis=0), points.max(axis=0))


def predicted_objectives(model, embedding) -> np.ndarray:
    """(15625, 2) (error, latency) of every cell as the search saw them.

    Surrogate (or table) accuracy and the frozen MetaPredictor's latency on the device,
    min-max normalised.
    """
    from hwnas.methods.modnas.generate import predict_latency_ms
    from hwnas.methods.modnas.objectives import table_accuracy

    latency = predict_latency_ms(model, embedding, np.arange(NUM_ARCHS))
    error = 100.0 - _surrogate_accuracy(model)
    if error is None:
        error = 100.0 - table_accuracy(model.dataset)
    points = np.stack([error, latency], axis=1)
    return normalise(points, points.min(axis=0), points.max(axis=0))


def evaluate_device(
    model,
    device: str,
    embedding,
    n_preferences: int = 24,
    baseline_evals: Sequence[int] = (),
    seed: int = 0,
) -> DeviceFront:
    """Score the model's `n_preferences` most likely cells on a table device.

    Args:
        model: A `hwnas.methods.modnas.model.ModnasModel`.
        device: A device column of the shipped NB201 latency table.
        embedding: The device's embedding (from its 10 reference latencies).
        baseline_evals: Predictor evaluations to give random search and NSGA-II (each).
    """
    from hwnas.methods.modnas.generate import pareto_codes

    truth = true_objectives(device, model.dataset)
    codes = pareto_codes(model, embedding, n_preferences)
    baselines: dict[str, float] = {}
    if baseline_evals:
        predicted = predicted_objectives(model, embedding)

        def objectives(c: np.ndarray) -> np.ndarray:
            return predicted[c]

        for n_evals in baseline_evals:
            for name, search in (("random", random_search), ("nsga2", nsga2)):
                trace = search(objectives, n_evals, seed=seed)
                baselines[f"{name}@{n_evals}"] = hypervolume(truth[trace.front().codes])
    return DeviceFront(
        device=device,
        codes=codes,
        hypervolume=hypervolume(truth[codes]),
        true_hypervolume=hypervolume(truth[pareto_mask(truth)]),
        baselines=baselines,
    )


RATIO_LEVELS = tuple(round(0.5 + 0.01 * i, 2) for i in range(50))
"""Probabilities at which `latency_ratio_quantiles` records the predictor's error."""


def latency_ratio_quantiles(predictor, devices: Sequence[str]) -> dict:
    """How far true latency runs above the predictor's, over every cell of table devices.

    The quantiles (at `RATIO_LEVELS`) of true / predicted latency, pooled over all cells of
    `devices`: `hwnas.methods.modnas.generate.answer_budget` multiplies a prediction by the quantile
    at its confidence (or by the conformal factor from the device's own cells, if larger), so
    that choosing the most accurate cell under the budget does not favour cells whose latency
    the predictor underestimates.
    """
    from hwnas.core.spaces.nb201 import all_codes
    from hwnas.core.tables import load_latency_table
    from hwnas.methods.modnas.objectives import all_cell_features
    from predictors.film import ensemble_forward

    table = load_latency_table("nb201")
    features = all_cell_features()
    ratios = []
    for device in devices:
        embedding = predictor.training_devices[device]
        z = np.broadcast_to(embedding.array, (NUM_ARCHS, len(embedding.values)))
        predicted = embedding.denormalise(ensemble_forward(predictor.members, features, z))
        true = np.empty(NUM_ARCHS)
        true[all_codes()] = table.column(device)
        ratios.append(true / predicted)
    pooled = np.concatenate(ratios)
    return {
        "what": "true / predicted latency over every cell of the training devices",
        "devices": list(devices),
        "levels": list(RATIO_LEVELS),
        "ratio_quantiles": np.quantile(pooled, RATIO_LEVELS).round(5).tolist(),
    }


def plot_fronts(fronts: Sequence[DeviceFront], path: str | Path, dataset: str = "cifar10") -> Path:
    """One panel per device: every cell (grey), the true front, the generated cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(4, len(fronts))
    rows = -(-len(fronts) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows), squeeze=False)
    for axis, front in zip(axes.flat, fronts):
        truth = true_objectives(front.device, dataset)
        best = truth[pareto_mask(truth)]
        best = best[np.argsort(best[:, 1])]
        axis.scatter(truth[:, 1], truth[:, 0], s=1, c="0.8", rasterized=True)
        axis.step(best[:, 1], best[:, 0], where="post", c="k", lw=1, label="true front")
        chosen = truth[front.codes]
        axis.scatter(chosen[:, 1], chosen[:, 0], s=18, c="C3", label="MODNAS")
        axis.set_title(f"{front.device}: HV {front.ratio:.3f} of true", fontsize=9)
        axis.set_xlabel("latency (normalised)")
        axis.set_ylabel("error (normalised)")
        axis.set_ylim(-0.02, 0.3)
    for axis in list(axes.flat)[len(fronts) :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _surrogate_accuracy(model) -> np.ndarray | None:
    """Every cell's surrogate accuracy (percent) when the model carries a surrogate."""
    if model.surrogate is None:
        return None
    import torch

    from hwnas.methods.modnas.objectives import SurrogateAccuracy, codes_to_weights

    spec = model.meta["surrogate"]
    surrogate = SurrogateAccuracy(int(spec["hidden"]), tuple(spec["accuracy_range"]), model.dataset)
    surrogate.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.surrogate.items()})
    with torch.no_grad():
        return surrogate(codes_to_weights(np.arange(NUM_ARCHS))).numpy().astype(np.float64)
