"""Training and length-generalisation evaluation of LRNNs; models saved as safetensors + JSON."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwnas.core.serialize import from_json, to_json
from hwnas.core.spaces.lrnn import LRNNArch
from hwnas.errors import InputError
from hwnas.methods.lrnn.tasks import SUPERVISIONS, TASKS, create_task, training_batch

SCAN_CHOICES = ("auto", "parallel", "sequential")
"""`TrainConfig.scan` values: `hwnas.core.spaces.lrnn_layers.SCANS` (kept out of this
torch-free module) and ``auto``."""

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class TrainConfig:
    """How to train and test one LRNN on one task.

    Attributes:
        task: A name in `hwnas.methods.lrnn.tasks.TASKS`.
        steps: Optimiser steps (Adam), at most; see ``stop_loss``.
        batch_size: Sequences per step.
        lr: Peak learning rate (linear warm-up over 5 % of the steps, then cosine decay).
        min_length: Shortest training sequence.
        max_length: Longest training sequence.
        supervision: ``prefixes`` or ``last`` (see `training_batch`); None picks
            ``prefixes`` where the task labels prefixes.
        test_lengths: Sequence lengths the accuracy is reported at.
        test_samples: Test sequences per length.
        seed: Seeds the weights, the training data and the test data (test data by
            ``seed + 1``, so it differs from the training stream).
        stop_loss: Training stops early once the mean loss of the last 20 steps is below
            this (0 never stops early).
        weight_decay: AdamW weight decay.
        grad_clip: Gradient norm clip.
        threads: torch intra-op threads; None leaves torch's setting.
        scan: How the model runs sequences in training and test: ``parallel``,
            ``sequential`` (same results) or ``auto``, the faster on a CPU: parallel for the
            diagonal recurrence, sequential for DeltaNet (its parallel scan multiplies
            state x state matrices; about 3x slower on 2 CPU cores at length 40).
    """

    task: str = "parity"
    steps: int = 600
    batch_size: int = 64
    lr: float = 1e-2
    min_length: int = 3
    max_length: int = 40
    supervision: str | None = None
    test_lengths: tuple[int, ...] = (40, 128, 256)
    test_samples: int = 512
    seed: int = 0
    stop_loss: float = 0.0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    threads: int | None = None
    scan: str = "auto"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"unknown task {self.task!r}; known tasks: {', '.join(TASKS)}")
        for name in ("steps", "batch_size", "min_length", "max_length", "test_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if self.min_length > self.max_length:
            raise InputError(f"min_length {self.min_length} exceeds max_length {self.max_length}")
        if self.supervision is not None and self.supervision not in SUPERVISIONS:
            raise InputError(
                f"supervision must be one of {SUPERVISIONS} or None, got {self.supervision!r}"
            )
        if self.supervision == "prefixes" and not TASKS[self.task].prefix_labels:
            raise InputError(f"task {self.task} labels only whole sequences: use 'last'")
        object.__setattr__(self, "test_lengths", tuple(int(n) for n in self.test_lengths))
        if not self.test_lengths or min(self.test_lengths) < 1:
            raise InputError(f"test_lengths must be positive, got {self.test_lengths}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be a positive number, got {self.lr}")
        if self.scan not in SCAN_CHOICES:
            raise InputError(f"scan must be auto, parallel or sequential, got {self.scan!r}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be >= 1, got {self.threads}")

    def resolved_scan(self, arch: LRNNArch) -> str:
        if self.scan != "auto":
            return self.scan
        return "sequential" if arch.recurrence == "deltanet" else "parallel"

    @property
    def resolved_supervision(self) -> str:
        if self.supervision is not None:
            return self.supervision
        return "prefixes" if TASKS[self.task].prefix_labels else "last"


@dataclass
class TrainResult:
    """A trained model with its test accuracies and training record."""

    model: object
    arch: LRNNArch
    config: TrainConfig
    accuracy: dict[int, float]
    """Test accuracy per requested length (the sequence's last-position prediction)."""
    train_seconds: float
    eval_seconds: float
    steps_run: int
    final_loss: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)

    def metrics(self) -> dict:
        """JSON-ready record (what `train_and_save` writes to metrics.json)."""
        task = create_task(self.config.task)
        return {
            "arch": str(self.arch),
            "task": self.config.task,
            "accuracy": {str(n): acc for n, acc in self.accuracy.items()},
            "tested_length": {str(n): task.valid_length(n) for n in self.accuracy},
            "chance_accuracy": 1 / task.num_classes,
            "test_samples": self.config.test_samples,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "steps_run": self.steps_run,
            "final_loss": self.final_loss,
            "loss_curve": self.loss_curve,
            "train_config": to_json(self.config, versioned=False),
            "supervision": self.config.resolved_supervision,
            "scan": self.config.resolved_scan(self.arch),
        }


def _lr_factor(step: int, steps: int) -> float:
    warmup = max(1, steps // 20)
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train_lrnn(
    arch: LRNNArch | str,
    config: TrainConfig | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Trains ``arch`` on ``config.task`` with Adam and tests it at ``config.test_lengths``.

    Args:
        arch: The architecture (or its string).
        config: Training settings; default `TrainConfig()`.
        progress: Called as ``progress(step, mean_recent_loss)`` every 50 steps.
    """
    import torch
    import torch.nn.functional as F

    from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel

    config = config or TrainConfig()
    arch = LRNNArch.from_string(arch) if isinstance(arch, str) else arch
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    task = create_task(config.task)
    torch.manual_seed(config.seed)
    scan = config.resolved_scan(arch)
    model = LRNNModel(LRNNConfig(arch, task.vocab_size, task.num_classes, scan))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, config.steps)
    )
    rng = np.random.default_rng(config.seed)
    supervision = config.resolved_supervision
    recent: list[float] = []
    curve: list[tuple[int, float]] = []
    start = time.perf_counter()
    model.train()
    step = 0
    for step in range(1, config.steps + 1):
        batch = training_batch(
            task, rng, config.batch_size, config.min_length, config.max_length, supervision
        )
        logits = model(torch.from_numpy(batch.tokens))
        mask = torch.from_numpy(batch.mask)
        loss = F.cross_entropy(logits[mask], torch.from_numpy(batch.targets)[mask])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        recent = (recent + [loss.item()])[-20:]
        mean_loss = sum(recent) / len(recent)
        if step % 50 == 0:
            curve.append((step, mean_loss))
            if progress is not None:
                progress(step, mean_loss)
        if len(recent) == 20 and mean_loss < config.stop_loss:
            break
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = evaluate(
        model, config.task, config.test_lengths, config.test_samples, seed=config.seed + 1
    )
    return TrainResult(
        model=model,
        arch=arch,
        config=config,
        accuracy=accuracy,
        train_seconds=train_seconds,
        eval_seconds=time.perf_counter() - start,
        steps_run=step,
        final_loss=sum(recent) / max(1, len(recent)),
        loss_curve=curve,
    )


def evaluate(
    model, task_name: str, lengths, samples: int, seed: int = 1, chunk: int = 256
) -> dict[int, float]:
    """Accuracy of the last-position prediction on fresh sequences of each length.

    The model runs in eval mode with its configured scan, `chunk` sequences at a time.
    """
    import torch

    task = create_task(task_name)
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for length in lengths:
            rng = np.random.default_rng([seed, int(length)])
            tokens, labels = task.sample(rng, samples, length)
            correct = 0
            for i in range(0, samples, chunk):
                logits = model(torch.from_numpy(tokens[i : i + chunk]))[:, -1]
                correct += int((logits.argmax(-1).numpy() == labels[i : i + chunk]).sum())
            accuracy[int(length)] = correct / samples
    return accuracy


def save_model(model, out_dir: str | Path, extra: dict | None = None) -> Path:
    """Writes ``model.safetensors`` and ``config.json`` (the `LRNNConfig`, plus `extra`)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, out_dir / MODEL_FILE)
    record = {"model": to_json(model.config, versioned=False), **(extra or {})}
    (out_dir / CONFIG_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return out_dir


def load_model(model_dir: str | Path):
    """The `LRNNModel` saved in `model_dir` by `save_model`, in eval mode.

    Raises:
        InputError: when the folder lacks either file or they do not match.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel

    model_dir = Path(model_dir)
    for name in (MODEL_FILE, CONFIG_FILE):
        if not (model_dir / name).is_file():
            raise InputError(
                f"{model_dir} holds no {name}; give a folder written by `hwnas lrnn train`"
            )
    try:
        record = json.loads((model_dir / CONFIG_FILE).read_text())
        config = from_json(LRNNConfig, record["model"], source=str(model_dir / CONFIG_FILE))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise InputError(f"{model_dir / CONFIG_FILE} is not an LRNN config: {err}") from err
    model = LRNNModel(config)
    try:
        weights = load_file(model_dir / MODEL_FILE)
    except (SafetensorError, OSError) as err:
        raise InputError(f"{model_dir / MODEL_FILE}: unreadable weights ({err})") from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise InputError(f"{model_dir / MODEL_FILE} does not match {config.arch}: {err}") from err
    return model.eval()


def train_and_save(arch: LRNNArch | str, config: TrainConfig, out_dir: str | Path, progress=None):
    """`train_lrnn`, then the model and ``metrics.json`` written to `out_dir`."""
    result = train_lrnn(arch, config, progress)
    out_dir = Path(out_dir)
    save_model(result.model, out_dir, {"task": config.task})
    (out_dir / METRICS_FILE).write_text(json.dumps(result.metrics(), indent=2) + "\n")
    return result
