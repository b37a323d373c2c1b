"""A short supernet-mode MODNAS run on real small data improves the hypervolume.

The accuracy objective is a weight-sharing supernet trained on scikit-learn's digits; the
hardware objective is the latency on NAS-Bench-201 table devices, predicted by a small
MetaPredictor fitted on the shipped table. The initial and the final hypernetwork are scored
the same way: the most likely cell for each of 24 evenly spread preferences, its error from
the final supernet and its true table latency, normalised over the space (error over [0, 1],
latency between the device's fastest and slowest cell), hypervolume from (1, 1).
"""

import copy

import numpy as np
import pytest
import torch

from hwnas.core.datasets import load_digits
from hwnas.core.spaces.nb201 import all_codes
from hwnas.core.tables import load_latency_table
from hwnas.methods.modnas.hypernetwork import MetaHypernetwork
from hwnas.methods.modnas.objectives import PredictedHardware
from hwnas.methods.modnas.pareto import hypervolume, normalise
from hwnas.methods.modnas.preferences import preference_grid
from hwnas.methods.modnas.supernet import SupernetAccuracy, SupernetConfig
from hwnas.methods.modnas.train import (
    DeviceObjectives,
    TrainConfig,
    generate_codes,
    train_hypernetwork,
)
from hwnas.methods.predictor import FitConfig, fit_model

DEVICES = ("pixel3", "titanx_256")
SUPERNET = {"channels": 4, "batch_size": 32, "eval_images": 256, "calibration_images": 64}


def _table_latency_ms(device: str) -> np.ndarray:
    """The device's measured latency of every cell, in `NB201Arch.code` order."""
    latency = np.empty(len(all_codes()))
    latency[all_codes()] = load_latency_table("nb201").column(device)
    return latency


def _hypervolume(hypernetwork, device: DeviceObjectives, accuracy: SupernetAccuracy) -> float:
    codes = generate_codes(hypernetwork, device.embedding, preference_grid(2, 24))
    latency = _table_latency_ms(device.name)
    points = np.stack([accuracy.error(codes), latency[codes]], axis=1)
    return hypervolume(normalise(points, [0.0, latency.min()], [1.0, latency.max()]))


def _table_devices() -> list[DeviceObjectives]:
    """The test devices with latency from a small MetaPredictor fitted on the shipped table."""
    model = fit_model(
        "nb201", load_latency_table("nb201"), FitConfig(hidden=64, epochs=3), devices=DEVICES
    )
    return [
        DeviceObjectives(
            name,
            model.training_devices[name].array,
            [PredictedHardware(model.members, model.training_devices[name])],
        )
        for name in DEVICES
    ]


@pytest.mark.slow
def test_short_supernet_run_improves_the_hypervolume():
    devices = _table_devices()
    accuracy = SupernetAccuracy(SupernetConfig(**SUPERNET), dataset=load_digits(seed=0))
    accuracy.warm_up(128)
    torch.manual_seed(0)
    hypernetwork = MetaHypernetwork(n_objectives=2, embedding_dim=10, hidden=64)
    initial = copy.deepcopy(hypernetwork).eval()
    config = TrainConfig(steps=30, preferences=2, samples=2, learning_rate=1e-2, hidden=64, seed=0)
    result = train_hypernetwork(accuracy, devices, config, hypernetwork=hypernetwork)

    assert np.isfinite([record["loss"] for record in result.history]).all()
    before = [_hypervolume(initial, device, accuracy) for device in devices]
    after = [_hypervolume(result.hypernetwork, device, accuracy) for device in devices]
    assert np.mean(after) > np.mean(before)
