"""The dominant eigenvalue of a loss Hessian, from Hessian-vector products (never the matrix).

RobustDARTS (Zela et al., ICLR 2020) tracks the dominant eigenvalue of the Hessian of the
validation loss with respect to the architecture parameters. Here it is found by power
iteration on Hessian-vector products computed by double backward (Pearlmutter's trick):
H v = d/dtheta (grad_theta L . v). One gradient graph serves every product, so each iteration
costs one extra backward pass. The estimate is the Rayleigh quotient v.Hv of the last unit
vector: the eigenvalue of largest magnitude, with its sign.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EigenResult:
    """A dominant-eigenvalue estimate.

    Attributes:
        value: The Rayleigh quotient of the final vector; NaN if a product was not finite.
        iterations: Hessian-vector products used.
        converged: Whether successive estimates agreed within the relative tolerance.
    """

    value: float
    iterations: int
    converged: bool

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)


def _dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def dominant_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    max_iter: int = 20,
    rel_tol: float = 1e-3,
    seed: int = 0,
) -> EigenResult:
    """Power iteration on the Hessian of `loss_fn()` with respect to `params`.

    Args:
        loss_fn: Computes the scalar loss from `params` (called once).
        params: Tensors requiring gradients; the Hessian is over their concatenation.
        max_iter: Most Hessian-vector products.
        rel_tol: Stop when |lambda_k - lambda_{k-1}| <= rel_tol * |lambda_k|.
        seed: Seed of the random start vector.
    """
    if max_iter < 1 or rel_tol <= 0:
        raise ValueError(f"max_iter must be >= 1 and rel_tol > 0, got {max_iter}, {rel_tol}")
    params = list(params)
    loss = loss_fn()
    if not torch.isfinite(loss):
        return EigenResult(float("nan"), 0, False)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    generator = torch.Generator().manual_seed(seed)
    vector = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
    norm = torch.sqrt(_dot(vector, vector))
    vector = [v / norm for v in vector]
    estimate = float("nan")
    for iteration in range(1, max_iter + 1):
        product = torch.autograd.grad(grads, params, grad_outputs=vector, retain_graph=True)
        product = [p.detach() for p in product]
        previous, estimate = estimate, float(_dot(vector, product))
        norm = float(torch.sqrt(_dot(product, product)))
        if not (math.isfinite(estimate) and math.isfinite(norm)):
            return EigenResult(float("nan"), iteration, False)
        if norm == 0.0:
            return EigenResult(0.0, iteration, True)
        if abs(estimate - previous) <= rel_tol * abs(estimate):
            return EigenResult(estimate, iteration, True)
        vector = [p / norm for p in product]
    return EigenResult(estimate, max_iter, False)


def arch_hessian_eigenvalue(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    max_iter: int = 20,
    rel_tol: float = 1e-3,
    seed: int = 0,
) -> EigenResult:
    """The dominant eigenvalue of the architecture Hessian of the cross-entropy on `batch`.

    The Hessian is taken with respect to `model.arch_parameters()`; the model's mode is left
    as it is.
    """
    x, y = batch
    criterion = nn.CrossEntropyLoss()
    return dominant_eigenvalue(
        lambda: criterion(model(x), y), model.arch_parameters(), max_iter, rel_tol, seed
    )
