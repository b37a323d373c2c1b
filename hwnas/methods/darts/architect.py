"""The DARTS architecture step: first order, or second order through one unrolled weight step.

Liu et al., "DARTS: Differentiable Architecture Search", ICLR 2019, eq. (6)-(8). With
w' = w - xi * grad_w L_train(w, alpha) (xi the weights' learning rate, the weight decay and
momentum of the weight optimizer included), the second-order gradient is

    grad_alpha L_val(w', alpha) - xi * grad2_{alpha,w} L_train(w, alpha) . grad_w' L_val(w', alpha)

whose Hessian-vector product is the central finite difference

    (grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)) / (2 eps),
    w+- = w +- eps * grad_w' L_val(w', alpha),  eps = 0.01 / ||grad_w' L_val(w', alpha)||.

The unrolled weights are written into the model in place and restored afterwards, together with
its buffers (BatchNorm statistics), so the step leaves the weights exactly as it found them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ArchitectConfig:
    """The architecture optimiser (Adam, as in DARTS) and the order of the step.

    Attributes:
        order: 1 (gradient of L_val at the current weights) or 2 (through one unrolled step).
        lr: Adam learning rate of the alphas.
        beta1: Adam's first beta (DARTS: 0.5).
        beta2: Adam's second beta.
        weight_decay: L2 on the alphas.
        fd_radius: Numerator of the finite-difference radius eps = fd_radius / ||dw'||.
    """

    order: int = 1
    lr: float = 3e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-3
    fd_radius: float = 0.01

    def __post_init__(self) -> None:
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {self.order}")
        if not (self.lr > 0 and self.fd_radius > 0 and self.weight_decay >= 0):
            raise ValueError("lr and fd_radius must be positive, weight_decay non-negative")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError("Adam betas must lie in [0, 1)")


def _grads(loss: torch.Tensor, params: list[nn.Parameter]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


class Architect:
    """Updates a search model's alphas.

    The model has `arch_parameters()`, `weight_parameters()` and `forward(x) -> logits`.
    """

    def __init__(self, model: nn.Module, config: ArchitectConfig | None = None) -> None:
        self.model = model
        self.config = config or ArchitectConfig()
        self.optimizer = torch.optim.Adam(
            model.arch_parameters(),
            lr=self.config.lr,
            betas=(self.config.beta1, self.config.beta2),
            weight_decay=self.config.weight_decay,
        )
        self.criterion = nn.CrossEntropyLoss()

    def _loss(self, batch: Batch) -> torch.Tensor:
        x, y = batch
        return self.criterion(self.model(x), y)

    def step(
        self,
        train_batch: Batch,
        valid_batch: Batch,
        w_lr: float,
        w_optimizer: torch.optim.Optimizer | None = None,
    ) -> float:
        """One Adam step of the alphas; returns the validation loss it was computed from.

        Args:
            train_batch: (x, y) of the training split (used by the second order only).
            valid_batch: (x, y) of the validation split.
            w_lr: The weights' current learning rate xi.
            w_optimizer: The weights' SGD optimizer, whose momentum buffers and weight decay
                the unrolled step uses (second order only).
        """
        alphas = self.model.arch_parameters()
        if self.config.order == 1:
            loss = self._loss(valid_batch)
            grads = _grads(loss, alphas)
        else:
            loss, grads = self.unrolled_gradient(train_batch, valid_batch, w_lr, w_optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        for alpha, grad in zip(alphas, grads):
            alpha.grad = grad.detach()
        self.optimizer.step()
        return float(loss.detach())

    def unrolled_gradient(
        self,
        train_batch: Batch,
        valid_batch: Batch,
        w_lr: float,
        w_optimizer: torch.optim.Optimizer | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The second-order architecture gradient (see the module docstring) and L_val(w')."""
        weights = self.model.weight_parameters()
        alphas = self.model.arch_parameters()
        momentum, decay, buffers = 0.0, 0.0, [None] * len(weights)
        if w_optimizer is not None:
            group = w_optimizer.param_groups[0]
            momentum, decay = group.get("momentum", 0.0), group.get("weight_decay", 0.0)
            buffers = [w_optimizer.state.get(p, {}).get("momentum_buffer") for p in weights]
        saved_weights = [p.detach().clone() for p in weights]
        saved_buffers = [b.detach().clone() for b in self.model.buffers()]
        try:
            train_grads = _grads(self._loss(train_batch), weights)
            with torch.no_grad():
                for p, w, g, buf in zip(weights, saved_weights, train_grads, buffers):
                    step = g + decay * w
                    if buf is not None and momentum:
                        step = step + momentum * buf
                    p.copy_(w - w_lr * step)
            valid_loss = self._loss(valid_batch)
            grads = _grads(valid_loss, alphas + weights)
            d_alpha, d_weights = grads[: len(alphas)], grads[len(alphas) :]
            norm = torch.sqrt(sum((d * d).sum() for d in d_weights))
            radius = self.config.fd_radius / max(float(norm), 1e-12)
            implicit = []
            for sign in (1.0, -1.0):
                with torch.no_grad():
                    for p, w, d in zip(weights, saved_weights, d_weights):
                        p.copy_(w + sign * radius * d)
                implicit.append(_grads(self._loss(train_batch), alphas))
            hessian_vector = [(gp - gn) / (2 * radius) for gp, gn in zip(*implicit)]
            result = [da - w_lr * hv for da, hv in zip(d_alpha, hessian_vector)]
        finally:
            with torch.no_grad():
                for p, w in zip(weights, saved_weights):
                    p.copy_(w)
                for b, saved in zip(self.model.buffers(), saved_buffers):
                    b.copy_(saved)
        return valid_loss.detach(), result
