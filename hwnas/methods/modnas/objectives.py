"""What MODNAS scores a cell on, as differentiable functions of (B, 6, 5) cell samples.

A cell sample is a (6, 5) matrix whose rows follow `hwnas.core.spaces.nb201.EDGES` and columns
`OPS`: one-hot rows for a discrete cell, straight-through samples from the Architect during the
search. Every objective is MINIMISED and scaled to about [0, 1] over the whole space, so that a
preference vector weighs comparable numbers:

- accuracy: `SurrogateAccuracy`, a network fitted on the shipped NAS-Bench-201 accuracy table
  (surrogate mode), or `hwnas.methods.modnas.supernet.SupernetAccuracy` (supernet mode);
- hardware: `PredictedHardware`, a frozen MetaPredictor's latency (or energy) on one device,
  from the device's embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from hwnas.core.spaces.nb201 import EDGES, NUM_ARCHS, OPS
from hwnas.errors import InputError

N_FEATURES = len(EDGES) * len(OPS) + 2 * len(OPS)
"""Length of `cell_features`: the one-hot (30), operation counts (5) and live counts (5)."""

_NONE = OPS.index("none")


class ObjectiveError(InputError):
    """An objective that cannot be built from what it was given."""


class AccuracyObjective(Protocol):
    """The accuracy side of the search (surrogate or supernet)."""

    def loss(self, weights: torch.Tensor) -> torch.Tensor:
        """(B,) the error to minimise of (B, 6, 5) cell samples, differentiable."""

    def update(self, weights: torch.Tensor) -> None:
        """The lower-level step before a hypernetwork step (supernet weights); may do nothing."""

    def error(self, codes: np.ndarray) -> np.ndarray:
        """(N,) the error in [0, 1] of discrete cells given by `NB201Arch.code`."""


# -- cells as tensors -------------------------------------------------------------------------


def codes_to_weights(codes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """One-hot cell matrices of `NB201Arch.code` values: (N, 6, 5) float32."""
    codes = torch.as_tensor(np.asarray(codes, dtype=np.int64))
    digits = (codes[:, None] // len(OPS) ** torch.arange(len(EDGES))) % len(OPS)
    return nn.functional.one_hot(digits, len(OPS)).to(torch.float32)


def weights_to_codes(weights: torch.Tensor) -> np.ndarray:
    """The argmax cell of each (6, 5) matrix as its `NB201Arch.code`: (N,) int64."""
    digits = weights.detach().argmax(dim=-1).cpu().numpy().astype(np.int64)
    return (digits * len(OPS) ** np.arange(len(EDGES))).sum(axis=-1)


def cell_features(weights: torch.Tensor) -> torch.Tensor:
    """The MetaPredictor's NB201 features of (B, 6, 5) cells: (B, 40), differentiable.

    On one-hot rows they equal `hwnas.methods.predictor_data.predictor_features("nb201", ...)`:
    the one-hot edges, then each operation's count over all edges and over the edges whose
    result reaches the output, divided by 6. Whether a node reaches the output is soft logic on
    the probability that an edge is not `none` (AND a product, OR ``1 - (1-a)(1-b)``), exact on
    one-hot rows and differentiable between them.
    """
    if weights.dim() != 3 or tuple(weights.shape[1:]) != (len(EDGES), len(OPS)):
        raise ObjectiveError(f"cells must be (B, 6, 5), got {tuple(weights.shape)}")
    edge = {pair: e for e, pair in enumerate(EDGES)}
    alive = 1 - weights[:, :, _NONE]
    reaches = {3: torch.ones_like(alive[:, 0]), 2: alive[:, edge[(3, 2)]]}
    reaches[1] = 1 - (1 - alive[:, edge[(3, 1)]]) * (1 - alive[:, edge[(2, 1)]] * reaches[2])
    live = torch.stack([reaches[node] for node, _ in EDGES], dim=1)
    counts = weights.sum(1) / len(EDGES)
    live_counts = (weights * live[:, :, None]).sum(1) / len(EDGES)
    return torch.cat([weights.flatten(1), counts, live_counts], dim=1)


def all_cell_features() -> np.ndarray:
    """`cell_features` of every cell, in `NB201Arch.code` order: (15625, 40) float32."""
    with torch.no_grad():
        return cell_features(codes_to_weights(np.arange(NUM_ARCHS))).numpy()


# -- accuracy: a surrogate of the table -------------------------------------------------------


@dataclass(frozen=True)
class SurrogateConfig:
    """How `fit_surrogate` fits the accuracy surrogate.

    Attributes:
        dataset: Column of the NAS-Bench-201 accuracy table (``cifar10``, ``cifar100``,
            ``imagenet16_120``).
        hidden: Width of the two hidden layers.
        epochs: Passes over the training cells.
        holdout: Fraction of cells held out to report the fit's quality on.
        seed: Seed of the split, initialisation and batch order.
    """

    dataset: str = "cifar10"
    hidden: int = 256
    epochs: int = 60
    holdout: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.epochs < 1:
            raise ObjectiveError(
                f"hidden and epochs must be >= 1, got {self.hidden}, {self.epochs}"
            )
        if not 0.0 < self.holdout < 0.5:
            raise ObjectiveError(f"holdout must be in (0, 0.5), got {self.holdout}")


class SurrogateAccuracy(nn.Module):
    """An MLP from cell features to a dataset's test accuracy (percent).

    Its loss is the error scaled over the space, ``(best - accuracy) / (best - worst)`` with the
    table's best and worst accuracy, so the best cell scores 0 and the worst 1.
    """

    def __init__(self, hidden: int, accuracy_range: tuple[float, float], dataset: str) -> None:
        super().__init__()
        self.dataset = dataset
        self.accuracy_range = (float(accuracy_range[0]), float(accuracy_range[1]))
        if not self.accuracy_range[0] < self.accuracy_range[1]:
            raise ObjectiveError(f"accuracy range must be increasing, got {accuracy_range}")
        self.net = nn.Sequential(
            nn.Linear(N_FEATURES, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        """Predicted accuracy (percent) of (B, 6, 5) cells: (B,)."""
        low, high = self.accuracy_range
        return low + (high - low) * self.net(cell_features(weights)).squeeze(-1)

    def loss(self, weights: torch.Tensor) -> torch.Tensor:
        low, high = self.accuracy_range
        return (high - self(weights)) / (high - low)

    def update(self, weights: torch.Tensor) -> None:
        """Nothing to do: the surrogate is fixed."""

    def error(self, codes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.loss(codes_to_weights(codes)).numpy().astype(np.float64)


def table_accuracy(dataset: str = "cifar10") -> np.ndarray:
    """The shipped test accuracy (percent) of every cell, in `NB201Arch.code` order."""
    from hwnas.core.spaces.nb201 import all_codes
    from hwnas.core.tables import load_accuracy_table

    table = load_accuracy_table()
    column = f"{dataset}_test_acc"
    if column not in table.columns:
        known = ", ".join(c.removesuffix("_test_acc") for c in table.columns)
        raise ObjectiveError(f"no NAS-Bench-201 accuracies for dataset {dataset!r}; known: {known}")
    accuracy = np.empty(NUM_ARCHS)
    accuracy[all_codes()] = table.column(column)
    return accuracy


def fit_surrogate(config: SurrogateConfig | None = None) -> tuple[SurrogateAccuracy, dict]:
    """Fit the accuracy surrogate on the shipped NAS-Bench-201 table.

    Returns:
        The surrogate (eval mode, no gradients to its weights) and its fit report: Spearman
        rank correlation and mean absolute error (points) on the held-out cells.
    """
    from scipy.stats import spearmanr

    config = config or SurrogateConfig()
    accuracy = table_accuracy(config.dataset)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    order = torch.randperm(NUM_ARCHS, generator=generator).numpy()
    n_held = int(round(config.holdout * NUM_ARCHS))
    held, train = order[:n_held], order[n_held:]
    model = SurrogateAccuracy(
        config.hidden, (float(accuracy.min()), float(accuracy.max())), config.dataset
    )
    x = codes_to_weights(np.arange(NUM_ARCHS))
    y = torch.as_tensor(accuracy, dtype=torch.float32)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-5)
    batch = 256
    steps = config.epochs * int(np.ceil(len(train) / batch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    train_t = torch.as_tensor(train)
    for _ in range(config.epochs):
        shuffled = train_t[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(train), batch):
            rows = shuffled[start : start + batch]
            # Huber in points: the table's many ~10 % (dead) cells should not dominate
            loss = nn.functional.huber_loss(model(x[rows]), y[rows], delta=1.0)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    model.eval().requires_grad_(False)
    with torch.no_grad():
        predicted = model(x[held]).numpy()
    report = {
        "dataset": config.dataset,
        "held_out_cells": int(n_held),
        "held_out_spearman": float(spearmanr(predicted, accuracy[held]).statistic),
        "held_out_mae_points": float(np.abs(predicted - accuracy[held]).mean()),
    }
    return model, report


# -- hardware: a frozen MetaPredictor ---------------------------------------------------------


class PredictedHardware:
    """A frozen MetaPredictor's prediction (ms or mJ) on one device, scaled over the space.

    The loss is ``(value - lowest) / (highest - lowest)`` with the lowest and highest value the
    predictor gives any cell on this device, so the fastest cell scores 0 and the slowest 1.

    Args:
        members: The predictor's weights, one dict per ensemble member (`PredictorModel.members`).
        embedding: The device's `predictors.embedding.DeviceEmbedding`.
        name: What is predicted, for messages (``latency_ms``).
    """

    def __init__(self, members, embedding, name: str = "latency_ms") -> None:
        from predictors.film import ensemble_forward

        if not members:
            raise ObjectiveError("the predictor has no ensemble members")
        self.name = name
        self.embedding = embedding
        self._members = [{k: torch.as_tensor(v) for k, v in m.items()} for m in members]
        self._z = torch.as_tensor(embedding.array)
        features = all_cell_features()
        z = np.broadcast_to(embedding.array, (NUM_ARCHS, len(embedding.values)))
        self.values_all = embedding.denormalise(ensemble_forward(members, features, z))
        self.range = (float(self.values_all.min()), float(self.values_all.max()))

    def predict(self, weights: torch.Tensor) -> torch.Tensor:
        """Predicted value of (B, 6, 5) cells, (B,), differentiable."""
        x = cell_features(weights)
        z = self._z.expand(len(x), -1)
        scaled = torch.stack([_film(w, x, z) for w in self._members]).mean(0)
        span = self.embedding.log_max - self.embedding.log_min
        return torch.exp(scaled * span + self.embedding.log_min)

    def loss(self, weights: torch.Tensor) -> torch.Tensor:
        low, high = self.range
        return (self.predict(weights) - low) / (high - low)

    def values(self, codes: np.ndarray) -> np.ndarray:
        """Predicted value of discrete cells (by code), (N,) float64."""
        return self.values_all[np.asarray(codes, dtype=np.int64)]


def _film(w: dict[str, torch.Tensor], x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """`predictors.film.forward` in torch (same weights, same layers)."""

    def linear(layer: str, h: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(h, w[f"{layer}.weight"], w[f"{layer}.bias"])

    relu = torch.relu
    a = relu(linear("arch.2", relu(linear("arch.0", x))))
    gain, shift = linear("device.2", relu(linear("device.0", z))).chunk(2, dim=-1)
    return linear("head.2", relu(linear("head.0", a * (1 + gain) + shift))).squeeze(-1)
