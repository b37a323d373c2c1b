"""The network of a found genotype, trained from scratch, saved and exported to ONNX.

DARTS's evaluation network (Liu et al., ICLR 2019, `NetworkCIFAR` without the auxiliary head
and drop-path): a 3x3 conv stem of 3C channels, `layers` cells with reduction cells at 1/3 and
2/3 of the depth, global average pooling and a linear classifier. Each cell computes every
intermediate node as the sum of its genotype's two operations.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from hwnas.core.datasets import Dataset, ImageData
from hwnas.core.spaces.darts import STEPS
from hwnas.core.spaces.darts_genotype import CONCAT, Genotype
from hwnas.core.spaces.darts_ops import FactorizedReduce, ReLUConvBN, build_macro, make_op
from hwnas.errors import InputError
from hwnas.methods.training import train_epochs


class Cell(nn.Module):
    """One discrete cell: inputs (s0, s1), output the concatenation of its 4 nodes."""

    def __init__(
        self,
        genes: tuple[tuple[str, int], ...],
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_prev_prev, channels)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        self.inputs = [source for _, source in genes]
        self.ops = nn.ModuleList(
            make_op(op, channels, 2 if reduction and source < 2 else 1) for op, source in genes
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(STEPS):
            a, b = 2 * node, 2 * node + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat([states[i] for i in CONCAT], dim=1)


class DartsNetwork(nn.Module):
    """The network of `genotype`: input (B, in_channels, H, W), output logits (B, classes)."""

    def __init__(
        self,
        genotype: Genotype,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if min(channels, layers, num_classes, in_channels) < 1:
            raise ValueError("channels, layers, num_classes and in_channels must be positive")
        self.genotype = genotype
        self.stem, self.cells, c_out = build_macro(
            in_channels,
            channels,
            layers,
            lambda reduction, c_pp, c_p, c, reduction_prev: Cell(
                genotype.reduce if reduction else genotype.normal,
                c_pp,
                c_p,
                c,
                reduction,
                reduction_prev,
            ),  # fmt: skip
            len(CONCAT),
        )
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


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

    def to_dict(self) -> dict:
        return asdict(self)


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
        "train": config.to_dict(),
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
