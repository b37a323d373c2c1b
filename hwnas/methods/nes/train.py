"""Training one base learner of an ensemble, and its predicted probabilities.

The recipe is deliberately CPU-small (a few epochs, SGD with momentum or AdamW, a cosine
learning rate, gradient clipping): NES trains every network of its pool independently, so the
pool's cost is K times one of these runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwnas.core.datasets import ImageData
from hwnas.errors import InputError

OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")


@dataclass(frozen=True)
class TrainConfig:
    """How each pool member is trained.

    Attributes:
        epochs: Passes over the training split.
        batch_size: Images per step.
        optimizer: ``sgd`` (with momentum) or ``adamw``.
        lr: Peak learning rate, annealed to 0 by a cosine schedule over all steps.
        momentum: SGD momentum (ignored by AdamW).
        weight_decay: L2 factor (decoupled for AdamW).
        grad_clip: Largest gradient norm, or None for no clipping.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float | None = 5.0

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size) < 1:
            raise InputError(
                f"epochs and batch_size must be positive, got {self.epochs}, {self.batch_size}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"
            )
        if not self.lr > 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise InputError(
                f"need lr > 0, weight_decay >= 0 and 0 <= momentum < 1, got lr={self.lr}, "
                f"weight_decay={self.weight_decay}, momentum={self.momentum}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InputError(f"grad_clip must be positive or None, got {self.grad_clip}")


def train_member(module, data: ImageData, config: TrainConfig, seed: int) -> list[float]:
    """Trains `module` in place on `data` with cross-entropy; returns the mean loss per epoch.

    `seed` fixes the order of the batches (the weights were initialised by the builder).
    """
    import torch

    from hwnas.methods.training import train_epochs

    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            module.parameters(),
            config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    else:
        optimizer = torch.optim.AdamW(
            module.parameters(), config.lr, weight_decay=config.weight_decay
        )
    return train_epochs(
        module,
        data,
        optimizer,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=seed,
        grad_clip=config.grad_clip,
    )


def predict_proba(module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Softmax of `module`'s logits (run in eval mode) on images (N, C, H, W).

    Returns (N, classes) float32.
    """
    import torch

    module.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = module(torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size])))
            parts.append(torch.softmax(logits.double(), dim=1).float().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
