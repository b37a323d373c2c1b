"""The trainer of deployable networks: one epoch loop with checkpoints, resume and DDP.

Each epoch draws its batch order from a `DistributedSampler` seeded by (seed, epoch) (one
replica when there is one process) and its augmentation from a generator seeded by (seed,
epoch, rank); nothing else in the loop is random. A run resumed from the checkpoint of epoch
k therefore repeats epochs k+1.. exactly: on the CPU its final weights equal bit for bit those
of a run never interrupted.

Model selection: the weights returned (and shipped) are those of the epoch with the best
validation accuracy, the later epoch on a tie; the test split is never looked at here.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hwnas.core.datasets import ImageData, SplitDataset
from hwnas.errors import DivergedError
from hwnas.methods.training.augment import augment_batch
from hwnas.methods.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from hwnas.methods.training.config import TrainConfig, augmentation_for
from hwnas.methods.training.distributed import DistContext, sum_over_processes
from hwnas.methods.training.progress import SilentProgress

LOG_FILE = "train_log.jsonl"
_EVAL_BATCH = 256


@dataclass(frozen=True)
class FitResult:
    """What `fit` did.

    Attributes:
        best_epoch: The epoch (1-based) whose weights the model now holds.
        best_val_accuracy: Its validation accuracy (percent).
        history: One record per epoch (the lines of the JSONL log).
        resumed_from: Epochs restored from a checkpoint (0: a fresh start).
        images_per_s: Training images per second over the epochs this call ran (all
            processes together); None if it ran none.
        train_seconds: Training time of all epochs, resumed ones included.
    """

    best_epoch: int
    best_val_accuracy: float
    history: tuple[dict[str, Any], ...]
    resumed_from: int
    images_per_s: float | None
    train_seconds: float


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimiser groups: weights of convolutions and linear layers (decayed) and the
    rest, norms' scales and every bias (not decayed)."""
    decayed, plain = [], []
    for _, parameter in sorted(model.named_parameters()):
        if parameter.requires_grad:
            (decayed if parameter.ndim > 1 else plain).append(parameter)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum or AdamW, no decay on norms and biases."""
    groups = parameter_groups(model, config.decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.peak_lr)
    return torch.optim.SGD(groups, lr=config.peak_lr, momentum=config.momentum, nesterov=True)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """The multiplier of the peak learning rate at optimiser step `step` (0-based).

    Linear warm-up over `warmup` steps ((step + 1) / warmup), then a half cosine from 1 to 0
    over the remaining steps.
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def evaluate(model: nn.Module, data: ImageData, device: torch.device) -> tuple[float, float]:
    """(top-1 accuracy in percent, mean cross-entropy) of `model` in eval mode on `data`."""
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(data), _EVAL_BATCH):
            x = torch.from_numpy(data.x[start : start + _EVAL_BATCH]).to(device)
            y = torch.from_numpy(data.y[start : start + _EVAL_BATCH]).to(device)
            logits = model(x).float()
            correct += int((logits.argmax(1) == y).sum())
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
    count = max(len(data), 1)
    return 100.0 * correct / count, loss / count


def _amp(config: TrainConfig, device: torch.device) -> tuple[bool, torch.dtype | None, bool]:
    """(autocast on, its dtype, gradient scaler on): bf16 where the GPU has it, else fp16."""
    if not (config.amp and device.type == "cuda"):
        return False, None, False
    bf16 = torch.cuda.is_bf16_supported()
    return True, (torch.bfloat16 if bf16 else torch.float16), not bf16


def _diverged(epoch: int, step: int, lr: float, config: TrainConfig) -> DivergedError:
    other = "sgd" if config.optimizer == "adamw" else "adamw"
    return DivergedError(
        f"training diverged: the loss became NaN/inf at epoch {epoch}, step {step} (learning "
        f"rate {lr:.3g}); rerun with a lower --lr (e.g. {config.peak_lr / 10:.3g}), a longer "
        f"warm-up or --optimizer {other}, with --force"
    )


def fit(
    model: nn.Module,
    data: SplitDataset,
    config: TrainConfig,
    out_dir: str | Path,
    ctx: DistContext,
    *,
    run_key: dict[str, Any] | None = None,
    progress=None,
) -> FitResult:
    """Train `model` (a `DeployableNetwork`: raw pixels in) on `data.train` in place.

    Checkpoints after every epoch into `out_dir`/checkpoint (rank 0), resumes from one left
    there whose `run_key` matches, appends each epoch's record to `out_dir`/train_log.jsonl,
    and leaves `model` holding the best validation epoch's weights, in eval mode.

    Raises:
        CheckpointError: a checkpoint of another run (`run_key` differs) or a damaged one.
        DivergedError: the training loss became NaN or infinite.
    """
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    out_dir = Path(out_dir)
    progress = progress if (progress is not None and ctx.is_main) else SilentProgress()
    run_key = run_key or {}
    device = ctx.device
    if config.batch_size % ctx.world_size:
        raise CheckpointError(
            f"--batch-size {config.batch_size} is not divisible by the {ctx.world_size} processes"
        )
    per_rank = config.batch_size // ctx.world_size
    augmentation = augmentation_for(config, data.name, data.input_shape)
    train = TensorDataset(torch.from_numpy(data.train.x), torch.from_numpy(data.train.y))
    sampler = DistributedSampler(
        train, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed
    )
    drop_last = len(sampler) >= per_rank
    loader = DataLoader(
        train,
        batch_size=per_rank,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=0,
        pin_memory=device.type == "cuda",
    )
    steps = len(loader)
    autocast, amp_dtype, scaled = _amp(config, device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    warmup = min(config.warmup_epochs, config.epochs - 1) * steps
    total = config.epochs * steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=scaled)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    history: list[dict[str, Any]] = []
    best_epoch, best_acc = 0, -1.0
    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    checkpoint = load_checkpoint(out_dir)
    start = 0
    if checkpoint is not None:
        if checkpoint.run_key != run_key:
            raise CheckpointError(
                f"{out_dir}/checkpoint was written by a run with other settings or data; "
                "rerun with --force to start over"
            )
        model.load_state_dict(checkpoint.weights)
        optimizer.load_state_dict(checkpoint.optimizer)
        scheduler.load_state_dict(checkpoint.scheduler)
        if scaled and checkpoint.scaler:
            scaler.load_state_dict(checkpoint.scaler)
        restore_rng(checkpoint.rng)
        start, history = checkpoint.epoch, list(checkpoint.history)
        best_epoch, best_acc = checkpoint.best_epoch, checkpoint.best_val_accuracy
        best_state = checkpoint.best_weights
        progress.note(f"resumed from the checkpoint of epoch {start}/{config.epochs}")
    if ctx.is_main:
        lines = "".join(json.dumps(record) + "\n" for record in history)
        (out_dir / LOG_FILE).write_text(lines, encoding="utf-8")

    net = model
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)

    ran_images, ran_seconds = 0, 0.0
    for epoch in range(start, config.epochs):
        sampler.set_epoch(epoch)
        generator = torch.Generator().manual_seed(
            int(np.random.SeedSequence([config.seed, epoch, ctx.rank]).generate_state(1)[0])
        )
        progress.start_epoch(epoch + 1, config.epochs, steps)
        net.train()
        began, loss_sum, seen = time.perf_counter(), 0.0, 0
        for step, (x, y) in enumerate(loader):
            x = augment_batch(x, augmentation, generator)
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=autocast):
                loss = criterion(net(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise _diverged(epoch + 1, step + 1, scheduler.get_last_lr()[0], config)
            scaler.scale(loss).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += value * len(y)
            seen += len(y)
            elapsed = time.perf_counter() - began
            progress.step(step + 1, loss_sum / seen, seen * ctx.world_size / max(elapsed, 1e-9))
        loss_sum, seen = sum_over_processes(ctx, [loss_sum, float(seen)])
        seconds = time.perf_counter() - began
        val_acc, val_loss = evaluate(model, data.val, device)
        if val_acc >= best_acc:
            best_epoch, best_acc = epoch + 1, val_acc
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        record = {
            "epoch": epoch + 1,
            "epochs": config.epochs,
            "train_loss": loss_sum / max(seen, 1),
            "val_accuracy": val_acc,
            "val_loss": val_loss,
            "lr": scheduler.get_last_lr()[0],
            "images_per_s": seen / seconds,
            "seconds": seconds,
        }
        history.append(record)
        ran_images, ran_seconds = ran_images + int(seen), ran_seconds + seconds
        if ctx.is_main:
            save_checkpoint(
                out_dir,
                Checkpoint(
                    epoch=epoch + 1,
                    weights=model.state_dict(),
                    best_weights=best_state,
                    best_epoch=best_epoch,
                    best_val_accuracy=best_acc,
                    optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict(),
                    scaler=scaler.state_dict() if scaled else {},
                    history=history,
                    run_key=run_key,
                    rng=capture_rng(),
                ),
            )
            with open(out_dir / LOG_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        progress.end_epoch(record)
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(
        best_epoch=best_epoch,
        best_val_accuracy=best_acc,
        history=tuple(history),
        resumed_from=start,
        images_per_s=ran_images / ran_seconds if ran_seconds > 0 else None,
        train_seconds=float(sum(r["seconds"] for r in history)),
    )
