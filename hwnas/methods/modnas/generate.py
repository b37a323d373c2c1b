"""Answer a latency budget on a device from its reference latencies, with a MODNAS model.

The device is known by its latencies of the 10 NAS-Bench-201 reference cells (its embedding),
as a short profile (``hwnas profile --samples 10``) writes them. The hypernetwork proposes, for
a dense scan of preference vectors, its most likely cell, and the cells one edge away from
those are added; the frozen MetaPredictor predicts their latency on the device, scaled so that
the bound holds with the asked probability: by the larger of a split-conformal factor from
the device's measured cells and the predictor's error quantile on its training devices; the
most accurate candidate (NAS-Bench-201 table) whose bound meets the budget wins. A candidate
the file measured is judged by its measurement. Numpy only: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwnas.core.budget import BudgetError, Candidate, check_budget_arguments
from hwnas.core.spaces.nb201 import EDGES, NB201Arch
from hwnas.errors import InputError
from hwnas.methods.modnas.model import ModnasModel
from hwnas.methods.modnas.preferences import preference_grid

SCAN_PREFERENCES = 101
"""Preference vectors scanned per answer (two objectives: weights 0, 0.01, ..., 1)."""


class ReferenceLatencyError(InputError):
    """Device latencies that lack reference cells or cannot form an embedding."""


@dataclass(frozen=True)
class ModnasAnswer:
    """The answer to a budget and what it rests on.

    Attributes:
        chosen: The most accurate candidate whose bound meets the budget.
        fastest: The candidate with the lowest bound.
        budget_ms: The budget.
        bound_factor: Latency bound / prediction (split-conformal over the measured cells).
        confidence: The probability the bound is meant to hold with (None: no margin).
        n_candidates: Distinct cells the hypernetwork proposed.
        n_within_budget: How many of them meet the budget.
        n_measured: Measured cells in the latency file.
        dataset: Whose accuracy ranks the cells.
    """

    chosen: Candidate
    fastest: Candidate
    budget_ms: float
    bound_factor: float
    confidence: float | None
    n_candidates: int
    n_within_budget: int
    n_measured: int
    dataset: str


def device_embedding(latencies: dict[str, float]):
    """The `DeviceEmbedding` of a device from its measured reference cells.

    Raises:
        ReferenceLatencyError: naming the missing reference cells and how to measure them.
    """
    from hwnas.core.tables import reference_archs
    from predictors.embedding import DeviceEmbedding, EmbeddingError

    refs = reference_archs("nb201")
    missing = [a for a in refs if a not in latencies]
    if missing:
        raise ReferenceLatencyError(
            f"the latencies lack {len(missing)} of the 10 NAS-Bench-201 reference cells, which "
            f"tell the model what the device is (first missing: {missing[0]}); measure them "
            "with hwnas profile --samples 10"
        )
    try:
        return DeviceEmbedding.from_reference([latencies[a] for a in refs])
    except EmbeddingError as err:
        raise ReferenceLatencyError(f"the reference latencies: {err}") from None


def pareto_codes(model: ModnasModel, embedding, n: int = 24) -> np.ndarray:
    """The most likely cell (`NB201Arch.code`) for each of `n` evenly spread preferences."""
    return _argmax_codes(model.logits(preference_grid(len(model.objectives), n), embedding.array))


def candidate_codes(
    model: ModnasModel, embedding, n_preferences: int = SCAN_PREFERENCES
) -> np.ndarray:
    """Distinct cells the hypernetwork proposes over a scan of preferences, sorted.

    The most likely cell of each preference, and every cell one edge away from one of those
    (any other operation on one edge): the front the hypernetwork draws is coarse where few
    cells trade accuracy for latency, and its neighbourhood fills the gaps for the predictor
    to check.
    """
    logits = model.logits(preference_grid(len(model.objectives), n_preferences), embedding.array)
    best = np.unique(np.argmax(logits, axis=-1), axis=0)  # (K, 6) distinct most likely cells
    n_ops = logits.shape[-1]
    variants = [best]
    for edge in range(len(EDGES)):
        for op in range(n_ops):
            changed = best.copy()
            changed[:, edge] = op
            variants.append(changed)
    return np.unique(_digits_to_codes(np.concatenate(variants)))


def candidate_indices(
    model: ModnasModel, latencies: dict[str, float], n_preferences: int = SCAN_PREFERENCES
) -> np.ndarray:
    """NB201 table indices of the cells the hypernetwork proposes for the device, sorted.

    `candidate_codes` for the embedding of the device's reference latencies: the cells a
    runtime predictor then prices (`hwnas.jobs.generate.generate_with_kernels`).
    """
    codes = candidate_codes(model, device_embedding(latencies), n_preferences)
    return np.sort([NB201Arch.from_code(int(c)).index for c in codes])


def predict_latency_ms(model: ModnasModel, embedding, codes: np.ndarray) -> np.ndarray:
    """The frozen MetaPredictor's latency (ms) of cells on the device: (N,) float64."""
    from hwnas.methods.predictor_data import predictor_features
    from predictors.film import ensemble_forward

    features = predictor_features("nb201", [NB201Arch.from_code(int(c)) for c in codes])
    z = np.broadcast_to(embedding.array, (len(features), len(embedding.values)))
    return embedding.denormalise(ensemble_forward(model.predictor.members, features, z))


def conformal_factor(measured: np.ndarray, predicted: np.ndarray, confidence: float) -> float:
    """Split-conformal factor c: ``measured <= c * predicted`` with probability `confidence`.

    The ceil((n + 1) * confidence)-th smallest ratio measured / predicted (the largest when
    there are too few cells for that rank), never below 1.
    """
    ratios = np.sort(np.asarray(measured, dtype=np.float64) / np.asarray(predicted))
    rank = min(math.ceil((len(ratios) + 1) * confidence), len(ratios))
    return max(1.0, float(ratios[rank - 1]))


def answer_budget(
    model: ModnasModel,
    latencies: dict[str, float],
    budget_ms: float,
    confidence: float | None = 0.85,
    n_preferences: int = SCAN_PREFERENCES,
) -> ModnasAnswer:
    """The most accurate proposed cell predicted to meet `budget_ms` on the device.

    Args:
        latencies: Measured ``arch -> ms`` of the device, the 10 reference cells among them.
        confidence: Probability the latency bound should hold with; None uses the bare
            prediction.

    Raises:
        BudgetError: naming the fastest candidate and the budget it needs.
    """
    check_budget_arguments(budget_ms, confidence)
    embedding = device_embedding(latencies)
    codes = candidate_codes(model, embedding, n_preferences)
    predicted = predict_latency_ms(model, embedding, codes)
    measured_codes = np.array([NB201Arch.from_string(a).code for a in latencies])
    factor = 1.0
    if confidence is not None:
        on_measured = predict_latency_ms(model, embedding, measured_codes)
        factor = max(
            conformal_factor(np.array(list(latencies.values())), on_measured, confidence),
            model.ratio_quantile(confidence),
        )
    from hwnas.core.tables import load_accuracy_table

    archs = [str(NB201Arch.from_code(int(c))) for c in codes]
    indices, rows = _table_rows(archs)
    accuracy = load_accuracy_table().column(f"{model.dataset}_test_acc")[rows]
    candidates = []
    for arch, index, prediction, acc in zip(archs, indices, predicted, accuracy):
        measured = latencies.get(arch)
        candidates.append(
            Candidate(
                arch=arch,
                nb201_index=int(index),
                predicted_latency_ms=float(prediction),
                latency_bound_ms=float(measured if measured is not None else prediction * factor),
                accuracy=float(acc),
                measured_latency_ms=measured,
            )
        )
    fastest = min(candidates, key=lambda c: c.latency_bound_ms)
    within = [c for c in candidates if c.latency_bound_ms <= budget_ms]
    if not within:
        raise BudgetError(
            f"no proposed cell is predicted to meet {budget_ms:g} ms on this device; the "
            f"fastest, {fastest.arch}, needs {fastest.latency_bound_ms:.3f} ms "
            f"(predicted {fastest.predicted_latency_ms:.3f} ms): raise the budget to at least "
            "that"
        )
    chosen = max(within, key=lambda c: (c.accuracy, -c.latency_bound_ms))
    return ModnasAnswer(
        chosen=chosen,
        fastest=fastest,
        budget_ms=budget_ms,
        bound_factor=factor,
        confidence=confidence,
        n_candidates=len(candidates),
        n_within_budget=len(within),
        n_measured=len(latencies),
        dataset=model.dataset,
    )


def _argmax_codes(logits: np.ndarray) -> np.ndarray:
    return _digits_to_codes(np.argmax(logits, axis=-1))


def _digits_to_codes(digits: np.ndarray) -> np.ndarray:
    """Per-edge operation indices (N, 6) to `NB201Arch.code` values (N,)."""
    n_ops = 5
    return (np.asarray(digits, dtype=np.int64) * n_ops ** np.arange(len(EDGES))).sum(axis=-1)


def _table_rows(archs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(NAS-Bench-201 index, accuracy table row) of canonical cell strings."""
    from hwnas.core.tables import load_accuracy_table

    table = load_accuracy_table()
    row_of = table.row_of
    rows = np.array([row_of[a] for a in archs], dtype=np.int64)
    return table.indices[rows], rows
