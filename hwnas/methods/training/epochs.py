"""The supervised epoch loop shared by the DARTS retraining and the NES pool members."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hwnas.core.datasets import ImageData


def train_epochs(
    model: nn.Module,
    data: ImageData,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    grad_clip: float | None,
) -> list[float]:
    """Trains `model` in place with cross-entropy; returns the mean loss of each epoch.

    Each epoch visits a fresh permutation of `data` (drawn from `seed`) in full batches of
    `batch_size` (a last partial batch is dropped; a split smaller than one batch is one
    step). The learning rate follows a cosine schedule from the optimiser's own down to 0
    over all steps; gradients are clipped to norm `grad_clip` unless it is None. The model
    is left in eval mode.
    """
    steps = max(1, len(data) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps)
    criterion, rng, losses = nn.CrossEntropyLoss(), np.random.default_rng(seed), []
    for _ in range(epochs):
        model.train()
        order, total = rng.permutation(len(data)), 0.0
        for step in range(steps):
            rows = order[step * batch_size : (step + 1) * batch_size]
            x, y = torch.from_numpy(data.x[rows]), torch.from_numpy(data.y[rows])
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x), y)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            schedule.step()
            total += float(loss.detach())
        losses.append(total / steps)
    model.eval()
    return losses
