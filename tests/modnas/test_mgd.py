"""Min-norm weights of multiple gradient descent, against hand-worked cases and a QP solver."""

import numpy as np
import pytest

from hwnas.methods.modnas.mgd import min_norm_direction, min_norm_weights


def _weights(grads):
    grads = np.asarray(grads, dtype=float)
    return min_norm_weights(grads @ grads.T)


def test_single_gradient_gets_all_the_weight():
    np.testing.assert_array_equal(min_norm_weights([[4.0]]), [1.0])


@pytest.mark.parametrize(
    ("grads", "expected"),
    [
        ([[1, 0], [0, 1]], [0.5, 0.5]),  # orthogonal unit vectors: midpoint (0.5, 0.5)
        ([[1, 0], [2, 1]], [1.0, 0.0]),  # g1 is already the closest point of the segment
        ([[2, 1], [1, 0]], [0.0, 1.0]),  # same, other order
        ([[2, 0], [-1, 0]], [1 / 3, 2 / 3]),  # collinear opposite: the origin, 2/3 - 2/3 = 0
        ([[1, 2], [1, 2]], [0.5, 0.5]),  # identical gradients: every point is the same
        ([[0, 0], [0, 0]], [0.5, 0.5]),
    ],
)
def test_two_gradients_closed_form(grads, expected):
    np.testing.assert_allclose(_weights(grads), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("grads", "expected"),
    [
        ([[1, 1], [-1, 1], [0, 3]], [0.5, 0.5, 0.0]),  # foot of the perpendicular on an edge
        ([[1, 1], [2, 3], [3, 1]], [1.0, 0.0, 0.0]),  # a vertex
        ([[1, 0], [-1, 1], [-1, -1]], [0.5, 0.25, 0.25]),  # origin inside: 2 g1 = -(g2 + g3)
        ([[1, 0], [0, 1], [1, 0]], [0.25, 0.5, 0.25]),  # a repeated gradient splits its weight
    ],
)
def test_three_gradients_in_the_plane(grads, expected):
    weights = _weights(grads)
    direction = weights @ np.asarray(grads, dtype=float)
    expected_direction = np.asarray(expected) @ np.asarray(grads, dtype=float)
    np.testing.assert_allclose(direction, expected_direction, atol=1e-9)
    if len({tuple(g) for g in grads}) == len(grads):  # unique solution
        np.testing.assert_allclose(weights, expected, atol=1e-9)


def _slsqp_min_norm(gram):
    from scipy.optimize import minimize

    n = len(gram)
    result = minimize(
        lambda w: w @ gram @ w,
        np.full(n, 1 / n),
        jac=lambda w: 2 * gram @ w,
        bounds=[(0, 1)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones(n)}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return result.fun


@pytest.mark.parametrize("n_tasks", range(3, 9))
def test_frank_wolfe_matches_a_qp_solver_and_satisfies_kkt(n_tasks):
    rng = np.random.default_rng(n_tasks)
    for trial in range(40):
        dim = int(rng.integers(2, 12))  # dim < T gives singular Gram matrices
        grads = rng.normal(size=(n_tasks, dim)) + (trial % 2) * rng.normal(size=dim)
        gram = grads @ grads.T
        weights = min_norm_weights(gram)
        assert (weights >= 0).all()
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert weights @ gram @ weights <= _slsqp_min_norm(gram) + 1e-5
        direction = weights @ grads
        tol = 1e-8 * np.diag(gram).max()
        assert (grads @ direction >= direction @ direction - tol).all()


def test_min_norm_direction_returns_the_combination():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(4, 50))
    weights, direction = min_norm_direction(grads)
    np.testing.assert_allclose(weights, min_norm_weights(grads @ grads.T))
    np.testing.assert_allclose(direction, weights @ grads)
    assert (grads @ direction > 0).all()  # -direction decreases every task here


def test_bad_gram_matrices_are_rejected():
    with pytest.raises(ValueError, match="square"):
        min_norm_weights(np.ones((2, 3)))
    with pytest.raises(ValueError, match="not symmetric"):
        min_norm_weights([[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="NaN or inf"):
        min_norm_weights([[1.0, np.nan], [np.nan, 1.0]])
    with pytest.raises(ValueError, match="negative diagonal"):
        min_norm_weights([[-1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="max_iter"):
        min_norm_weights(np.eye(3), max_iter=0)
    with pytest.raises(ValueError, match=r"\(T, P\)"):
        min_norm_direction(np.ones(3))
