"""MODNAS training on a problem whose answer is known, the hypernetwork and the grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.methods.modnas.hypernetwork import MetaHypernetwork
from hwnas.methods.modnas.model import hypernetwork_logits
from hwnas.methods.modnas.preferences import PreferenceError, preference_grid
from hwnas.methods.modnas.train import (
    DeviceObjectives,
    TrainConfig,
    TrainConfigError,
    generate_codes,
    train_hypernetwork,
)

ALL_CONV = sum(3 * 5**e for e in range(6))  # every edge nor_conv_3x3


class LinearObjective:
    """A loss linear in the cell: the mean over edges of the chosen operations' costs."""

    def __init__(self, cost_per_op):
        self.cost = torch.tensor(cost_per_op, dtype=torch.float32).expand(6, 5)
        self.updates = 0

    def loss(self, weights):
        return (weights * self.cost).sum((1, 2)) / 6

    def update(self, weights):
        assert weights.shape[1:] == (6, 5) and not weights.requires_grad
        self.updates += 1

    def error(self, codes):
        raise AssertionError("not used")


def _devices():
    fast_none = LinearObjective([0.0, 0.3, 0.6, 1.0, 0.5])
    return [
        DeviceObjectives("a", np.array([0.1, 0.9], dtype=np.float32), [fast_none]),
        DeviceObjectives("b", np.array([0.8, 0.2], dtype=np.float32), [fast_none]),
    ]


@pytest.mark.parametrize("update", ["mgd", "mean"])
def test_preferences_steer_the_cells(update):
    accuracy = LinearObjective([1.0, 0.8, 0.4, 0.0, 0.7])  # nor_conv_3x3 is best
    config = TrainConfig(steps=150, update=update, hidden=32, entropy=0.05, seed=0)
    result = train_hypernetwork(accuracy, _devices(), config)
    assert accuracy.updates == 150
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    for device in _devices():
        codes = generate_codes(result.hypernetwork, device.embedding, preference_grid(2, 3))
        assert codes[0] == 0  # all weight on the hardware objective: every edge none
        assert codes[-1] == ALL_CONV  # all weight on accuracy


def test_training_is_reproducible():
    accuracy = LinearObjective([1.0, 0.8, 0.4, 0.0, 0.7])
    config = TrainConfig(steps=5, hidden=8)
    first = train_hypernetwork(accuracy, _devices(), config).hypernetwork.state_dict()
    second = train_hypernetwork(accuracy, _devices(), config).hypernetwork.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_bad_settings():
    with pytest.raises(TrainConfigError, match="sampler"):
        TrainConfig(sampler="softmax")
    with pytest.raises(TrainConfigError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(TrainConfigError, match="entropy"):
        TrainConfig(entropy=-1)
    with pytest.raises(TrainConfigError, match="at least one"):
        train_hypernetwork(LinearObjective([0] * 5), [], TrainConfig(steps=1))
    uneven = _devices()
    uneven[1] = DeviceObjectives("b", uneven[1].embedding, [])
    with pytest.raises(TrainConfigError, match="same, non-zero number"):
        train_hypernetwork(LinearObjective([0] * 5), uneven, TrainConfig(steps=1))


def test_numpy_forward_equals_torch():
    torch.manual_seed(0)
    network = MetaHypernetwork(3, 10, hidden=16, bound=2.0).eval()
    preference = torch.distributions.Dirichlet(torch.ones(3)).sample((7,))
    embedding = torch.rand(10)
    with torch.no_grad():
        expected = network(preference, embedding.expand(7, -1)).numpy()
    got = hypernetwork_logits(network.numpy_weights(), preference.numpy(), embedding.numpy(), 2.0)
    assert np.allclose(got, expected, atol=1e-5)
    assert np.abs(got).max() <= 2.0


def test_preference_grids():
    two = preference_grid(2, 24)
    assert two.shape == (24, 2) and np.allclose(two.sum(1), 1)
    assert two[0].tolist() == [0.0, 1.0] and two[-1].tolist() == [1.0, 0.0]
    three = preference_grid(3, 24)
    assert three.shape == (28, 3) and np.allclose(three.sum(1), 1)  # Das-Dennis, 6 divisions
    assert len({tuple(r) for r in three.tolist()}) == 28
    with pytest.raises(PreferenceError, match="2 or 3"):
        preference_grid(4)
