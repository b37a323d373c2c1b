"""The objectives: features as the predictor sees them, the surrogate, the frozen predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.core.spaces.nb201 import NUM_ARCHS, NB201Arch, all_codes
from hwnas.core.tables import load_accuracy_table
from hwnas.methods.modnas.objectives import (
    ObjectiveError,
    PredictedHardware,
    SurrogateConfig,
    cell_features,
    codes_to_weights,
    table_accuracy,
    weights_to_codes,
)
from hwnas.methods.predictor_data import predictor_features

CODES = np.random.default_rng(0).integers(0, NUM_ARCHS, 300)


def test_codes_round_trip_and_follow_nb201_codes():
    weights = codes_to_weights(CODES)
    assert weights.shape == (300, 6, 5)
    assert torch.all(weights.sum(-1) == 1)
    assert np.array_equal(weights_to_codes(weights), CODES)
    arch = NB201Arch.from_code(int(CODES[0]))
    assert [NB201Arch.from_code(0).ops[0]] == ["none"]
    ops = [
        ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")[i]
        for i in weights[0].argmax(-1).tolist()
    ]
    assert tuple(ops) == arch.ops


def test_cell_features_equal_the_predictor_features_on_discrete_cells():
    archs = [NB201Arch.from_code(int(c)) for c in CODES]
    expected = predictor_features("nb201", archs)
    assert np.array_equal(cell_features(codes_to_weights(CODES)).numpy(), expected)


def test_cell_features_are_differentiable_between_cells():
    weights = torch.full((2, 6, 5), 0.2, requires_grad=True)
    cell_features(weights).sum().backward()
    assert torch.isfinite(weights.grad).all() and weights.grad.abs().sum() > 0
    with pytest.raises(ObjectiveError, match=r"\(B, 6, 5\)"):
        cell_features(torch.zeros(6, 5))


def test_table_accuracy_follows_codes():
    accuracy = table_accuracy("cifar10")
    table = load_accuracy_table()
    row = 123
    assert accuracy[all_codes()[row]] == table.column("cifar10_test_acc")[row]
    with pytest.raises(ObjectiveError, match="known: cifar10"):
        table_accuracy("cifar11")


def test_surrogate_ranks_held_out_cells(surrogate):
    model, report = surrogate
    assert report["held_out_cells"] == 1562
    assert report["held_out_spearman"] > 0.8  # 3 epochs, 32 wide: far from the shipped fit
    loss = model.loss(codes_to_weights(CODES))
    assert loss.shape == (300,) and not loss.requires_grad
    assert np.allclose(model.error(CODES), loss.numpy(), atol=1e-6)
    with pytest.raises(ObjectiveError):
        SurrogateConfig(holdout=0.7)


def test_predicted_hardware_matches_the_predictor_model(predictor):
    embedding = predictor.training_devices["pixel3"]
    hardware = PredictedHardware(predictor.members, embedding)
    archs = [NB201Arch.from_code(int(c)) for c in CODES]
    expected = predictor.predict(archs, "pixel3")
    got = hardware.predict(codes_to_weights(CODES)).numpy()
    assert np.allclose(got, expected, rtol=1e-5)
    assert np.allclose(hardware.values(CODES), expected, rtol=1e-5)
    loss = hardware.loss(codes_to_weights(np.array([int(hardware.values_all.argmin())])))
    assert float(loss) == pytest.approx(0.0, abs=1e-5)
