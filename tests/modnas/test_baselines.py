"""Random search and NSGA-II at equal evaluations: counting, determinism, and quality."""

import numpy as np
import pytest

from hwnas.core.spaces.nb201 import OPS, NB201Arch, all_codes
from hwnas.methods.modnas.baselines import (
    SearchTrace,
    codes_to_genes,
    genes_to_codes,
    nsga2,
    random_search,
)
from hwnas.methods.modnas.pareto import hypervolume, normalise, pareto_mask

SEARCHES = [random_search, nsga2]


def _synthetic(codes):
    """Two conflicting objectives on the 5**6 NB201-shaped space; the front is genes 2..5 = 0.

    t = (g0 + g1) / 8 moves along a convex front (t, 1 - sqrt(t)); every other gene adds the
    same penalty to both objectives.
    """
    genes = codes_to_genes(codes)
    along = (genes[:, 0] + genes[:, 1]) / 8
    penalty = genes[:, 2:].sum(axis=1) / 16
    return np.stack([along + penalty, 1 - np.sqrt(along) + penalty], axis=1)


class _Recorder:
    """An objective that remembers every code it was asked about."""

    def __init__(self, objectives=_synthetic):
        self.objectives = objectives
        self.calls = []

    def __call__(self, codes):
        assert codes.dtype == np.int64 and codes.ndim == 1
        self.calls.append(codes.copy())
        return self.objectives(codes)

    @property
    def codes(self):
        return np.concatenate(self.calls) if self.calls else np.empty(0, np.int64)


def test_gene_codes_match_nb201_arch_code():
    codes = all_codes()
    genes = codes_to_genes(codes)
    for code, row in zip(codes[::97].tolist(), genes[::97]):
        arch = NB201Arch.from_code(code)
        assert [OPS.index(op) for op in arch.ops] == row.tolist()
        assert arch.code == code
    np.testing.assert_array_equal(genes_to_codes(genes), codes)
    np.testing.assert_array_equal(np.sort(codes), np.arange(5**6))
    assert genes_to_codes(codes_to_genes([7], n_genes=3, n_choices=2), n_choices=2).tolist() == [7]
    with pytest.raises(ValueError, match="0..15624"):
        codes_to_genes([5**6])
    with pytest.raises(ValueError, match="0..4"):
        genes_to_codes([[0, 0, 0, 0, 0, 5]])


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("n_evals", [1, 23, 24, 25, 200])
def test_exact_count_and_no_repeats(search, n_evals):
    recorder = _Recorder()
    trace = search(recorder, n_evals, seed=3)
    assert len(trace) == n_evals
    np.testing.assert_array_equal(trace.codes, recorder.codes)  # trace = what was evaluated
    assert len(np.unique(trace.codes)) == n_evals
    np.testing.assert_allclose(trace.objectives, _synthetic(trace.codes))


@pytest.mark.parametrize("search", SEARCHES)
def test_search_can_exhaust_a_tiny_space(search):
    recorder = _Recorder(lambda c: np.stack([c % 5, -c], axis=1).astype(float))
    trace = search(recorder, 27, seed=0, n_genes=3, n_choices=3)
    assert sorted(trace.codes.tolist()) == list(range(27))
    with pytest.raises(ValueError, match="1..27"):
        search(recorder, 28, seed=0, n_genes=3, n_choices=3)


@pytest.mark.parametrize("search", SEARCHES)
def test_same_seed_same_trace(search):
    first, again, other = (search(_synthetic, 120, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(first.codes, again.codes)
    np.testing.assert_array_equal(first.objectives, again.objectives)
    assert not np.array_equal(first.codes, other.codes)


def test_nsga2_beats_random_search_on_a_known_front():
    everything = _synthetic(np.arange(5**6))
    lower, upper = everything.min(axis=0), everything.max(axis=0)
    true_hv = hypervolume(normalise(everything[pareto_mask(everything)], lower, upper))

    def relative_hv(trace):
        return hypervolume(normalise(trace.objectives, lower, upper)) / true_hv

    seeds = range(4)
    evolved = [relative_hv(nsga2(_synthetic, 200, seed=s)) for s in seeds]
    sampled = [relative_hv(random_search(_synthetic, 200, seed=s)) for s in seeds]
    assert max(evolved + sampled) <= 1.0 + 1e-12
    assert np.mean(evolved) > np.mean(sampled) + 0.05
    assert np.mean(evolved) > 0.9


def test_nsga2_handles_three_objectives():
    def three(codes):
        genes = codes_to_genes(codes).astype(float)
        return np.stack([genes[:, 0], 4 - genes[:, 0] + genes[:, 1], genes[:, 2:].sum(1)], axis=1)

    trace = nsga2(three, 100, seed=0)
    assert trace.objectives.shape == (100, 3)


def test_search_trace_front_and_head():
    trace = SearchTrace([4, 9, 2, 7], [[1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [3.0, 1.0]])
    front = trace.front()
    assert front.codes.tolist() == [4, 9, 7]
    assert trace.head(2).codes.tolist() == [4, 9]
    with pytest.raises(ValueError, match="0..4"):
        trace.head(5)
    with pytest.raises(ValueError, match=r"\(4, M\)"):
        SearchTrace([1, 2, 3, 4], [[1.0, 2.0]])
    with pytest.raises(ValueError):
        trace.codes[0] = 1  # read-only


def test_bad_arguments_and_objectives():
    with pytest.raises(ValueError, match="population"):
        nsga2(_synthetic, 10, seed=0, population=1)
    with pytest.raises(ValueError, match="crossover_prob"):
        nsga2(_synthetic, 10, seed=0, crossover_prob=1.5)
    with pytest.raises(ValueError, match="returned shape"):
        random_search(lambda c: np.zeros(len(c)), 10, seed=0)
    with pytest.raises(ValueError, match="NaN for code"):
        nsga2(lambda c: np.full((len(c), 2), np.nan), 10, seed=0)
