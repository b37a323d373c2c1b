"""The DARTS search job, with DARTS-ES and DARTS-ADA: library function behind `hwnas darts search`.

Each epoch: alternating architecture steps (on a validation batch) and weight steps (SGD with
momentum, cosine learning rate, L2 factor `weight_decay`) over the training half of the data;
then the dominant eigenvalue of the validation-loss Hessian w.r.t. the alphas on a fixed
validation batch, the current discrete architecture, and for NAS-Bench-201 that cell's
CIFAR-10 test accuracy from the shipped table. Every epoch's full state is kept in memory so
ES/ADA can roll back to it; every ES/ADA decision is a dict in `SearchResult.events`.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hwnas.core.datasets import ImageData
from hwnas.core.serialize import to_json
from hwnas.core.spaces.base import UnknownSpaceError, cell_spaces, create_space
from hwnas.core.spaces.darts_genotype import ArchitectureDivergedError
from hwnas.core.spaces.darts_space import DartsSpace
from hwnas.core.spaces.nb201 import NB201Space
from hwnas.core.spaces.nb201_supernet import ArchWeightsError
from hwnas.errors import DivergedError, InputError
from hwnas.methods.darts.architect import Architect, ArchitectConfig
from hwnas.methods.darts.hessian import arch_hessian_eigenvalue
from hwnas.methods.darts.robust import MODES, RobustConfig, Trigger, check_trigger
from hwnas.methods.darts.search_model import CellSearchNetwork, NB201SearchModel

PLAIN_MODE = MODES[0]
"""Plain DARTS: a trigger is only recorded, never acted on."""
log = logging.getLogger(__name__)


class SearchDivergedError(DivergedError):
    """The search diverged (NaN eigenvalue or alphas) with no earlier state to return."""


@dataclass(frozen=True)
class SearchConfig:
    """What to search and how.

    Attributes:
        space: `darts`, `s1`..`s4` or `nb201`.
        mode: `darts` (plain), `es` (early stop) or `ada` (adaptive L2).
        epochs: Search epochs.
        batch_size: Images per weight and architecture step.
        steps_per_epoch: Weight steps per epoch; None: one pass over the training half.
        channels: Channels of the first cells.
        layers: Cells of the DARTS cell network; for nb201, cells per stage.
        w_lr, w_lr_min: Cosine schedule of the weights' SGD learning rate.
        w_momentum: SGD momentum.
        weight_decay: The weights' L2 factor (ADA multiplies it).
        grad_clip: Gradient-norm clip of the weight step.
        architect: The architecture optimiser and order.
        robust: ES/ADA settings (also used to log would-be triggers in `darts` mode).
        eigen_batch: Validation images in the Hessian's batch.
        eigen_iters: Most power iterations of the eigenvalue.
        seed: Seed of weights, alphas, batches and the data split.
    """

    space: str = "nb201"
    mode: str = "darts"
    epochs: int = 20
    batch_size: int = 64
    steps_per_epoch: int | None = None
    channels: int = 8
    layers: int = 1
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    architect: ArchitectConfig = field(default_factory=ArchitectConfig)
    robust: RobustConfig = field(default_factory=RobustConfig)
    eigen_batch: int = 128
    eigen_iters: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in cell_spaces():  # the spaces built of a searched cell
            raise UnknownSpaceError(
                f"unknown search space {self.space!r}; known: {', '.join(cell_spaces())}"
            )
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if min(self.epochs, self.batch_size, self.channels, self.layers, self.eigen_batch) < 1:
            raise InputError("epochs, batch_size, channels, layers, eigen_batch must be >= 1")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise InputError("steps_per_epoch must be >= 1")
        if not (self.w_lr > 0 and 0 <= self.w_lr_min <= self.w_lr and self.weight_decay >= 0):
            raise InputError("need w_lr > 0, 0 <= w_lr_min <= w_lr and weight_decay >= 0")


@dataclass(frozen=True)
class EpochRecord:
    """What one search epoch measured (`run` counts the ADA restarts, from 0)."""

    run: int
    epoch: int
    lr: float
    weight_decay: float
    train_loss: float
    train_acc: float
    valid_acc: float
    eigenvalue: float
    eigen_iterations: int
    arch: str | None
    table_accuracy: float | None
    seconds: float


@dataclass(frozen=True)
class SearchResult:
    """The found architecture and how the search went.

    Attributes:
        arch: The final architecture (`Genotype` or `NB201Arch`).
        arch_epoch: The epoch whose architecture it is (ES returns an earlier one).
        table_accuracy: NB201 CIFAR-10 test accuracy of `arch` from the shipped table, else None.
        records: Every epoch of every run, in the order they ran.
        events: Every ES/ADA decision, as dicts.
    """

    config: SearchConfig
    arch: object
    arch_epoch: int
    table_accuracy: float | None
    records: tuple[EpochRecord, ...]
    events: tuple[dict, ...]


def build_search_model(
    config: SearchConfig, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """The search model of `config.space` for images of `input_shape` (C, H, W).

    A DARTS cell space (`DartsSpace`) is searched by `CellSearchNetwork` over its per-edge
    candidates; NB201 by its weight-sharing supernet (`NB201SearchModel`).
    """
    space = create_space(config.space)
    if isinstance(space, DartsSpace):
        return CellSearchNetwork(
            space.cells,
            config.channels,
            config.layers,
            num_classes,
            input_shape[0],
            config.seed,
        )
    if isinstance(space, NB201Space):
        return NB201SearchModel(
            num_classes, config.channels, config.layers, input_shape[0], config.seed
        )
    raise UnknownSpaceError(f"DARTS has no search model for space {config.space!r}")


def _table_accuracy(arch) -> float | None:
    from hwnas.core.spaces.nb201 import NB201Arch
    from hwnas.core.tables import load_accuracy_table

    if not isinstance(arch, NB201Arch):
        return None
    return load_accuracy_table().by_arch("cifar10_test_acc").get(str(arch))


def _accuracy(model: nn.Module, data: ImageData, batch_size: int = 256) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x = torch.from_numpy(data.x[start : start + batch_size])
            correct += int((model(x).argmax(1).numpy() == data.y[start : start + batch_size]).sum())
    model.train()
    return 100.0 * correct / max(len(data), 1)


class _Search:
    """The state of one search: model, optimisers, data, snapshots, records and events."""

    def __init__(self, config: SearchConfig, train: ImageData, valid: ImageData) -> None:
        torch.manual_seed(config.seed)
        self.config = config
        self.train, self.valid = train, valid
        self.model = build_search_model(config, train.input_shape, train.num_classes)
        self.weight_decay = config.weight_decay
        self.w_optimizer = torch.optim.SGD(
            self.model.weight_parameters(),
            config.w_lr,
            momentum=config.w_momentum,
            weight_decay=self.weight_decay,
        )
        self.architect = Architect(self.model, config.architect)
        self.rng = np.random.default_rng(config.seed)
        self.eigen_batch = (
            torch.from_numpy(valid.x[: config.eigen_batch]),
            torch.from_numpy(valid.y[: config.eigen_batch]),
        )
        self.snapshots: dict[int, dict] = {}
        self.eigenvalues: list[float] = []  # of the current run, epoch 0..t
        self.records: list[EpochRecord] = []
        self.events: list[dict] = []
        self.run = 0

    def lr(self, epoch: int) -> float:
        c = self.config
        return c.w_lr_min + 0.5 * (c.w_lr - c.w_lr_min) * (1 + math.cos(math.pi * epoch / c.epochs))

    def _batch(self, data: ImageData, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(data.x[rows]), torch.from_numpy(data.y[rows])

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        c, model = self.config, self.model
        lr = self.lr(epoch)
        for group in self.w_optimizer.param_groups:
            group["lr"], group["weight_decay"] = lr, self.weight_decay
        order = self.rng.permutation(len(self.train))
        steps = c.steps_per_epoch or max(1, len(self.train) // c.batch_size)
        criterion, losses, correct, seen = nn.CrossEntropyLoss(), [], 0, 0
        model.train()
        for step in range(steps):
            start = (step * c.batch_size) % max(1, len(self.train) - c.batch_size + 1)
            train_batch = self._batch(self.train, order[start : start + c.batch_size])
            valid_rows = self.rng.choice(
                len(self.valid), min(c.batch_size, len(self.valid)), replace=False
            )
            self.architect.step(
                train_batch, self._batch(self.valid, valid_rows), lr, self.w_optimizer
            )
            self.w_optimizer.zero_grad(set_to_none=True)
            logits = model(train_batch[0])
            loss = criterion(logits, train_batch[1])
            loss.backward()
            nn.utils.clip_grad_norm_(model.weight_parameters(), c.grad_clip)
            self.w_optimizer.step()
            losses.append(float(loss.detach()))
            correct += int((logits.argmax(1) == train_batch[1]).sum())
            seen += len(train_batch[1])
        return float(np.mean(losses)), 100.0 * correct / seen

    def snapshot(self, epoch: int) -> None:
        """Keeps the state after `epoch`, dropping those no rollback can reach any more."""
        oldest = epoch - self.config.robust.window // 2 - self.config.robust.k
        self.snapshots = {e: s for e, s in self.snapshots.items() if e >= oldest}
        self.snapshots[epoch] = copy.deepcopy(
            {
                "model": self.model.state_dict(),
                "w_optimizer": self.w_optimizer.state_dict(),
                "a_optimizer": self.architect.optimizer.state_dict(),
                "rng": self.rng.bit_generator.state,
                "eigenvalues": list(self.eigenvalues),
            }
        )

    def restore(self, epoch: int) -> None:
        state = copy.deepcopy(self.snapshots[epoch])
        self.model.load_state_dict(state["model"])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.architect.optimizer.load_state_dict(state["a_optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.eigenvalues = state["eigenvalues"]
        self.snapshots = {e: s for e, s in self.snapshots.items() if e <= epoch}

    def derive(self):
        """The current architecture, or None when the alphas are not finite."""
        try:
            return self.model.derive()
        except (ArchitectureDivergedError, ArchWeightsError):
            return None


def _event(action: str, trigger: Trigger, search: _Search, **extra) -> dict:
    event = {"action": action, "run": search.run, **to_json(trigger, versioned=False), **extra}
    log.info("darts %s: %s", action, event)
    return event


def run_search(
    config: SearchConfig,
    train: ImageData,
    valid: ImageData,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> SearchResult:
    """Runs DARTS (or DARTS-ES / DARTS-ADA) and returns the architecture and the trajectory.

    Args:
        config: The search settings.
        train: Images for the weight steps.
        valid: Images for the architecture steps and the Hessian.
        on_epoch: Called with each epoch's record as it completes.

    Raises:
        SearchDivergedError: when the eigenvalue or alphas diverge in `darts` mode, or in
            `es`/`ada` mode before any epoch to roll back to.
    """
    search, c = _Search(config, train, valid), config
    epoch, arch_epoch = 0, c.epochs - 1
    while epoch < c.epochs:
        started = time.perf_counter()
        train_loss, train_acc = search.train_epoch(epoch)
        eigen = arch_hessian_eigenvalue(
            search.model, search.eigen_batch, c.eigen_iters, seed=c.seed + epoch
        )
        arch = search.derive()
        value = eigen.value if arch is not None else float("nan")
        search.eigenvalues.append(value)
        record = EpochRecord(
            search.run, epoch, search.lr(epoch), search.weight_decay, train_loss, train_acc,
            _accuracy(search.model, valid), value, eigen.iterations,
            None if arch is None else str(arch), None if arch is None else _table_accuracy(arch),
            time.perf_counter() - started,
        )  # fmt: skip
        search.records.append(record)
        if on_epoch is not None:
            on_epoch(record)
        search.snapshot(epoch)
        trigger = check_trigger(search.eigenvalues, c.robust)
        if trigger is None:
            epoch += 1
            continue
        diverged = trigger.reason == "eigenvalue_not_finite"
        if c.mode == PLAIN_MODE:
            if diverged:
                raise SearchDivergedError(
                    f"epoch {epoch}: the architecture Hessian's eigenvalue is not finite (the "
                    "search diverged); lower the learning rates or use --mode es/ada, which "
                    "roll back"
                )
            search.events.append(_event("would_trigger_ignored", trigger, search, mode=PLAIN_MODE))
            epoch += 1
            continue
        if trigger.rollback_epoch < 0:
            raise SearchDivergedError(
                f"epoch {epoch}: the eigenvalue is not finite and there is no earlier epoch "
                "to roll back to; lower the learning rates"
            )
        at_max = search.weight_decay >= c.robust.max_weight_decay * (1 - 1e-9)
        if c.mode == "ada" and not at_max:
            old = search.weight_decay
            search.restore(trigger.rollback_epoch)
            search.weight_decay = min(old * c.robust.multiplier, c.robust.max_weight_decay)
            search.run += 1
            search.events.append(
                _event(
                    "rollback_increase_l2",
                    trigger,
                    search,
                    weight_decay_before=old,
                    weight_decay_after=search.weight_decay,
                    resume_epoch=trigger.rollback_epoch + 1,
                )
            )
            epoch = trigger.rollback_epoch + 1
            continue
        if c.mode == "ada" and not diverged:
            search.events.append(
                _event("l2_at_max_continue", trigger, search, weight_decay=search.weight_decay)
            )
            epoch += 1
            continue
        search.restore(trigger.rollback_epoch)
        arch_epoch = trigger.rollback_epoch
        search.events.append(
            _event("early_stop_rollback", trigger, search, architecture=str(search.derive()))
        )
        break
    final = search.derive()
    if final is None:  # never a silent wrong cell
        raise SearchDivergedError(
            "the final architecture weights are not finite: the search diverged"
        )
    return SearchResult(
        config,
        final,
        arch_epoch,
        _table_accuracy(final),
        tuple(search.records),
        tuple(search.events),
    )
