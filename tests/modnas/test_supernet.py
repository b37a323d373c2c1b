"""MODNAS's supernet accuracy mode on real small data (scikit-learn's digits)."""

from unittest import mock

import numpy as np
import pytest
import torch

from hwnas.core.datasets import load_digits
from hwnas.core.spaces.nb201 import NB201Arch
from hwnas.core.spaces.nb201_supernet import ArchWeightsError, weights_from_arch
from hwnas.methods.modnas.supernet import SupernetAccuracy, SupernetConfig, SupernetConfigError

CONV = NB201Arch.from_string(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|"
)
EMPTY = NB201Arch(("none",) * 6)  # no path from input to output: the prediction is constant
SMALL = {"batch_size": 32, "eval_images": 128, "calibration_images": 64, "channels": 4}


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def _objective(digits, **changes) -> SupernetAccuracy:
    return SupernetAccuracy(SupernetConfig(**{**SMALL, **changes}), dataset=digits)


def _straight_through(batch: int, seed: int) -> torch.Tensor:
    """(batch, 6, 5) one-hot cells whose gradient is the softmax's, as the Architect gives."""
    logits = torch.randn(batch, 6, 5, generator=torch.Generator().manual_seed(seed))
    logits.requires_grad_(True)
    soft = logits.softmax(-1)
    hard = torch.nn.functional.one_hot(soft.argmax(-1), 5).to(soft.dtype)
    return logits, hard - soft.detach() + soft


def test_update_lowers_the_training_loss(digits):
    objective = _objective(digits)
    x = torch.from_numpy(objective.train.x[:128])
    y = torch.from_numpy(objective.train.y[:128])
    weights = weights_from_arch(CONV)

    def train_loss() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(objective.supernet(x, weights), y))

    before = train_loss()
    for _ in range(10):
        objective.update(weights.expand(2, -1, -1))
    assert train_loss() < 0.8 * before
    assert objective.last_train_loss is not None and np.isfinite(objective.last_train_loss)


def test_update_steps_once_per_architecture(digits):
    objective = _objective(digits)
    cells = torch.stack(
        [weights_from_arch(CONV), weights_from_arch(EMPTY), weights_from_arch(CONV)]
    )
    with mock.patch.object(objective.optimizer, "step", wraps=objective.optimizer.step) as step:
        objective.update(cells)
    assert step.call_count == 3
    assert all(p.grad is None for p in objective.supernet.parameters())


def test_loss_is_differentiable_in_the_cells_only(digits):
    objective = _objective(digits)
    logits, cells = _straight_through(3, seed=1)
    loss = objective.loss(cells)
    assert loss.shape == (3,)
    assert torch.isfinite(loss).all()
    assert (
        0.5 < float(loss.detach().mean()) < 1.5
    )  # untrained: cross-entropy near ln(10), scaled to ~1
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert float(logits.grad.abs().sum()) > 0
    assert all(p.grad is None for p in objective.supernet.parameters())


def test_loss_draws_a_fresh_validation_batch_each_call(digits):
    objective = _objective(digits)
    cells = weights_from_arch(CONV)[None]
    first, second = float(objective.loss(cells)), float(objective.loss(cells))
    assert first != second


def test_error_is_a_deterministic_fraction_per_cell(digits):
    objective = _objective(digits)
    for _ in range(12):
        objective.update(torch.stack([weights_from_arch(CONV)] * 2))
    state = {k: v.clone() for k, v in objective.supernet.state_dict().items()}
    codes = np.array([CONV.code, EMPTY.code, CONV.code])
    errors = objective.error(codes)
    assert errors.shape == (3,) and errors.dtype == np.float64
    assert ((errors >= 0) & (errors <= 1)).all()
    assert errors[0] == errors[2]
    assert errors[1] > 0.7  # no path from input to output: one class for every image
    assert errors[0] < errors[1] - 0.2  # the trained conv cell does far better
    np.testing.assert_array_equal(objective.error(codes), errors)
    after = objective.supernet.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)  # BN statistics restored


def test_warm_up_trains_on_uniformly_drawn_cells(digits):
    objective = _objective(digits)
    with mock.patch.object(objective, "update", wraps=objective.update) as update:
        objective.warm_up(40)
    drawn = torch.cat([call.args[0] for call in update.call_args_list])
    assert drawn.shape == (40, 6, 5)
    assert (drawn.sum(-1) == 1).all() and len({tuple(c.argmax(-1).tolist()) for c in drawn}) > 30
    with pytest.raises(SupernetConfigError, match="warm-up steps"):
        objective.warm_up(-1)


def test_same_seed_same_training(digits):
    runs = []
    for _ in range(2):
        objective = _objective(digits, seed=3)
        objective.update(torch.stack([weights_from_arch(CONV), weights_from_arch(EMPTY)]))
        runs.append(objective.loss(weights_from_arch(CONV)[None]).detach())
    assert torch.equal(runs[0], runs[1])


def test_validation_images_are_held_out_of_training(digits):
    objective = _objective(digits, max_images=400)
    assert len(objective.train) == len(objective.valid) == 200
    train_rows = {row.tobytes() for row in objective.train.x}
    assert not any(row.tobytes() in train_rows for row in objective.valid.x)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": "imagenet"}, "unknown data 'imagenet'"),
        ({"data": "cifar10"}, "cifar10:DIR"),
        ({"channels": 0}, "channels"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": 0.0}, "lr must be"),
        ({"lr": float("nan")}, "lr must be"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"max_images": 40}, "max_images=40"),
    ],
)
def test_bad_config_says_what_to_change(changes, message):
    with pytest.raises(SupernetConfigError, match=message):
        SupernetConfig(**changes)


def test_config_round_trips_through_a_dict():
    config = SupernetConfig(data="mnist", max_images=1000, seed=4)
    assert SupernetConfig.from_dict(config.to_dict()) == config


def test_wrong_cell_shape_is_refused(digits):
    objective = _objective(digits)
    with pytest.raises(ArchWeightsError, match=r"\(B, 6, 5\)"):
        objective.loss(torch.ones(6, 5))
    with pytest.raises(ArchWeightsError, match=r"\(B, 6, 5\)"):
        objective.update(torch.ones(2, 5, 6))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is absent")
def test_cuda_without_a_gpu_is_a_clear_error(digits):
    with pytest.raises(SupernetConfigError, match="no CUDA GPU"):
        SupernetAccuracy(SupernetConfig(**SMALL), device="cuda", dataset=digits)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_cuda(digits):
    objective = SupernetAccuracy(SupernetConfig(**SMALL), device="cuda", dataset=digits)
    objective.update(weights_from_arch(CONV)[None].cuda())
    logits, cells = _straight_through(2, seed=0)
    loss = objective.loss(cells.cuda())
    loss.sum().backward()
    assert loss.device.type == "cuda" and torch.isfinite(logits.grad).all()
    errors = objective.error(np.array([CONV.code]))
    assert 0 <= errors[0] <= 1
