"""Preference vectors: the grids MODNAS is evaluated and queried on, and how it reads them."""

from __future__ import annotations

import math

import numpy as np

from hwnas.core.spaces.nb201_arch import ARCH_SHAPE
from hwnas.errors import InputError

CELL_SHAPE: tuple[int, int] = ARCH_SHAPE
"""Cell logits per preference: one row per NAS-Bench-201 edge, one column per operation."""
LOG_FLOOR = 1e-3
"""The hypernetwork reads ``[r, log(r + LOG_FLOOR)]``: the log resolves small weights."""


class PreferenceError(InputError):
    """A preference grid that cannot be made."""


def preference_grid(n_objectives: int, n: int = 24) -> np.ndarray:
    """Evenly spread preference vectors on the simplex.

    Two objectives: exactly `n` vectors ``(w, 1 - w)`` with ``w`` evenly from 0 to 1. Three:
    the Das-Dennis lattice with the fewest divisions giving at least `n` points (28 for
    n = 24), all of them. Returns (n', M) float32 rows that sum to 1.
    """
    if n_objectives == 2:
        w = np.linspace(0.0, 1.0, n)
        return np.stack([w, 1 - w], axis=1).astype(np.float32)
    if n_objectives == 3:
        divisions = 1
        while math.comb(divisions + 2, 2) < n:
            divisions += 1
        points = [
            (i, j, divisions - i - j)
            for i in range(divisions + 1)
            for j in range(divisions + 1 - i)
        ]
        return (np.array(points, dtype=np.float32) / divisions).astype(np.float32)
    raise PreferenceError(f"preference grids exist for 2 or 3 objectives, not {n_objectives}")
