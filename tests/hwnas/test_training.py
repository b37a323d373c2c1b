"""The shared epoch loop: deterministic per seed, learns, clips, follows the cosine schedule."""

import numpy as np
import pytest
import torch
from torch import nn

from hwnas.core.datasets import ImageData
from hwnas.methods.training import train_epochs


def _data(n: int = 96) -> ImageData:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 1, 2, 2)) + y[:, None, None, None]).astype(np.float32)
    return ImageData(x, y.astype(np.int64), 3)


def _run(seed: int, grad_clip: float | None = 5.0, lr: float = 0.1, epochs: int = 4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr, momentum=0.9)
    losses = train_epochs(
        model, _data(), optimizer, epochs=epochs, batch_size=16, seed=seed, grad_clip=grad_clip
    )
    return model, optimizer, losses


def test_same_seed_same_run_and_the_loss_falls():
    model, _, losses = _run(seed=1)
    again, _, losses_again = _run(seed=1)
    assert losses == losses_again
    assert torch.equal(model[1].weight, again[1].weight)
    assert len(losses) == 4 and losses[-1] < 0.6 * losses[0]
    assert not model.training  # left in eval mode


def test_the_seed_orders_the_batches():
    assert _run(seed=1)[2] != _run(seed=2)[2]


def test_cosine_schedule_ends_at_zero():
    _, optimizer, _ = _run(seed=0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_clipping_bounds_the_first_step():
    """With a huge learning rate and no momentum history, one clipped SGD step moves the
    weights by at most lr * clip; unclipped it moves them much further."""

    def first_step(grad_clip):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        optimizer = torch.optim.SGD(model.parameters(), 10.0)
        data = _data(16)
        data = ImageData(data.x * 100, data.y, 3)
        train_epochs(model, data, optimizer, epochs=1, batch_size=16, seed=0, grad_clip=grad_clip)
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        return float((after - before).norm())

    assert first_step(0.01) == pytest.approx(10.0 * 0.01, rel=1e-4)
    assert first_step(None) > 1.0


def test_a_split_smaller_than_a_batch_is_one_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    losses = train_epochs(
        model, _data(5), optimizer, epochs=2, batch_size=16, seed=0, grad_clip=None
    )
    assert len(losses) == 2 and all(np.isfinite(losses))
