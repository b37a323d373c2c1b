"""LRNN layers in plain PyTorch: a diagonal (Mamba-like) and a DeltaNet-like mixer, blocks, model.

The eigenvalue range follows Grazzi et al., "Unlocking state-tracking in linear RNNs through
negative eigenvalues" (ICLR 2025): both mixers take a step size ``beta_t = sigmoid(z_t)`` with
range ``01`` and ``beta_t = 2 sigmoid(z_t)`` with ``11``, so the transition eigenvalues
(``a_t = 1 - beta_t`` for the diagonal mixer, ``1 - beta_t`` along the key for DeltaNet) lie
in (0, 1) or in (-1, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.core.spaces.lrnn_arch import MLP_RATIO, LRNNArch, LRNNArchError, delta_heads
from hwnas.core.spaces.lrnn_scan import (
    delta_scan_parallel,
    delta_step,
    diagonal_scan_parallel,
    diagonal_scan_sequential,
)

SCANS = ("parallel", "sequential")
STEP_SIZE_INIT = (0.01, 0.5)
"""Range of the initial sigmoid(z) of the step sizes, spread over channels (heads): most start
close to keeping their state, which eigenvalues near 1 need (and parity's 0 tokens)."""


@dataclass(frozen=True)
class LRNNConfig:
    """An LRNN network: its architecture and the task's vocabulary and classes.

    Attributes:
        arch: The architecture (recurrence, eigenvalue range, layers, width, state).
        vocab_size: Number of input token ids.
        num_classes: Number of output classes (per position).
        scan: How a full sequence is run: ``parallel`` (log-depth associative scan) or
            ``sequential`` (one step at a time); both give the same states.
    """

    arch: LRNNArch
    vocab_size: int
    num_classes: int
    scan: str = "parallel"

    def __post_init__(self) -> None:
        if isinstance(self.arch, str):
            object.__setattr__(self, "arch", LRNNArch.from_string(self.arch))
        if not isinstance(self.arch, LRNNArch):
            raise LRNNArchError(f"arch must be an LRNNArch or its string, got {self.arch!r}")
        for name in ("vocab_size", "num_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LRNNConfig.{name} must be a positive integer, got {value!r}")
        if self.scan not in SCANS:
            raise ValueError(f"LRNNConfig.scan must be one of {SCANS}, got {self.scan!r}")


def _transition_bias(n: int, low: float, high: float) -> torch.Tensor:
    """Logits z whose sigmoid spreads evenly over [low, high] (long and short memories)."""
    p = torch.linspace(low, high, n)
    return torch.log(p) - torch.log1p(-p)


class DiagonalMixer(nn.Module):
    """``h_t = a_t * h_{t-1} + b_t`` over ``state`` channels, with ``a_t, b_t`` from the input.

    Like Mamba's discretisation, the transition and the input share one step size
    ``beta_t = sigmoid(z_t)`` (or ``2 sigmoid(z_t)`` for range ``11``): ``a_t = 1 - beta_t``,
    ``b_t = beta_t * v_t``. A step size near 0 keeps the state exactly (``a = 1, b = 0``); near
    2 it flips the state's sign. This is the delta rule of `DeltaMixer` along fixed axes.
    """

    def __init__(self, width: int, state: int, eigen_range: str, scan: str) -> None:
        super().__init__()
        self.negative = eigen_range == "11"
        self.scan = scan
        self.state = state
        self.in_proj = nn.Linear(width, 2 * state)
        self.out_proj = nn.Linear(state, width)
        with torch.no_grad():
            self.in_proj.bias[:state] = _transition_bias(state, *STEP_SIZE_INIT)

    def coefficients(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Transitions ``a`` and inputs ``b``, each (..., state), for inputs u (..., width)."""
        z, v = self.in_proj(u).chunk(2, dim=-1)
        beta = torch.sigmoid(z)
        if self.negative:
            beta = 2 * beta
        return 1 - beta, beta * v

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """(B, T, width) -> (B, T, width)."""
        a, b = self.coefficients(u)
        scan = diagonal_scan_parallel if self.scan == "parallel" else diagonal_scan_sequential
        return self.out_proj(scan(a, b))

    def init_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.state)

    def step(self, u: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One token: u (B, width), h (B, state) -> output (B, width), new h."""
        a, b = self.coefficients(u)
        h = a * h + b
        return self.out_proj(h), h


class DeltaMixer(nn.Module):
    """DeltaNet: ``S_t = (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T``, ``o_t = S_t^T q_t``.

    ``heads = max(1, width // state)`` heads, each with a (state x state) matrix state. Keys
    and queries are L2-normalised (Yang et al., NeurIPS 2024), without their SiLU: SiLU keeps
    keys near the positive orthant, so the keys of different tokens overlap, and a write at
    one token leaks into what another token's reflection tracks (parity then fails beyond
    the training lengths for some seeds). The heads' initial step sizes spread over
    `STEP_SIZE_INIT`.
    """

    def __init__(self, width: int, state: int, eigen_range: str, scan: str) -> None:
        super().__init__()
        self.negative = eigen_range == "11"
        self.scan = scan
        self.state = state
        self.heads = delta_heads(width, state)
        self.in_proj = nn.Linear(width, self.heads * (3 * state + 1))
        self.out_proj = nn.Linear(self.heads * state, width)
        with torch.no_grad():
            self.in_proj.bias[-self.heads :] = _transition_bias(self.heads, *STEP_SIZE_INIT)

    def coefficients(self, u: torch.Tensor):
        """Queries, unit keys, values (..., heads, state) and step sizes beta (..., heads)."""
        h, n = self.heads, self.state
        qkv, z = self.in_proj(u).split([3 * h * n, h], dim=-1)
        q, k, v = qkv.unflatten(-1, (3, h, n)).unbind(-3)
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        beta = torch.sigmoid(z)
        return q, k, v, (2 * beta if self.negative else beta)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """(B, T, width) -> (B, T, width)."""
        q, k, v, beta = self.coefficients(u)
        if self.scan == "parallel":
            states = delta_scan_parallel(k, v, beta)
            out = (states * q.unsqueeze(-1)).sum(-2)
        else:
            s = self.init_state(u.shape[0]).to(u)
            outs = []
            for t in range(u.shape[1]):
                s = delta_step(s, k[:, t], v[:, t], beta[:, t])
                outs.append((s * q[:, t].unsqueeze(-1)).sum(-2))
            out = torch.stack(outs, dim=1)
        return self.out_proj(out.flatten(-2))

    def init_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.heads, self.state, self.state)

    def step(self, u: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One token: u (B, width), S (B, heads, state, state) -> output (B, width), new S."""
        q, k, v, beta = self.coefficients(u)
        s = delta_step(s, k, v, beta)
        return self.out_proj((s * q.unsqueeze(-1)).sum(-2).flatten(-2)), s


MIXERS = {"diag": DiagonalMixer, "deltanet": DeltaMixer}


class LRNNBlock(nn.Module):
    """Pre-norm residual block: ``x + mixer(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, arch: LRNNArch, scan: str) -> None:
        super().__init__()
        w = arch.width
        self.norm1 = nn.LayerNorm(w)
        self.mixer = MIXERS[arch.recurrence](w, arch.state, arch.eigen_range, scan)
        self.norm2 = nn.LayerNorm(w)
        self.mlp = nn.Sequential(
            nn.Linear(w, MLP_RATIO * w), nn.GELU(), nn.Linear(MLP_RATIO * w, w)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, state = self.mixer.step(self.norm1(x), state)
        x = x + y
        return x + self.mlp(self.norm2(x)), state


class LRNNModel(nn.Module):
    """Token ids (B, T) int64 -> per-position class logits (B, T, num_classes)."""

    def __init__(self, config: LRNNConfig) -> None:
        super().__init__()
        self.config = config
        arch = config.arch
        self.embed = nn.Embedding(config.vocab_size, arch.width)
        nn.init.normal_(self.embed.weight, std=1 / math.sqrt(arch.width))
        self.blocks = nn.ModuleList(LRNNBlock(arch, config.scan) for _ in range(arch.layers))
        self.norm = nn.LayerNorm(arch.width)
        self.head = nn.Linear(arch.width, config.num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    def init_states(self, batch: int) -> tuple[torch.Tensor, ...]:
        """Zero states, one per layer: (B, state) diagonal, (B, heads, state, state) DeltaNet."""
        return tuple(block.mixer.init_state(batch) for block in self.blocks)

    def step(
        self, tokens: torch.Tensor, states: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One token per sequence: tokens (B,) -> logits (B, num_classes) and the new states."""
        x = self.embed(tokens)
        new_states = []
        for block, state in zip(self.blocks, states):
            x, state = block.step(x, state)
            new_states.append(state)
        return self.head(self.norm(x)), tuple(new_states)

    def set_scan(self, scan: str) -> None:
        """Switches every mixer between the ``parallel`` and ``sequential`` scan."""
        if scan not in SCANS:
            raise ValueError(f"scan must be one of {SCANS}, got {scan!r}")
        for block in self.blocks:
            block.mixer.scan = scan
