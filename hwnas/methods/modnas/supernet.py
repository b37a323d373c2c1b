"""MODNAS's supernet accuracy mode: the bi-level objective on real image data.

The lower level trains the weights of a `NB201Supernet` on the training half of a dataset's
training split, one SGD step per architecture the hypernetwork samples (`update`); the
upper level (the hypernetwork) minimises the supernet's cross-entropy on a validation batch
drawn from the other half (`loss`), differentiable w.r.t. the (B, 6, 5) architecture
weights. The split is DARTS's (`hwnas.core.datasets.split_for_search`); the dataset's test split
is never touched. Sukthanker et al., "Multi-objective Differentiable Neural Architecture
Search", ICLR 2025 (the supernet as the proxy of the best response w*(alpha)).

`error(codes)` scores discrete cells with the shared weights. Training sees a different
sampled cell at every step, so the BatchNorm running statistics are an average over cells
that fits none of them; each cell is therefore scored after re-estimating its statistics on
a fixed set of training images (`hwnas.core.batchnorm.recalibrate_batchnorm`, as single-path
one-shot NAS re-estimates them per path before scoring it), then in eval mode; the supernet's
own statistics are restored afterwards. On digits after 300 uniform warm-up steps, 16 random
cells scored 0.31 mean error this way, 0.31 with the evaluation images' own batch statistics
and 0.66 with the shared running statistics (Spearman with the batch-statistics scores: 0.86
re-estimated, 0.36 shared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas.core.batchnorm import recalibrate_batchnorm
from hwnas.core.datasets import Dataset, ImageData, load_dataset, split_for_search
from hwnas.core.serialize import from_json, to_json
from hwnas.core.spaces.nb201 import NUM_ARCHS, NB201Arch
from hwnas.core.spaces.nb201_supernet import (
    ARCH_SHAPE,
    ArchWeightsError,
    NB201Supernet,
    weights_from_arch,
)
from hwnas.errors import InputError
from hwnas.methods.darts.network import accuracy

_LOCAL_DATASETS = ("digits", "mnist")
_FOLDER_DATASETS = ("cifar10", "cifar100", "svhn")
_EVAL_BATCH = 256  # images per forward pass of `error` (no gradients: larger is faster)


class SupernetConfigError(InputError):
    """A supernet setting that cannot be used (the message names it and the valid range)."""


@dataclass(frozen=True)
class SupernetConfig:
    """The supernet, its data and its weight optimiser.

    Attributes:
        data: A `hwnas.core.datasets.load_dataset` spec: `digits`, `mnist`, `cifar10:DIR`,
            `cifar100:DIR` or `svhn:DIR`.
        channels: Channels of the first stage.
        cells_per_stage: Search cells per stage.
        batch_size: Images per weight step and per validation batch of `loss`.
        lr: SGD learning rate of the supernet weights (constant).
        momentum: SGD momentum.
        weight_decay: L2 factor of the weights.
        grad_clip: Gradient-norm clip of each weight step.
        max_images: Cap on the training-split images used (halved into train and
            validation); None uses all of them.
        eval_images: Validation images `error` scores each cell on.
        calibration_images: Training images each cell's BatchNorm statistics are
            re-estimated on before `error` scores it.
        seed: Seed of the data split, the weights and the batch order.
    """

    data: str = "digits"
    channels: int = 8
    cells_per_stage: int = 1
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    max_images: int | None = None
    eval_images: int = 512
    calibration_images: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        name, sep, path = str(self.data).partition(":")
        known = (name in _LOCAL_DATASETS and not sep) or (name in _FOLDER_DATASETS and path)
        if not known:
            raise SupernetConfigError(
                f"unknown data {self.data!r}; expected digits, mnist, cifar10:DIR, "
                "cifar100:DIR or svhn:DIR"
            )
        counts = {
            "channels": self.channels,
            "cells_per_stage": self.cells_per_stage,
            "batch_size": self.batch_size,
            "eval_images": self.eval_images,
            "calibration_images": self.calibration_images,
        }
        if self.max_images is not None:
            counts["max_images"] = self.max_images
        bad = {key: value for key, value in counts.items() if int(value) != value or value < 1}
        if bad:
            raise SupernetConfigError(f"these settings must be positive integers: {bad}")
        if self.max_images is not None and self.max_images < 2 * self.batch_size:
            raise SupernetConfigError(
                f"max_images={self.max_images} leaves fewer than batch_size={self.batch_size} "
                "images in the train or validation half; raise it to at least "
                f"{2 * self.batch_size}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SupernetConfigError(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise SupernetConfigError(f"momentum must lie in [0, 1), got {self.momentum}")
        if not self.weight_decay >= 0:
            raise SupernetConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not self.grad_clip > 0:
            raise SupernetConfigError(f"grad_clip must be positive, got {self.grad_clip}")

    def to_dict(self) -> dict:
        """The settings as JSON values (`hwnas.core.serialize.to_json`, unversioned)."""
        return to_json(self, versioned=False)

    @classmethod
    def from_dict(cls, values: dict) -> SupernetConfig:
        """The settings of `to_dict`; a bad or unknown field is a `SerializeError` naming it."""
        return from_json(cls, values, source="supernet config")


class _BatchCycle:
    """Endless seeded mini-batches of one split, reshuffled at every pass."""

    def __init__(self, data: ImageData, batch_size: int, seed: int) -> None:
        self.data, self.batch_size = data, min(batch_size, len(data))
        self.rng = np.random.default_rng(seed)
        self.order, self.position = self.rng.permutation(len(data)), 0

    def next(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = self.rng.permutation(len(self.data)), 0
        rows = np.sort(self.order[self.position : self.position + self.batch_size])
        self.position += self.batch_size
        x, y = torch.from_numpy(self.data.x[rows]), torch.from_numpy(self.data.y[rows])
        return x.to(device), y.to(device)


class _FixedCell(nn.Module):
    """One cell of the supernet as a single-input module on host tensors (logits on host)."""

    def __init__(self, supernet: NB201Supernet, arch_weights: torch.Tensor) -> None:
        super().__init__()
        self.supernet, self.arch_weights = supernet, arch_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x.to(self.arch_weights.device), self.arch_weights).cpu()


def _device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise SupernetConfigError(f"unknown device {device!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SupernetConfigError(
            f"device {device} was asked for but torch sees no CUDA GPU; use device='cpu'"
        )
    return device


class SupernetAccuracy:
    """The supernet accuracy objective of MODNAS.

    (`hwnas.methods.modnas.objectives.AccuracyObjective`.)

    Args:
        config: The supernet, data and optimiser settings.
        device: Where the supernet trains and evaluates (`cpu`, `cuda`, `cuda:1`, ...).
        dataset: The dataset, already loaded; None loads `config.data`.

    Attributes:
        supernet: The shared-weight network.
        train: The images of the weight steps.
        valid: The held-out images of `loss` and `error`.
        last_train_loss: Mean cross-entropy of the last `update`'s steps (None before one).
    """

    def __init__(
        self,
        config: SupernetConfig | None = None,
        device: str | torch.device = "cpu",
        dataset: Dataset | None = None,
    ) -> None:
        self.config = config = config or SupernetConfig()
        self.device = _device(device)
        if dataset is None:
            dataset = load_dataset(config.data, seed=config.seed)
        self.train, self.valid = split_for_search(dataset.train, config.max_images, config.seed)
        if min(len(self.train), len(self.valid)) < 1:
            raise SupernetConfigError(
                f"dataset {dataset.name!r} has too few training images to split"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.supernet = NB201Supernet(
                self.train.num_classes,
                config.channels,
                config.cells_per_stage,
                self.train.input_shape[0],
            ).to(self.device)
        self.optimizer = torch.optim.SGD(
            self.supernet.parameters(),
            config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self._train_batches = _BatchCycle(self.train, config.batch_size, config.seed)
        self._valid_batches = _BatchCycle(self.valid, config.batch_size, config.seed + 1)
        self._eval_data = self.valid.subset(config.eval_images, config.seed)
        calibration = self.train.subset(config.calibration_images, config.seed)
        self._calibration = [
            torch.from_numpy(calibration.x[start : start + config.batch_size])
            for start in range(0, len(calibration), config.batch_size)
        ]
        self._loss_scale = 1.0 / math.log(self.train.num_classes)
        self.last_train_loss: float | None = None

    def _check(self, weights: torch.Tensor) -> torch.Tensor:
        if weights.ndim != 3 or tuple(weights.shape[1:]) != ARCH_SHAPE:
            raise ArchWeightsError(
                f"architecture samples must be (B, {ARCH_SHAPE[0]}, {ARCH_SHAPE[1]}), "
                f"got {tuple(weights.shape)}"
            )
        return weights.to(self.device)

    def update(self, weights: torch.Tensor) -> None:
        """One SGD step on the supernet weights per architecture of `weights` (B, 6, 5).

        Each on a fresh training batch; `weights` are detached (no gradient reaches them).
        """
        weights = self._check(weights).detach()
        criterion, losses = nn.CrossEntropyLoss(), []
        self.supernet.train()
        for arch_weights in weights:
            x, y = self._train_batches.next(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss = criterion(self.supernet(x, arch_weights), y)
            loss.backward()
            nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
            self.optimizer.step()
            losses.append(float(loss.detach()))
        self.optimizer.zero_grad(set_to_none=True)
        self.last_train_loss = float(np.mean(losses)) if losses else None

    def warm_up(self, steps: int) -> None:
        """`steps` weight steps on cells drawn uniformly from the space (seeded by the config).

        Before the hypernetwork's first step, an untrained supernet scores every cell near
        chance, so the accuracy gradient is noise and the hardware objectives alone steer the
        hypernetwork; a uniform warm-up (as in single-path one-shot NAS) gives the accuracy
        objective a signal first.
        """
        if steps < 0:
            raise SupernetConfigError(f"warm-up steps must be >= 0, got {steps}")
        rng = np.random.default_rng(self.config.seed + 2)
        codes = rng.integers(NUM_ARCHS, size=steps)
        for start in range(0, steps, self.config.batch_size):
            block = codes[start : start + self.config.batch_size]
            self.update(torch.stack([weights_from_arch(NB201Arch.from_code(c)) for c in block]))

    def loss(self, weights: torch.Tensor) -> torch.Tensor:
        """(B,) validation cross-entropy of each architecture of `weights` (B, 6, 5).

        Divided by ln(classes) (1 = chance), differentiable w.r.t. `weights` only.

        All B architectures see the same validation batch, the next one at every call; the
        supernet weights enter as constants, so no gradient accumulates on them.
        """
        arch = self._check(weights)
        x, y = self._valid_batches.next(self.device)
        frozen = {name: p.detach() for name, p in self.supernet.named_parameters()}
        self.supernet.train()
        losses = [
            nn.functional.cross_entropy(
                torch.func.functional_call(self.supernet, frozen, (x, arch_weights)), y
            )
            for arch_weights in arch
        ]
        return (torch.stack(losses) * self._loss_scale).to(weights.device)

    def error(self, codes: np.ndarray) -> np.ndarray:
        """(N,) validation error in [0, 1] of the NB201 cells with `NB201Arch.code` `codes`.

        Each with its own BatchNorm statistics (see the module docstring).
        """
        codes = np.asarray(codes, dtype=np.int64).reshape(-1)
        unique, inverse = np.unique(codes, return_inverse=True)
        norms = [
            m for m in self.supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        saved = [{k: v.clone() for k, v in norm.state_dict().items()} for norm in norms]
        errors = np.empty(len(unique), dtype=np.float64)
        try:
            for i, code in enumerate(unique):
                arch_weights = weights_from_arch(NB201Arch.from_code(int(code))).to(self.device)
                cell = _FixedCell(self.supernet, arch_weights)
                recalibrate_batchnorm(cell, self._calibration)
                errors[i] = 1.0 - accuracy(cell, self._eval_data, _EVAL_BATCH) / 100.0
        finally:
            for norm, state in zip(norms, saved):
                norm.load_state_dict(state)
            self.supernet.train()
        return errors[inverse]


SUPERNET_WEIGHTS = "supernet.safetensors"
SUPERNET_META = "supernet.json"
SUPERNET_FORMAT = "hwnas-nb201-supernet"


class SupernetFolderError(InputError):
    """A supernet folder that is missing, damaged or not a hwnas NB201 supernet."""


def save_supernet(objective: SupernetAccuracy, out_dir: str | Path) -> Path:
    """Write the supernet's weights (safetensors) and its shape and data (JSON) to `out_dir`.

    The folder (`supernet.safetensors`, `supernet.json` with the weights' sha256) is what
    `hwnas train --init-from` starts a chosen cell from. Each file is renamed into place
    whole, the JSON last.
    """
    import json
    import os
    import tempfile

    from safetensors.torch import save_file

    from hwnas.core.trained import file_sha256

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = objective.supernet
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=".supernet.", dir=out)
    os.close(fd)
    save_file(state, tmp)
    os.replace(tmp, out / SUPERNET_WEIGHTS)
    meta = {
        "format": SUPERNET_FORMAT,
        "version": 1,
        "channels": objective.config.channels,
        "cells_per_stage": objective.config.cells_per_stage,
        "in_channels": int(net.stem[0].in_channels),
        "num_classes": int(net.classifier.out_features),
        "input": "standardised per channel with the training split's mean and deviation",
        "config": objective.config.to_dict(),
        "sha256": {SUPERNET_WEIGHTS: file_sha256(out / SUPERNET_WEIGHTS)},
    }
    fd, tmp = tempfile.mkstemp(prefix=".supernet.", dir=out)
    os.close(fd)
    Path(tmp).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / SUPERNET_META)
    return out


def load_supernet_state(supernet_dir: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(supernet.json, weights) of a supernet folder, the weights checked against their sha256."""
    import json

    from safetensors.torch import load_file

    from hwnas.core.trained import file_sha256

    folder = Path(supernet_dir)
    meta_path, weights = folder / SUPERNET_META, folder / SUPERNET_WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise SupernetFolderError(
            f"{folder}: no {SUPERNET_META} and {SUPERNET_WEIGHTS}; a supernet folder is written "
            "by `hwnas modnas train --mode supernet` (its out dir's supernet/)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SupernetFolderError(f"{meta_path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != SUPERNET_FORMAT:
        raise SupernetFolderError(f"{meta_path}: not a {SUPERNET_FORMAT} description")
    expected = (meta.get("sha256") or {}).get(SUPERNET_WEIGHTS)
    if expected != file_sha256(weights):
        raise SupernetFolderError(
            f"{weights}: sha256 differs from the one in {SUPERNET_META}: damaged or replaced"
        )
    return meta, load_file(str(weights))
