"""Linear recurrences h_t = A_t h_{t-1} + B_t: sequential references and parallel scans.

Two kinds of transition are covered:

- diagonal (Mamba-like): ``h_t = a_t * h_{t-1} + b_t`` elementwise, ``a, b`` of shape (B, T, ...);
- matrix (DeltaNet-like): ``S_t = A_t @ S_{t-1} + B_t`` with ``A`` (B, T, n, n) and ``B``
  (B, T, n, m).

The parallel scans are Hillis-Steele inclusive scans (Hillis & Steele, "Data parallel
algorithms", CACM 1986) over the associative composition of affine maps
``(A2, B2) o (A1, B1) = (A2 A1, A2 B1 + B2)``: ceil(log2 T) rounds, each a product of whole
tensors. They multiply transitions directly, so they are exact for negative (and any real)
transitions; no log-space cumulative sum is taken, which would need ``a_t > 0``.
"""

from __future__ import annotations

import torch


def _check_pair(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.dim() < 2:
        raise ValueError(f"{what}: transitions need shape (B, T, ...), got {tuple(a.shape)}")
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(
            f"{what}: transitions {tuple(a.shape)} and inputs {tuple(b.shape)} differ in (B, T)"
        )


def diagonal_scan_sequential(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t``, one step at a time.

    Args:
        a: Transitions (B, T, ...).
        b: Inputs, same shape as ``a``.
        h0: Initial state (B, ...); zeros by default.

    Returns:
        The states h_1..h_T, (B, T, ...).
    """
    _check_pair(a, b, "diagonal_scan_sequential")
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    states = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1)


def diagonal_scan_parallel(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None
) -> torch.Tensor:
    """`diagonal_scan_sequential` in ceil(log2 T) rounds (Hillis-Steele scan)."""
    _check_pair(a, b, "diagonal_scan_parallel")
    if h0 is not None:
        b = torch.cat([a[:, :1] * h0.unsqueeze(1) + b[:, :1], b[:, 1:]], dim=1)
    steps = a.shape[1]
    offset = 1
    while offset < steps:
        # Element t holds the composition of steps t-offset+1..t; fold in the block before it.
        b = torch.cat([b[:, :offset], a[:, offset:] * b[:, :-offset] + b[:, offset:]], dim=1)
        a = torch.cat([a[:, :offset], a[:, offset:] * a[:, :-offset]], dim=1)
        offset *= 2
    return b


def matrix_scan_sequential(
    a: torch.Tensor, b: torch.Tensor, s0: torch.Tensor | None = None
) -> torch.Tensor:
    """All states of ``S_t = A_t @ S_{t-1} + B_t``, one step at a time.

    Args:
        a: Transitions (B, T, n, n).
        b: Inputs (B, T, n, m).
        s0: Initial state (B, n, m); zeros by default.

    Returns:
        The states S_1..S_T, (B, T, n, m).
    """
    _check_pair(a, b, "matrix_scan_sequential")
    s = torch.zeros_like(b[:, 0]) if s0 is None else s0
    states = []
    for t in range(a.shape[1]):
        s = a[:, t] @ s + b[:, t]
        states.append(s)
    return torch.stack(states, dim=1)


def matrix_scan_parallel(
    a: torch.Tensor, b: torch.Tensor, s0: torch.Tensor | None = None
) -> torch.Tensor:
    """`matrix_scan_sequential` in ceil(log2 T) rounds of batched matrix products.

    Costs O(T log T n^3) work against the sequential O(T n^2 m): meant for small states.
    """
    _check_pair(a, b, "matrix_scan_parallel")
    if s0 is not None:
        b = torch.cat([a[:, :1] @ s0.unsqueeze(1) + b[:, :1], b[:, 1:]], dim=1)
    steps = a.shape[1]
    offset = 1
    while offset < steps:
        b = torch.cat([b[:, :offset], a[:, offset:] @ b[:, :-offset] + b[:, offset:]], dim=1)
        a = torch.cat([a[:, :offset], a[:, offset:] @ a[:, :-offset]], dim=1)
        offset *= 2
    return b


def delta_transitions(
    k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeltaNet's affine map ``A_t = I - beta_t k_t k_t^T``, ``B_t = beta_t k_t v_t^T``.

    Args:
        k: Keys (B, T, ..., n), L2-normalised by the caller; ``...`` are e.g. heads.
        v: Values (B, T, ..., m).
        beta: Step sizes (B, T, ...).

    Returns:
        ``A`` (B, T, ..., n, n) and ``B`` (B, T, ..., n, m). With unit keys the eigenvalues
        of ``A_t`` are 1 (n-1 times) and 1 - beta_t (Yang et al., "Parallelizing linear
        transformers with the delta rule", NeurIPS 2024).
    """
    eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
    bk = beta.unsqueeze(-1) * k
    a = eye - bk.unsqueeze(-1) * k.unsqueeze(-2)
    b = bk.unsqueeze(-1) * v.unsqueeze(-2)
    return a, b


def delta_scan_sequential(
    k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, s0: torch.Tensor | None = None
) -> torch.Tensor:
    """All DeltaNet states ``S_t = S_{t-1} + beta_t k_t (v_t - S_{t-1}^T k_t)^T``, step by step.

    The same recurrence as ``(I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T`` in O(n m) per
    step (no n x n matrix is formed). Shapes as in `delta_transitions`; returns
    (B, T, ..., n, m).
    """
    s = k.new_zeros(k.shape[0], *k.shape[2:], v.shape[-1]) if s0 is None else s0
    states = []
    for t in range(k.shape[1]):
        s = delta_step(s, k[:, t], v[:, t], beta[:, t])
        states.append(s)
    return torch.stack(states, dim=1)


def delta_step(
    s: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    """One DeltaNet update of the state ``s`` (B, ..., n, m).

    By key (B, ..., n), value (B, ..., m) and beta (B, ...).
    """
    recalled = (s * k.unsqueeze(-1)).sum(-2)  # S^T k, (B, m)
    return s + (beta.unsqueeze(-1) * k).unsqueeze(-1) * (v - recalled).unsqueeze(-2)


def delta_scan_parallel(
    k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, s0: torch.Tensor | None = None
) -> torch.Tensor:
    """`delta_scan_sequential` by `matrix_scan_parallel` over the `delta_transitions`."""
    a, b = delta_transitions(k, v, beta)
    return matrix_scan_parallel(a, b, s0)
