"""What a training run does: optimiser, schedule, augmentation, precision (`TrainConfig`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from hwnas.errors import InputError

OPTIMIZERS = ("sgd", "adamw")
AUGMENTATIONS = ("auto", "none", "crop", "crop-flip")
"""`auto` picks per dataset (`augmentation_for`); `crop` is a random crop of the image padded by
4 pixels; `crop-flip` adds horizontal flips."""
DEFAULT_LR = {"sgd": 0.1, "adamw": 2e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}
_AUTO_AUGMENT = {"cifar10": "crop-flip", "cifar100": "crop-flip", "svhn": "crop"}
"""Built-in photo sets; SVHN holds digits, which flips would change, so it crops only."""


class TrainConfigError(InputError):
    """A training setting that cannot be used (the message names it and the valid range)."""


@dataclass(frozen=True)
class TrainConfig:
    """The training of one network.

    Attributes:
        epochs: Passes over the training split.
        batch_size: Images per optimiser step, over all processes (each of N processes of a
            distributed run takes batch_size / N).
        lr: Peak learning rate; None: 0.1 for SGD, 0.002 for AdamW.
        optimizer: ``sgd`` (Nesterov momentum) or ``adamw``.
        momentum: SGD momentum.
        weight_decay: Decay of the weights of convolutions and linear layers (never of norms
            and biases); None: 5e-4 for SGD, 0.05 for AdamW.
        label_smoothing: Of the cross-entropy.
        warmup_epochs: Linear warm-up from lr/steps to lr, then a cosine decay to 0; clipped
            to epochs - 1.
        grad_clip: Gradient-norm clip; None: no clipping.
        augment: One of `AUGMENTATIONS`.
        seed: Of the weights, the batch order and the augmentation.
        amp: Mixed precision (bf16 where the GPU has it, else fp16 with a gradient scaler) on
            CUDA; ignored on the CPU.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float | None = None
    label_smoothing: float = 0.1
    warmup_epochs: int = 2
    grad_clip: float | None = 5.0
    augment: str = "auto"
    seed: int = 0
    amp: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise TrainConfigError(
                f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}"
            )
        if self.augment not in AUGMENTATIONS:
            raise TrainConfigError(
                f"unknown augmentation {self.augment!r}; expected one of {', '.join(AUGMENTATIONS)}"
            )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise TrainConfigError(f"{name} must be a positive integer, got {value}")
        if self.warmup_epochs < 0 or self.seed < 0:
            raise TrainConfigError("warmup_epochs and seed must be 0 or more")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise TrainConfigError(f"lr must be a positive number, got {self.lr}")
        if self.weight_decay is not None and not self.weight_decay >= 0:
            raise TrainConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise TrainConfigError(
                f"label_smoothing must lie in [0, 1), got {self.label_smoothing}"
            )
        if not 0 <= self.momentum < 1:
            raise TrainConfigError(f"momentum must lie in [0, 1), got {self.momentum}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise TrainConfigError(f"grad_clip must be positive or None, got {self.grad_clip}")

    @property
    def peak_lr(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def decay(self) -> float:
        return (
            DEFAULT_WEIGHT_DECAY[self.optimizer] if self.weight_decay is None else self.weight_decay
        )

    def to_dict(self) -> dict:
        """The settings with the defaults resolved (as recorded in the model folder)."""
        return {**asdict(self), "lr": self.peak_lr, "weight_decay": self.decay}


def augmentation_for(config: TrainConfig, dataset: str, input_shape: tuple[int, ...]) -> str:
    """The augmentation `config.augment` means for a dataset kind and (C, H, W).

    `auto`: random crops and flips for CIFAR-10/100, crops only for SVHN (flipped digits are
    other digits), none for digits and MNIST; a user's npz/folder data gets crops and flips
    when it holds RGB images of at least 32x32 (photos), none otherwise.
    """
    if config.augment != "auto":
        return config.augment
    if dataset in _AUTO_AUGMENT:
        return _AUTO_AUGMENT[dataset]
    channels, height, width = input_shape
    user_data = dataset in ("npz", "folder")
    return "crop-flip" if user_data and channels == 3 and min(height, width) >= 32 else "none"
