"""Saved models and the answer to a latency budget."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hwnas.core.spaces.nb201 import NB201Arch
from hwnas.core.tables import load_latency_table, reference_archs
from hwnas.jobs.generate import BudgetError
from hwnas.methods.modnas.evaluate import evaluate_device, predicted_objectives, true_objectives
from hwnas.methods.modnas.generate import (
    ReferenceLatencyError,
    answer_budget,
    candidate_codes,
    conformal_factor,
    device_embedding,
    pareto_codes,
    predict_latency_ms,
)
from hwnas.methods.modnas.model import ModnasModelError, load_modnas_model
from hwnas.methods.modnas.pareto import pareto_mask
from hwnas.methods.modnas.preferences import preference_grid


def _refs(device: str) -> dict[str, float]:
    by_arch = load_latency_table("nb201").by_arch(device)
    return {a: by_arch[a] for a in reference_archs("nb201")}


def test_saved_model_answers_like_the_torch_module(model_dir):
    model = load_modnas_model(model_dir)
    module = model.hypernetwork_module()
    embedding = device_embedding(_refs("pixel3"))
    preferences = preference_grid(2, 11)
    with torch.no_grad():
        expected = module(
            torch.as_tensor(preferences), torch.as_tensor(embedding.array).expand(11, -1)
        ).numpy()
    assert np.allclose(model.logits(preferences, embedding.array), expected, atol=1e-5)
    assert model.objectives == ["error:cifar10", "latency_ms"]
    assert model.ratio_quantile(0.9) > 1.0 > model.ratio_quantile(0.5) - 0.2


def test_damaged_model_directories(model_dir, tmp_path):
    with pytest.raises(ModnasModelError, match="hwnas modnas train"):
        load_modnas_model(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "hypernetwork.safetensors").write_bytes(b"not safetensors")
    meta = json.loads((model_dir / "modnas.json").read_text())
    (broken / "modnas.json").write_text(json.dumps(meta))
    with pytest.raises(ModnasModelError, match="damaged"):
        load_modnas_model(broken)
    meta["version"] = 99
    (broken / "modnas.json").write_text(json.dumps(meta))
    with pytest.raises(ModnasModelError, match="version 99"):
        load_modnas_model(broken)


def test_candidates_include_every_preferences_most_likely_cell(model_dir):
    model = load_modnas_model(model_dir)
    embedding = device_embedding(_refs("gold_6240"))
    candidates = set(candidate_codes(model, embedding, 21).tolist())
    assert set(pareto_codes(model, embedding, 21).tolist()) <= candidates


def test_answer_is_the_most_accurate_candidate_within_the_bound(model_dir):
    model = load_modnas_model(model_dir)
    refs = _refs("pixel3")
    budget = float(np.median(list(refs.values())))
    answer = answer_budget(model, refs, budget, confidence=0.9)
    assert answer.chosen.latency_bound_ms <= budget
    assert answer.bound_factor >= model.ratio_quantile(0.9)
    embedding = device_embedding(refs)
    codes = candidate_codes(model, embedding)
    bounds = predict_latency_ms(model, embedding, codes) * answer.bound_factor
    from hwnas.methods.modnas.objectives import table_accuracy

    accuracy = table_accuracy("cifar10")[codes]
    measured = {NB201Arch.from_string(a).code: v for a, v in refs.items()}
    bounds = np.array([measured.get(int(c), b) for c, b in zip(codes, bounds)])
    assert answer.chosen.accuracy == pytest.approx(accuracy[bounds <= budget].max())
    assert answer.n_within_budget == int((bounds <= budget).sum())


def test_a_budget_nothing_meets_names_the_fastest(model_dir):
    model = load_modnas_model(model_dir)
    with pytest.raises(BudgetError, match=r"the fastest, \|.*needs"):
        answer_budget(model, _refs("pixel3"), 1e-6)


def test_missing_references_are_named(model_dir):
    model = load_modnas_model(model_dir)
    refs = _refs("pixel3")
    missing = reference_archs("nb201")[3]
    del refs[missing]
    with pytest.raises(ReferenceLatencyError, match="lack 1 of the 10"):
        answer_budget(model, refs, 10.0)


def test_conformal_factor():
    measured = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.0, 1.0, 2.0, 2.0])  # ratios 1, 2, 1.5, 2
    assert (
        conformal_factor(measured, predicted, 0.3) == 1.5
    )  # rank ceil(5 * 0.3) = 2 of 1, 1.5, 2, 2
    assert conformal_factor(measured, predicted, 0.5) == 2.0  # rank 3
    assert conformal_factor(measured, predicted, 0.99) == 2.0  # too few cells: the largest
    assert conformal_factor(measured / 4, predicted, 0.9) == 1.0  # never below 1


def test_evaluation_scores_the_true_front_fully(model_dir):
    model = load_modnas_model(model_dir)
    truth = true_objectives("pixel3")
    assert truth.min() == 0 and truth.max() == 1
    front = evaluate_device(model, "pixel3", device_embedding(_refs("pixel3")), 24, (24,))
    assert 0 < front.hypervolume <= front.true_hypervolume
    assert set(front.baselines) == {"random@24", "nsga2@24"}
    best = np.flatnonzero(pareto_mask(truth))
    from hwnas.methods.modnas.pareto import hypervolume

    assert hypervolume(truth[best]) == pytest.approx(front.true_hypervolume)
    seen = predicted_objectives(model, device_embedding(_refs("pixel3")))
    assert seen.shape == truth.shape and seen.min() == 0 and seen.max() == 1
