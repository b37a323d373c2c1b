"""The network of a found genotype, trained from scratch, saved and exported to ONNX.

The network itself (`DartsNetwork`, DARTS's evaluation network) is the DARTS space's builder
and lives in `hwnas.core.spaces.darts_net`; this module trains, saves and exports it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hwnas.core.datasets import Dataset, ImageData
from hwnas.core.serialize import to_json
from hwnas.core.spaces.darts_genotype import Genotype
from hwnas.core.spaces.darts_net import DartsNetwork
from hwnas.errors import InputError
from hwnas.methods.training import train_epochs


@dataclass(frozen=True)
class TrainConfig:
    """Training from scratch: SGD with momentum, cosine learning rate, gradient clipping."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    channels: int = 8
    layers: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size, self.channels, self.layers) < 1 or self.lr <= 0:
            raise InputError("epochs, batch_size, channels, layers and lr must be positive")


@dataclass(frozen=True)
class TrainResult:
    """The trained network and its accuracies (percent)."""

    model: DartsNetwork
    train_losses: tuple[float, ...]
    test_accuracy: float
    seconds: float


def accuracy(model: nn.Module, data: ImageData, batch_size: int = 256) -> float:
    """Top-1 accuracy (percent) of `model` in eval mode on `data`."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            logits = model(torch.from_numpy(data.x[start : start + batch_size]))
            correct += int((logits.argmax(1).numpy() == data.y[start : start + batch_size]).sum())
    return 100.0 * correct / max(len(data), 1)


def train_genotype(genotype: Genotype, dataset: Dataset, config: TrainConfig) -> TrainResult:
    """Trains the network of `genotype` from scratch on `dataset.train`, tests on `dataset.test`."""
    torch.manual_seed(config.seed)
    train = dataset.train
    model = DartsNetwork(
        genotype, config.channels, config.layers, train.num_classes, train.input_shape[0]
    )
    optimizer = torch.optim.SGD(
        model.parameters(), config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    started = time.perf_counter()
    losses = train_epochs(
        model,
        train,
        optimizer,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        grad_clip=config.grad_clip,
    )
    seconds = time.perf_counter() - started
    return TrainResult(model, tuple(losses), accuracy(model, dataset.test), seconds)


def save_network(model: DartsNetwork, config: TrainConfig, out_dir: str | Path) -> Path:
    """Writes the weights (safetensors) and what rebuilds the network (JSON) to `out_dir`."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "weights.safetensors"))
    meta = {
        "genotype": model.genotype.to_dict(),
        "train": to_json(config, versioned=False),
        "num_classes": model.classifier.out_features,
        "in_channels": model.stem[0].in_channels,
    }
    (out_dir / "network.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out_dir / "weights.safetensors"


def export_checked(
    model: DartsNetwork, data: ImageData, path: str | Path, batch: int = 8
) -> dict[str, object]:
    """Exports `model` to ONNX and compares ONNX Runtime with PyTorch on `batch` real images.

    A genotype with `noise` operations has random outputs: its error is None with the reason.
    """
    from hwnas.core.export.onnx import export_onnx, max_abs_error_vs_torch

    result = export_onnx(model, data.input_shape, path)
    report: dict[str, object] = {
        "onnx": str(result.path),
        "exporter": result.exporter,
        "opset": result.opset,
    }
    ops = {op for op, _ in model.genotype.normal + model.genotype.reduce}
    if "noise" in ops:
        report["max_abs_error"] = None
        report["reason"] = "the genotype has noise operations: outputs are random, not comparable"
        return report
    report["max_abs_error"] = max_abs_error_vs_torch(model, result.path, data.x[:batch])
    return report
