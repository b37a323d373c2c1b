"""The Architect: differentiable discrete cells sampled from the hypernetwork's distribution.

Both estimators return exact one-hot rows in the forward pass and a surrogate gradient in the
backward pass:

- ``gumbel``: straight-through Gumbel-softmax (Jang et al., 2017): the argmax of
  ``softmax((logits + g) / tau)`` with Gumbel noise ``g``, its gradient that of the soft sample;
- ``reinmax``: ReinMax (Liu et al., NeurIPS 2023), Heun's method on the straight-through
  estimator: with ``pi0 = softmax(logits)`` and a one-hot sample ``D ~ pi0``,
  ``pi1 = softmax(sg(log((D + softmax(logits / tau)) / 2) - logits) + logits)``,
  ``pi2 = 2 pi1 - pi0 / 2`` and the sample ``pi2 - sg(pi2) + D`` (``sg``: stop gradient).
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.errors import InputError

SAMPLERS = ("gumbel", "reinmax")


class SamplerError(InputError):
    """An unknown estimator or a temperature that is not positive."""


def sample_cells(
    logits: torch.Tensor, sampler: str = "gumbel", tau: float = 1.0, generator=None
) -> torch.Tensor:
    """One straight-through one-hot sample per row of `logits` (..., K): same shape.

    Args:
        logits: Unnormalised log-probabilities, the last dimension the choices.
        sampler: ``gumbel`` or ``reinmax``.
        tau: Temperature (> 0) of the soft sample whose gradient stands in for the hard one.
        generator: A `torch.Generator` for reproducible samples.
    """
    if sampler not in SAMPLERS:
        raise SamplerError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    if not tau > 0:
        raise SamplerError(f"the temperature must be positive, got {tau}")
    if sampler == "gumbel":
        uniform = torch.rand(logits.shape, generator=generator, dtype=logits.dtype)
        gumbel = -torch.log((-torch.log(uniform.clamp_min(1e-20))).clamp_min(1e-20))
        soft = ((logits + gumbel) / tau).softmax(-1)
        hard = nn.functional.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
        return hard - soft.detach() + soft
    pi0 = logits.softmax(-1)
    flat = pi0.detach().reshape(-1, logits.shape[-1])
    drawn = torch.multinomial(flat, 1, generator=generator).reshape(logits.shape[:-1])
    hard = nn.functional.one_hot(drawn, logits.shape[-1]).to(pi0.dtype)
    pi1 = (hard + (logits / tau).softmax(-1)) / 2
    pi1 = ((pi1.log() - logits).detach() + logits).softmax(-1)
    pi2 = 2 * pi1 - pi0 / 2
    return pi2 - pi2.detach() + hard


def most_likely(logits: torch.Tensor) -> torch.Tensor:
    """The mode of the distribution: one-hot argmax rows, same shape as `logits`."""
    return nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
