"""MODNAS training: one MetaHypernetwork for every device and every preference.

Each step draws a preference vector ``r ~ Dirichlet(beta)`` over the M objectives; for every
training device t the hypernetwork gives cell logits ``H(r, d_t)``, the Architect samples
cells, and the scalarised loss ``r^T L_t`` (accuracy error, then the device's hardware
objectives, each scaled to [0, 1] over the space) gives a gradient ``g_t`` of the hypernetwork's
weights. Multiple gradient descent (Desideri 2012) steps along the min-norm point of the convex
hull of the ``g_t``, a direction that does not increase any device's loss to first order. In
supernet mode the accuracy objective first takes its lower-level step (supernet weights on a
training batch) with `samples` of the cells just sampled for one device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from hwnas.errors import InputError
from hwnas.methods.modnas.architect import SAMPLERS, sample_cells
from hwnas.methods.modnas.hypernetwork import CELL_SHAPE, MetaHypernetwork
from hwnas.methods.modnas.mgd import min_norm_weights
from hwnas.methods.modnas.objectives import AccuracyObjective, PredictedHardware

UPDATES = ("mgd", "mean")


class TrainConfigError(InputError):
    """A MODNAS training setting out of its range."""


@dataclass(frozen=True)
class TrainConfig:
    """How `train_hypernetwork` trains.

    Attributes:
        steps: Hypernetwork updates.
        learning_rate: Adam's learning rate (cosine-annealed to a tenth).
        preferences: Preference vectors drawn per step (every device sees the same ones).
        samples: Cells the Architect samples per device, preference and step.
        sampler: ``gumbel`` (straight-through Gumbel-softmax) or ``reinmax``.
        tau_start: Sampler temperature at the first step ...
        tau_end: ... annealed geometrically to this at the last.
        concentration: The Dirichlet's concentration (the same for every objective; 1 is
            uniform over the simplex).
        entropy: Weight of the distribution's mean entropy per edge, subtracted from every
            device's loss; it decays linearly to 0 at `entropy_until` of the steps. It keeps the
            distribution from collapsing on the cells the first, preference-blind updates favour
            (a saturated softmax passes no gradient, and the search would stop there).
        entropy_until: Fraction of the steps after which the entropy bonus is 0.
        update: ``mgd`` (min-norm combination of the devices' gradients) or ``mean``.
        devices_per_step: Devices whose gradients enter one step (None: all).
        hidden: Width of the hypernetwork.
        seed: Seed of initialisation, preferences, device subsets and samples.
    """

    steps: int = 1500
    learning_rate: float = 2e-3
    preferences: int = 16
    samples: int = 2
    sampler: str = "gumbel"
    tau_start: float = 1.0
    tau_end: float = 0.2
    concentration: float = 1.0
    entropy: float = 0.5
    entropy_until: float = 0.5
    update: str = "mgd"
    devices_per_step: int | None = None
    hidden: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "preferences", "samples", "hidden"):
            if getattr(self, name) < 1:
                raise TrainConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.devices_per_step is not None and self.devices_per_step < 1:
            raise TrainConfigError(f"devices_per_step must be >= 1, got {self.devices_per_step}")
        for name in ("learning_rate", "tau_start", "tau_end", "concentration"):
            if not getattr(self, name) > 0:
                raise TrainConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.entropy < 0 or not 0 < self.entropy_until <= 1:
            raise TrainConfigError(
                f"entropy must be >= 0 and entropy_until in (0, 1], got {self.entropy}, "
                f"{self.entropy_until}"
            )
        if self.sampler not in SAMPLERS:
            raise TrainConfigError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.update not in UPDATES:
            raise TrainConfigError(f"update must be one of {UPDATES}, got {self.update!r}")

    def tau(self, step: int) -> float:
        """The sampler temperature at `step` (geometric from tau_start to tau_end)."""
        fraction = step / max(self.steps - 1, 1)
        return self.tau_start * (self.tau_end / self.tau_start) ** fraction

    def entropy_weight(self, step: int) -> float:
        """The entropy bonus's weight at `step` (linear decay to 0 at `entropy_until`)."""
        return self.entropy * max(0.0, 1.0 - step / (self.entropy_until * self.steps))


@dataclass
class DeviceObjectives:
    """A training device: its embedding and its hardware objectives (latency, energy...)."""

    name: str
    embedding: np.ndarray
    hardware: Sequence[PredictedHardware]


@dataclass
class TrainResult:
    """The trained hypernetwork and how training went.

    Attributes:
        hypernetwork: In eval mode.
        history: Per logged step: step, mean scalarised loss over devices, the MGD weights'
            entropy (how evenly devices share the step), temperature.
        seconds: Wall-clock training time.
    """

    hypernetwork: MetaHypernetwork
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def train_hypernetwork(
    accuracy: AccuracyObjective,
    devices: Sequence[DeviceObjectives],
    config: TrainConfig | None = None,
    progress: Callable[[int, dict], None] | None = None,
    hypernetwork: MetaHypernetwork | None = None,
) -> TrainResult:
    """Train a MetaHypernetwork over `devices` (see the module docstring).

    Args:
        accuracy: The accuracy objective (`SurrogateAccuracy` or a supernet).
        devices: The training devices; all must have the same number of hardware objectives.
        config: Training settings.
        progress: Called as ``progress(step, record)`` about every 1 % of the steps.
        hypernetwork: Start from these weights (default: a fresh network from `config.seed`).

    Returns:
        The trained hypernetwork and its history.
    """
    config = config or TrainConfig()
    if not devices:
        raise TrainConfigError("MODNAS needs at least one training device")
    counts = {len(d.hardware) for d in devices}
    if len(counts) != 1 or 0 in counts:
        raise TrainConfigError(
            "every device needs the same, non-zero number of hardware objectives; got "
            + ", ".join(f"{d.name}: {len(d.hardware)}" for d in devices)
        )
    n_objectives = 1 + counts.pop()
    embeddings = torch.as_tensor(np.stack([d.embedding for d in devices]), dtype=torch.float32)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    if hypernetwork is None:
        hypernetwork = MetaHypernetwork(n_objectives, embeddings.shape[1], config.hidden)
    hypernetwork.train()
    params = [p for p in hypernetwork.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, config.steps, eta_min=config.learning_rate / 10
    )
    dirichlet = torch.distributions.Dirichlet(torch.full((n_objectives,), config.concentration))
    per_step = min(config.devices_per_step or len(devices), len(devices))
    log_every = max(config.steps // 100, 1)
    history: list[dict] = []
    start = time.perf_counter()
    for step in range(config.steps):
        tau = config.tau(step)
        entropy_weight = config.entropy_weight(step)
        preference = dirichlet.sample((config.preferences,))  # (P, M)
        chosen = np.sort(rng.choice(len(devices), per_step, replace=False))
        n_pref, n_dev = len(preference), len(chosen)
        logits = hypernetwork(
            preference.repeat(n_dev, 1), embeddings[chosen].repeat_interleave(n_pref, 0)
        ).reshape(n_dev, n_pref, 1, *CELL_SHAPE)
        cells = sample_cells(
            logits.expand(-1, -1, config.samples, -1, -1), config.sampler, tau, generator
        ).reshape(n_dev, n_pref * config.samples, *CELL_SHAPE)
        picked = rng.choice(n_pref * config.samples, config.samples, replace=False)
        accuracy.update(cells[int(rng.integers(n_dev)), torch.as_tensor(picked)].detach())
        losses, grads = [], []
        weight_of_sample = preference.repeat_interleave(config.samples, 0)  # (P * S, M)
        probs = logits.softmax(-1)
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean(dim=(1, 2, 3))  # (D,)
        for row, index in enumerate(chosen):
            device = devices[index]
            objectives = [accuracy.loss(cells[row])]
            objectives += [hw.loss(cells[row]) for hw in device.hardware]
            loss = (weight_of_sample * torch.stack(objectives, dim=1)).sum(1).mean()
            if entropy_weight > 0:
                loss = loss - entropy_weight * entropy[row]
            last = row == len(chosen) - 1
            grads.append(torch.autograd.grad(loss, params, retain_graph=not last))
            losses.append(float(loss.detach()))
        weights = _combine(grads, config.update)
        optimiser.zero_grad()
        for i, p in enumerate(params):
            p.grad = sum(float(w) * g[i] for w, g in zip(weights, grads))
        optimiser.step()
        schedule.step()
        if step % log_every == 0 or step == config.steps - 1:
            positive = weights[weights > 0]
            record = {
                "step": step,
                "loss": float(np.mean(losses)),
                "mgd_entropy": float(-(positive * np.log(positive)).sum()),
                "tau": tau,
            }
            history.append(record)
            if progress is not None:
                progress(step, record)
    hypernetwork.eval()
    return TrainResult(hypernetwork, history, time.perf_counter() - start)


def _combine(grads: list[tuple[torch.Tensor, ...]], update: str) -> np.ndarray:
    """Weights of the devices' gradients: the min-norm point (MGD) or the plain mean."""
    if update == "mean" or len(grads) == 1:
        return np.full(len(grads), 1.0 / len(grads))
    flat = torch.stack([torch.cat([g.reshape(-1) for g in grad]) for grad in grads])
    flat = flat.double()  # float32 products are not exactly symmetric
    gram = (flat @ flat.T).numpy()
    weights = min_norm_weights(gram)
    if not np.all(np.isfinite(weights)):
        raise FloatingPointError("the MGD weights are not finite: the gradients diverged")
    return weights


def generate_codes(
    hypernetwork: MetaHypernetwork, embedding: np.ndarray, preferences: np.ndarray
) -> np.ndarray:
    """The most likely cell (by `NB201Arch.code`) for each preference on a device: (P,) int64."""
    from hwnas.methods.modnas.objectives import weights_to_codes

    with torch.no_grad():
        logits = hypernetwork(
            torch.as_tensor(preferences, dtype=torch.float32),
            torch.as_tensor(embedding, dtype=torch.float32).expand(len(preferences), -1),
        )
    return weights_to_codes(logits)
