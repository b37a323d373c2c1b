"""Pareto dominance, normalisation and exact hypervolume for 2 and 3 objectives, all minimised.

Every function takes objective vectors as an (N, M) array, one row per candidate, and treats
every column as a quantity to minimise (negate accuracy before calling). Pure numpy.
"""

from __future__ import annotations

import bisect

import numpy as np

__all__ = [
    "hypervolume",
    "hypervolume_2d",
    "hypervolume_3d",
    "non_dominated_ranks",
    "normalise",
    "pareto_mask",
]

_BLOCK_ROWS = 256


def _as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (N candidates, M objectives), got shape {array.shape}"
        )
    bad = np.flatnonzero(np.isnan(array).any(axis=1))
    if bad.size:
        raise ValueError(f"{name} row {bad[0]} holds NaN: {array[bad[0]].tolist()}")
    return array


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Marks the non-dominated rows (every objective minimised).

    Row a dominates row b when a <= b in every objective and a < b in at least one. Of a group
    of identical non-dominated rows only the first (lowest row index) is marked, so the marked
    rows never repeat an objective vector.

    Args:
        points: (N, M) objective vectors; +inf is allowed, NaN is not.

    Returns:
        (N,) bool array, True for the rows on the Pareto front.
    """
    array = _as_points(points)
    n_rows, n_objectives = array.shape
    mask = np.zeros(n_rows, dtype=bool)
    if n_rows == 0:
        return mask
    # Lexicographic order (first objective first, row index last): a row can only be weakly
    # dominated by a row that comes before it, or by an identical row after it.
    order = np.lexsort((np.arange(n_rows), *array.T[::-1]))
    ordered = array[order]
    front = np.empty((0, n_objectives))
    for start in range(0, n_rows, _BLOCK_ROWS):
        rows = order[start : start + _BLOCK_ROWS]
        block = ordered[start : start + _BLOCK_ROWS]
        uncovered = ~(front[None, :, :] <= block[:, None, :]).all(axis=2).any(axis=1)
        rows, block = rows[uncovered], block[uncovered]
        # An earlier row of the block that the front covers cannot matter (transitivity), so
        # only the uncovered rows are compared with each other.
        within = (block[None, :, :] <= block[:, None, :]).all(axis=2)  # [i, j]: j <= i
        keep = ~np.tril(within, k=-1).any(axis=1)
        mask[rows[keep]] = True
        front = np.concatenate([front, block[keep]])
    return mask


def non_dominated_ranks(points: np.ndarray) -> np.ndarray:
    """The non-dominated sorting rank of every row: 0 for the Pareto front, 1 for the next, ...

    This is the fast non-dominated sort of NSGA-II (Deb et al., 2002), O(M N^2) memory and
    time; identical rows share a rank.

    Args:
        points: (N, M) objective vectors, N up to a few thousand.

    Returns:
        (N,) int64 ranks.
    """
    array = _as_points(points)
    n_rows = len(array)
    no_worse = (array[:, None, :] <= array[None, :, :]).all(axis=2)
    better = (array[:, None, :] < array[None, :, :]).any(axis=2)
    dominates = no_worse & better  # [i, j]: row i dominates row j
    n_dominators = dominates.sum(axis=0)
    ranks = np.full(n_rows, -1, dtype=np.int64)
    current = np.flatnonzero(n_dominators == 0)
    rank = 0
    while current.size:
        ranks[current] = rank
        n_dominators = n_dominators - dominates[current].sum(axis=0)
        n_dominators[current] = -1
        current = np.flatnonzero(n_dominators == 0)
        rank += 1
    return ranks


def normalise(points: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Maps each objective linearly so that `lower` goes to 0 and `upper` to 1.

    Values outside [lower, upper] map outside [0, 1]: nothing is clipped, so a point worse than
    `upper` stays beyond the hypervolume reference point (1, ..., 1) and counts for nothing.

    Args:
        points: (N, M) objective vectors.
        lower: (M,) per-objective value that maps to 0 (e.g. the minimum over the whole space).
        upper: (M,) per-objective value that maps to 1; must exceed `lower` everywhere.

    Returns:
        (N, M) float64 array.
    """
    array = _as_points(points)
    low = np.asarray(lower, dtype=np.float64).reshape(-1)
    high = np.asarray(upper, dtype=np.float64).reshape(-1)
    n_objectives = array.shape[1]
    if low.shape != (n_objectives,) or high.shape != (n_objectives,):
        raise ValueError(
            f"lower and upper need one value per objective ({n_objectives}), got shapes "
            f"{low.shape} and {high.shape}"
        )
    span = high - low
    flat = np.flatnonzero(~(span > 0) | ~np.isfinite(span))
    if flat.size:
        m = flat[0]
        raise ValueError(
            f"objective {m} has lower {low[m]} and upper {high[m]}: upper must be finite and "
            "greater than lower"
        )
    return (array - low) / span


def _points_and_reference(
    points: np.ndarray, reference: np.ndarray | None, n_objectives: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    array = _as_points(points)
    if n_objectives is not None and array.shape[1] != n_objectives:
        raise ValueError(f"expected {n_objectives} objectives per row, got shape {array.shape}")
    if reference is None:
        ref = np.ones(array.shape[1])
    else:
        ref = np.asarray(reference, dtype=np.float64).reshape(-1)
        if ref.shape != (array.shape[1],) or not np.isfinite(ref).all():
            raise ValueError(
                f"the reference point must hold {array.shape[1]} finite values, got {reference!r}"
            )
    if np.isneginf(array).any():
        row = int(np.flatnonzero(np.isneginf(array).any(axis=1))[0])
        raise ValueError(f"points row {row} holds -inf, which encloses an infinite volume")
    inside = (array < ref).all(axis=1)
    return array[inside], ref


def hypervolume_2d(points: np.ndarray, reference: np.ndarray | None = None) -> float:
    """The exact area dominated by 2-objective points and bounded by the reference point.

    A sweep over the first objective after sorting, O(N log N). Points that do not strictly
    dominate the reference point add nothing; dominated points are allowed.

    Args:
        points: (N, 2) objective vectors, minimised.
        reference: (2,) reference point; defaults to (1, 1).
    """
    inside, ref = _points_and_reference(points, reference, n_objectives=2)
    if len(inside) == 0:
        return 0.0
    inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]
    best_second = np.minimum.accumulate(inside[:, 1])
    widths = np.diff(np.append(inside[:, 0], ref[0]))
    return float(np.sum(widths * (ref[1] - best_second)))


def hypervolume_3d(points: np.ndarray, reference: np.ndarray | None = None) -> float:
    """The exact volume dominated by 3-objective points and bounded by the reference point.

    Slices along the third objective: points enter in ascending order of it, a 2-D staircase
    of the first two objectives keeps the area of each slice up to date incrementally, and the
    volume adds area x slice thickness (the dimension sweep of Fonseca, Paquete and
    Lopez-Ibanez, 2006). O(N log N) searches plus list edits; N = 2000 takes milliseconds.

    Args:
        points: (N, 3) objective vectors, minimised.
        reference: (3,) reference point; defaults to (1, 1, 1).
    """
    inside, ref = _points_and_reference(points, reference, n_objectives=3)
    if len(inside) == 0:
        return 0.0
    inside = inside[np.argsort(inside[:, 2], kind="stable")]
    tops = np.append(inside[1:, 2], ref[2])
    xs: list[float] = []  # staircase: first objective ascending, second strictly descending
    ys: list[float] = []
    area = 0.0
    volume = 0.0
    for (x, y, z), top in zip(inside.tolist(), tops.tolist()):
        area += _insert_into_staircase(xs, ys, x, y, ref[0], ref[1])
        volume += area * (top - z)
    return float(volume)


def _insert_into_staircase(
    xs: list[float], ys: list[float], x: float, y: float, ref_x: float, ref_y: float
) -> float:
    """Adds (x, y) to a 2-D non-dominated staircase in place; returns the area it adds."""
    j = bisect.bisect_left(xs, x)  # xs[:j] < x <= xs[j:]
    if j < len(xs) and xs[j] == x and ys[j] <= y:
        return 0.0
    if j > 0 and ys[j - 1] <= y:
        return 0.0
    level = ys[j - 1] if j > 0 else ref_y  # covered height just left of xs[j]
    k = j
    added = 0.0
    left = x
    while k < len(xs) and ys[k] >= y:  # the points (x, y) dominates
        added += (xs[k] - left) * (level - y)
        left, level = xs[k], ys[k]
        k += 1
    right = xs[k] if k < len(xs) else ref_x
    added += (right - left) * (level - y)
    xs[j:k] = [x]
    ys[j:k] = [y]
    return added


def hypervolume(points: np.ndarray, reference: np.ndarray | None = None) -> float:
    """The exact hypervolume of minimised objective vectors with respect to a reference point.

    Args:
        points: (N, M) objective vectors with M = 2 or 3, usually `normalise`d to [0, 1].
        reference: (M,) reference point; defaults to ones(M), the worst corner after
            normalisation. Points that do not strictly dominate it contribute nothing.

    Raises:
        ValueError: for M other than 2 or 3, NaN or -inf in `points`, or a bad reference.
    """
    array = _as_points(points)
    n_objectives = array.shape[1]
    if n_objectives == 2:
        return hypervolume_2d(array, reference)
    if n_objectives == 3:
        return hypervolume_3d(array, reference)
    raise ValueError(
        f"exact hypervolume is implemented for 2 or 3 objectives, got M={n_objectives} "
        f"(points of shape {array.shape})"
    )
