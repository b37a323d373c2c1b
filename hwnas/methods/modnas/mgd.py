"""The min-norm point of the convex hull of T gradients, for multiple gradient descent (MGD).

MGD (Desideri, 2012) combines per-task gradients g_1..g_T into d = sum_t gamma_t g_t with the
simplex weights gamma minimising ||d||^2; -d then decreases every task's loss when d != 0,
and d = 0 certifies Pareto stationarity. MODNAS applies it to the per-device gradients of the
MetaHypernetwork. Everything here works on the Gram matrix G[i, j] = g_i . g_j, so the cost
does not depend on the number of parameters once G is known. Pure numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["min_norm_direction", "min_norm_weights"]


def _check_gram(gram: np.ndarray) -> np.ndarray:
    matrix = np.asarray(gram, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"the Gram matrix must be square (T, T) with T >= 1, got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("the Gram matrix holds NaN or inf: a gradient was not finite")
    scale = max(float(np.abs(matrix).max()), np.finfo(np.float64).tiny)
    asymmetry = float(np.abs(matrix - matrix.T).max())
    if asymmetry > 1e-8 * scale:
        raise ValueError(
            f"the Gram matrix is not symmetric (largest |G - G^T| is {asymmetry:.3g}); "
            "pass G[i, j] = g_i . g_j"
        )
    if (np.diag(matrix) < 0).any():
        raise ValueError("the Gram matrix has a negative diagonal entry, so it is not g_i . g_i")
    return (matrix + matrix.T) / 2


def _pair_weight(g11: np.ndarray, g12: np.ndarray, g22: np.ndarray) -> np.ndarray:
    """Weight gamma on g1 minimising ||gamma g1 + (1 - gamma) g2||^2, elementwise over pairs.

    gamma = clip((g2 - g1) . g2 / ||g1 - g2||^2, 0, 1); for identical gradients
    (||g1 - g2|| = 0, so every gamma gives the same point) it is 0.5.
    """
    distance = g11 + g22 - 2 * g12
    scale = np.maximum(np.maximum(g11, g22), np.finfo(np.float64).tiny)
    identical = distance <= 1e-12 * scale
    safe = np.where(identical, 1.0, distance)
    return np.where(identical, 0.5, np.clip((g22 - g12) / safe, 0.0, 1.0))


def min_norm_weights(gram: np.ndarray, *, max_iter: int = 1000, tol: float = 1e-10) -> np.ndarray:
    """The simplex weights gamma minimising ||sum_t gamma_t g_t||^2 = gamma^T G gamma.

    T = 1 gives [1]. T = 2 uses the closed form gamma_1 = clip((g2 - g1) . g2 / ||g1 - g2||^2,
    0, 1); identical gradients give [0.5, 0.5]. T > 2 runs Frank-Wolfe (Jaggi, 2013) from the
    best pair's solution (Sener and Koltun, 2018), with exact line search between the current
    point and the vertex of smallest d . g_t. After each step a fully-corrective step (Wolfe's
    1976 minor cycle) moves to the min-norm point of the current support's affine hull where
    the simplex allows: plain Frank-Wolfe only converges as O(1/k) and zig-zags when the
    minimum lies inside a face, which this ends in a few steps. It stops when the duality gap
    2 (gamma^T G gamma - min_t (G gamma)_t) falls to `tol` x max_t G[t, t], or after `max_iter`
    steps; then d = sum_t gamma_t g_t satisfies d . g_t >= ||d||^2 - gap / 2 for every t.
    All-zero gradients (G = 0) give the best pair's [0.5, 0.5, 0, ...].

    Args:
        gram: (T, T) symmetric Gram matrix, G[i, j] = g_i . g_j.
        max_iter: Frank-Wolfe step limit (T > 2 only).
        tol: duality-gap tolerance relative to the largest squared gradient norm (T > 2 only).

    Returns:
        (T,) float64 weights, non-negative and summing to 1.
    """
    if max_iter < 1 or not tol > 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter} and {tol}")
    matrix = _check_gram(gram)
    n_tasks = len(matrix)
    if n_tasks == 1:
        return np.ones(1)
    if n_tasks == 2:
        gamma = float(_pair_weight(matrix[0, 0], matrix[0, 1], matrix[1, 1]))
        return np.array([gamma, 1.0 - gamma])
    return _frank_wolfe(matrix, max_iter, tol)


def _best_pair_start(gram: np.ndarray) -> np.ndarray:
    """Weights of the best two-gradient solution over all pairs (Sener and Koltun, 2018)."""
    n_tasks = len(gram)
    first, second = np.triu_indices(n_tasks, k=1)
    g11, g12, g22 = gram[first, first], gram[first, second], gram[second, second]
    gamma = _pair_weight(g11, g12, g22)
    norms = gamma**2 * g11 + 2 * gamma * (1 - gamma) * g12 + (1 - gamma) ** 2 * g22
    best = int(np.argmin(norms))
    weights = np.zeros(n_tasks)
    weights[first[best]] += gamma[best]
    weights[second[best]] += 1.0 - gamma[best]
    return weights


def _frank_wolfe(gram: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
    weights = _best_pair_start(gram)
    threshold = tol * max(float(np.diag(gram).max()), np.finfo(np.float64).tiny)
    for _ in range(max_iter):
        inner = gram @ weights  # (G gamma)_t = d . g_t
        norm_sq = float(weights @ inner)  # ||d||^2
        vertex = int(np.argmin(inner))
        if 2.0 * (norm_sq - inner[vertex]) <= threshold:  # the Frank-Wolfe duality gap
            break
        # exact line search on ||(1 - a) d + a g_v||^2 over a in [0, 1]: the two-point formula
        step = float(_pair_weight(gram[vertex, vertex], inner[vertex], norm_sq))
        weights = (1.0 - step) * weights
        weights[vertex] += step
        weights = _support_correction(gram, weights)
    return weights


def _support_correction(gram: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Moves towards the min-norm point of the support's affine hull (Wolfe's minor cycle).

    A fully-corrective step (Wolfe, 1976): solve G_SS w + mu 1 = 0, 1^T w = 1 on the support S
    and move from the current weights towards w as far as the simplex allows, dropping the
    vertex whose weight reaches zero, until w itself is feasible. The norm never grows along
    the way. Once Frank-Wolfe has found the right support this ends its slow zig-zag on
    ill-conditioned Gram matrices.
    """
    current = weights
    for _ in range(len(weights)):
        support = np.flatnonzero(current > 0)
        size = len(support)
        if size < 2:
            break
        system = np.ones((size + 1, size + 1))
        system[:size, :size] = gram[np.ix_(support, support)]
        system[size, size] = 0.0
        rhs = np.zeros(size + 1)
        rhs[size] = 1.0
        target = np.linalg.lstsq(system, rhs, rcond=None)[0][:size]
        if not np.isfinite(target).all() or abs(target.sum() - 1.0) > 1e-9:
            break
        now = current[support]
        shrinking = target < 0
        if not shrinking.any():
            moved = np.zeros_like(current)
            moved[support] = target
            current = moved
            break
        ratios = np.full(size, np.inf)
        ratios[shrinking] = now[shrinking] / (now[shrinking] - target[shrinking])
        blocking = int(np.argmin(ratios))
        step = now + ratios[blocking] * (target - now)
        step[blocking] = 0.0  # the first weight to reach zero leaves the support exactly
        moved = np.zeros_like(current)
        moved[support] = np.maximum(step, 0.0)
        current = moved / moved.sum()
    if current @ gram @ current <= weights @ gram @ weights:
        return current
    return weights


def min_norm_direction(grads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The MGD weights and the combined direction for T flattened gradients.

    Args:
        grads: (T, P) array, one flattened gradient per task (device) per row.

    Returns:
        (weights, direction): (T,) simplex weights from `min_norm_weights` and the (P,)
        min-norm element d = weights @ grads; step along -d.
    """
    matrix = np.asarray(grads, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"grads must be a (T, P) array with T >= 1, got shape {matrix.shape}")
    weights = min_norm_weights(matrix @ matrix.T)
    return weights, weights @ matrix
