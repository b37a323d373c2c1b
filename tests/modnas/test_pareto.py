"""Pareto mask, non-dominated ranks, normalisation and exact hypervolume, against hand-worked cases."""

import itertools

import numpy as np
import pytest

from hwnas.methods.modnas.pareto import (
    hypervolume,
    hypervolume_2d,
    hypervolume_3d,
    non_dominated_ranks,
    normalise,
    pareto_mask,
)


def _brute_non_dominated(points):
    no_worse = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)
    return ~(no_worse & better).any(axis=0)


def _inclusion_exclusion(points, reference):
    """Volume of the union of boxes [p, reference] by inclusion-exclusion (N <= ~10)."""
    inside = points[(points < reference).all(axis=1)]
    total = 0.0
    for size in range(1, len(inside) + 1):
        for subset in itertools.combinations(range(len(inside)), size):
            corner = inside[list(subset)].max(axis=0)
            total += (-1) ** (size + 1) * np.prod(reference - corner)
    return total


def test_pareto_mask_hand_case_keeps_first_of_identical_rows():
    points = np.array([[1, 2], [2, 1], [2, 2], [1, 2], [0, 3], [3, 0]], dtype=float)
    assert pareto_mask(points).tolist() == [True, True, False, False, True, True]


def test_pareto_mask_matches_brute_force_with_many_ties():
    rng = np.random.default_rng(0)
    for n_objectives in (2, 3, 4):
        points = rng.integers(0, 6, size=(700, n_objectives)).astype(float)  # > one block
        mask = pareto_mask(points)
        expected = _brute_non_dominated(points)
        assert not (mask & ~expected).any()
        kept = {tuple(row) for row in points[mask]}
        assert kept == {tuple(row) for row in points[expected]}
        assert len(kept) == mask.sum()  # no objective vector twice
        for row in np.flatnonzero(mask):  # the kept copy is the first one
            assert (points[:row] != points[row]).any(axis=1).all()


def test_pareto_mask_edge_cases():
    assert pareto_mask(np.empty((0, 2))).tolist() == []
    assert pareto_mask([[np.inf, 0.0], [1.0, 1.0]]).tolist() == [True, True]
    with pytest.raises(ValueError, match="row 1 holds NaN"):
        pareto_mask([[0.0, 1.0], [np.nan, 0.0]])
    with pytest.raises(ValueError, match="2-D array"):
        pareto_mask([1.0, 2.0])


def test_non_dominated_ranks_hand_case_and_front_agrees_with_mask():
    points = np.array([[0, 0], [1, 1], [2, 2], [0, 3], [1, 1]], dtype=float)
    assert non_dominated_ranks(points).tolist() == [0, 1, 2, 1, 1]
    rng = np.random.default_rng(1)
    random = rng.random((200, 3))
    assert ((non_dominated_ranks(random) == 0) == pareto_mask(random)).all()


def test_normalise_maps_bounds_and_does_not_clip():
    points = np.array([[10.0, 0.5], [20.0, 1.5], [30.0, 2.5]])
    out = normalise(points, lower=[10.0, 0.5], upper=[20.0, 1.5])
    np.testing.assert_allclose(out, [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match="objective 1 has lower 1.0 and upper 1.0"):
        normalise(points, lower=[0.0, 1.0], upper=[1.0, 1.0])
    with pytest.raises(ValueError, match="one value per objective"):
        normalise(points, lower=[0.0], upper=[1.0])


def test_hypervolume_2d_hand_cases():
    assert hypervolume([[0.5, 0.5]]) == pytest.approx(0.25)
    two = [[0.2, 0.6], [0.6, 0.2]]  # 0.8 * 0.4 + 0.4 * 0.8 - 0.4 * 0.4
    assert hypervolume(two) == pytest.approx(0.48)
    dominated = two + [[0.7, 0.7], [0.6, 0.6], [0.2, 0.6]]
    assert hypervolume(dominated) == pytest.approx(0.48)
    beyond = two + [[1.2, 0.1], [0.1, 1.0], [np.inf, 0.0]]  # on or past the reference
    assert hypervolume(beyond) == pytest.approx(0.48)
    assert hypervolume_2d([[1.0, 1.0]], reference=[2.0, 3.0]) == pytest.approx(2.0)
    assert hypervolume(np.empty((0, 2))) == 0.0
    assert hypervolume([[1.5, 1.5]]) == 0.0


def test_hypervolume_3d_hand_cases():
    assert hypervolume([[0.5, 0.5, 0.5]]) == pytest.approx(0.125)
    boxes = np.array([[0.2, 0.5, 0.6], [0.5, 0.2, 0.4], [0.6, 0.6, 0.1]])
    # 0.16 + 0.24 + 0.144 - 0.1 - 0.064 - 0.096 + 0.064, by inclusion-exclusion
    assert hypervolume(boxes) == pytest.approx(0.348)
    noisy = np.vstack([boxes, boxes, [[0.7, 0.7, 0.7], [0.1, 0.1, 1.0], [0.3, 0.3, 0.6]]])
    assert hypervolume_3d(noisy) == pytest.approx(0.348 + _extra_volume())
    assert hypervolume_3d([[1.0, 1.0, 1.0]], reference=[2.0, 3.0, 4.0]) == pytest.approx(6.0)


def _extra_volume():
    """What [0.3, 0.3, 0.6] adds to the three boxes above (inclusion-exclusion by hand)."""
    boxes = np.array([[0.2, 0.5, 0.6], [0.5, 0.2, 0.4], [0.6, 0.6, 0.1], [0.3, 0.3, 0.6]])
    return _inclusion_exclusion(boxes, np.ones(3)) - 0.348


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_hypervolume_matches_inclusion_exclusion(n_objectives):
    rng = np.random.default_rng(n_objectives)
    for _ in range(30):
        points = rng.random((rng.integers(1, 9), n_objectives)) * 1.1
        points[rng.random(len(points)) < 0.2] = points[0]  # duplicates
        expected = _inclusion_exclusion(points, np.ones(n_objectives))
        assert hypervolume(points) == pytest.approx(expected, abs=1e-12)


def test_hypervolume_rejects_other_dimensions_and_bad_input():
    with pytest.raises(ValueError, match="M=4"):
        hypervolume(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="M=1"):
        hypervolume(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="-inf"):
        hypervolume([[-np.inf, 0.5]])
    with pytest.raises(ValueError, match="reference point"):
        hypervolume([[0.5, 0.5]], reference=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="expected 3 objectives"):
        hypervolume_3d([[0.5, 0.5]])


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_hypervolume_matches_pymoo_on_random_fronts(n_objectives):
    pymoo_hv = pytest.importorskip("pymoo.indicators.hv")
    rng = np.random.default_rng(10 + n_objectives)
    for n_points in (24, 300):
        # points spread near a simplex-like front, some beyond the reference
        raw = rng.dirichlet(np.ones(n_objectives), size=n_points) * rng.uniform(0.8, 1.6)
        raw += rng.exponential(0.05, size=raw.shape)
        reference = np.full(n_objectives, 1.2)
        expected = pymoo_hv.HV(ref_point=reference)(raw)
        assert hypervolume(raw, reference) == pytest.approx(expected, rel=1e-12, abs=1e-12)
