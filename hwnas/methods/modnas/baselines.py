"""Multi-objective search baselines over a discrete space, compared at equal evaluations.

A candidate is `n_genes` genes, each one of `n_choices` values, and is known by its code
sum_e gene[e] * n_choices**e: for NAS-Bench-201 (6 edges x 5 operations, the defaults) that is
exactly `NB201Arch.code`. The objectives are a callable from codes (N,) int64 to an (N, M)
array, every column minimised. Each search evaluates distinct codes only and stops at exactly
`n_evals`, so traces of different methods cost the same number of objective evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hwnas.methods.modnas.pareto import non_dominated_ranks, pareto_mask

__all__ = [
    "Objectives",
    "SearchTrace",
    "codes_to_genes",
    "genes_to_codes",
    "nsga2",
    "random_search",
]

Objectives = Callable[[np.ndarray], np.ndarray]
"""Maps codes (N,) int64 to objective values (N, M), all minimised."""

_MAX_SPACE = 2**62
_MAX_REFILL_ROUNDS = 16


@dataclass(frozen=True, eq=False)
class SearchTrace:
    """Every evaluation of one search, in the order it was made.

    Attributes:
        codes: (n_evals,) int64 distinct candidate codes.
        objectives: (n_evals, M) float64 objective values, minimised.
    """

    codes: np.ndarray
    objectives: np.ndarray

    def __post_init__(self) -> None:
        codes = np.array(self.codes, dtype=np.int64).reshape(-1)
        values = np.array(self.objectives, dtype=np.float64)
        if values.ndim != 2 or len(values) != len(codes):
            raise ValueError(
                f"objectives must be ({len(codes)}, M) for {len(codes)} codes, got {values.shape}"
            )
        codes.flags.writeable = False
        values.flags.writeable = False
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "objectives", values)

    def __len__(self) -> int:
        return len(self.codes)

    def head(self, n_evals: int) -> SearchTrace:
        """The trace of the first `n_evals` evaluations (for quality-versus-cost curves)."""
        if not 0 <= n_evals <= len(self):
            raise ValueError(f"n_evals must be in 0..{len(self)}, got {n_evals}")
        return SearchTrace(self.codes[:n_evals], self.objectives[:n_evals])

    def front(self) -> SearchTrace:
        """The non-dominated evaluations, in evaluation order (see `pareto_mask` for ties)."""
        mask = pareto_mask(self.objectives)
        return SearchTrace(self.codes[mask], self.objectives[mask])


def _space_size(n_genes: int, n_choices: int) -> int:
    if n_genes < 1 or n_choices < 2:
        raise ValueError(f"need n_genes >= 1 and n_choices >= 2, got {n_genes} and {n_choices}")
    size = n_choices**n_genes
    if size > _MAX_SPACE:
        raise ValueError(
            f"{n_choices}**{n_genes} candidates do not fit an int64 code (limit 2**62)"
        )
    return size


def genes_to_codes(genes: np.ndarray, n_choices: int = 5) -> np.ndarray:
    """Codes sum_e genes[..., e] * n_choices**e of (N, n_genes) gene arrays, as (N,) int64."""
    array = np.asarray(genes, dtype=np.int64)
    if array.ndim != 2:
        raise ValueError(f"genes must be (N, n_genes), got shape {array.shape}")
    _space_size(array.shape[1], n_choices)
    if array.size and (array.min() < 0 or array.max() >= n_choices):
        raise ValueError(f"genes must lie in 0..{n_choices - 1}")
    powers = n_choices ** np.arange(array.shape[1], dtype=np.int64)
    return array @ powers


def codes_to_genes(codes: np.ndarray, n_genes: int = 6, n_choices: int = 5) -> np.ndarray:
    """The inverse of `genes_to_codes`: (N,) codes to (N, n_genes) int64 genes."""
    size = _space_size(n_genes, n_choices)
    array = np.asarray(codes, dtype=np.int64).reshape(-1)
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(f"codes must lie in 0..{size - 1}")
    powers = n_choices ** np.arange(n_genes, dtype=np.int64)
    return (array[:, None] // powers) % n_choices


class _Evaluator:
    """Evaluates distinct codes once each and records them, up to a fixed budget."""

    def __init__(self, objectives: Objectives, n_evals: int) -> None:
        self.objectives = objectives
        self.budget = n_evals
        self.codes: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.seen: set[int] = set()
        self.n_objectives: int | None = None

    @property
    def left(self) -> int:
        return self.budget - len(self.seen)

    def new_codes(self, candidates: np.ndarray) -> np.ndarray:
        """The candidates not evaluated yet, first occurrences only, in order."""
        fresh: list[int] = []
        taken: set[int] = set()
        for code in candidates.tolist():
            if code not in self.seen and code not in taken:
                taken.add(code)
                fresh.append(code)
        return np.array(fresh, dtype=np.int64)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        codes = codes[: self.left]
        if len(codes) == 0:
            return np.empty((0, self.n_objectives or 0))
        values = np.asarray(self.objectives(codes.copy()), dtype=np.float64)
        expected = (len(codes), self.n_objectives) if self.n_objectives else None
        if (
            values.ndim != 2
            or len(values) != len(codes)
            or (expected is not None and values.shape != expected)
        ):
            raise ValueError(
                f"objectives returned shape {values.shape} for {len(codes)} codes; expected "
                f"({len(codes)}, M) with the same M on every call"
            )
        if np.isnan(values).any():
            bad = int(codes[np.flatnonzero(np.isnan(values).any(axis=1))[0]])
            raise ValueError(f"objectives returned NaN for code {bad}")
        self.n_objectives = values.shape[1]
        self.codes.append(codes)
        self.values.append(values)
        self.seen.update(codes.tolist())
        return values

    def trace(self) -> SearchTrace:
        return SearchTrace(np.concatenate(self.codes), np.concatenate(self.values))


def _check_budget(n_evals: int, size: int) -> None:
    if not 1 <= n_evals <= size:
        raise ValueError(f"n_evals must be in 1..{size} (the size of the space), got {n_evals}")


def random_search(
    objectives: Objectives, n_evals: int, *, seed: int, n_genes: int = 6, n_choices: int = 5
) -> SearchTrace:
    """Evaluates `n_evals` distinct codes drawn uniformly without replacement, in one call.

    Args:
        objectives: codes (N,) int64 -> (N, M) values to minimise.
        n_evals: number of distinct evaluations.
        seed: seed of the numpy generator; the same seed gives the same trace.
        n_genes: genes per candidate (NAS-Bench-201: 6 edges).
        n_choices: values per gene (NAS-Bench-201: 5 operations).
    """
    size = _space_size(n_genes, n_choices)
    _check_budget(n_evals, size)
    rng = np.random.default_rng(seed)
    evaluator = _Evaluator(objectives, n_evals)
    evaluator(_fresh_random_codes(rng, n_evals, set(), size))
    return evaluator.trace()


def _fresh_random_codes(
    rng: np.random.Generator, count: int, seen: set[int], size: int
) -> np.ndarray:
    """`count` distinct uniformly random codes outside `seen` (count <= size - len(seen))."""
    if size - len(seen) <= 4 * count:
        pool = np.setdiff1d(np.arange(size, dtype=np.int64), np.fromiter(seen, np.int64))
        return rng.choice(pool, size=count, replace=False)
    picked: list[int] = []
    taken = set(seen)
    while len(picked) < count:
        for code in rng.integers(0, size, size=2 * count, dtype=np.int64).tolist():
            if code not in taken:
                taken.add(code)
                picked.append(code)
    return np.array(picked[:count], dtype=np.int64)


def _crowding_distance(values: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance within one front: (K, M) -> (K,), boundary points inf."""
    count, n_objectives = values.shape
    distance = np.zeros(count)
    if count <= 2:
        return np.full(count, np.inf)
    for m in range(n_objectives):
        order = np.argsort(values[:, m], kind="stable")
        column = values[order, m]
        span = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance


def _rank_and_crowding(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ranks = non_dominated_ranks(values)
    crowding = np.zeros(len(values))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = _crowding_distance(values[members])
    return ranks, crowding


def _survivors(ranks: np.ndarray, crowding: np.ndarray, count: int) -> np.ndarray:
    """Indices of the best `count` by (rank ascending, crowding descending)."""
    order = np.lexsort((-crowding, ranks))
    return order[:count]


def _tournament(
    rng: np.random.Generator, ranks: np.ndarray, crowding: np.ndarray, count: int
) -> np.ndarray:
    """Binary tournaments: lower rank wins, then larger crowding distance, then the first."""
    first = rng.integers(0, len(ranks), size=count)
    second = rng.integers(0, len(ranks), size=count)
    second_wins = (ranks[second] < ranks[first]) | (
        (ranks[second] == ranks[first]) & (crowding[second] > crowding[first])
    )
    return np.where(second_wins, second, first)


def _offspring(
    rng: np.random.Generator,
    parents: np.ndarray,
    ranks: np.ndarray,
    crowding: np.ndarray,
    count: int,
    n_choices: int,
    crossover_prob: float,
    mutation_prob: float,
) -> np.ndarray:
    """Uniform crossover of tournament winners, then per-gene mutation to a different value."""
    mothers = parents[_tournament(rng, ranks, crowding, count)]
    fathers = parents[_tournament(rng, ranks, crowding, count)]
    crossed = rng.random(count) < crossover_prob
    from_father = (rng.random(mothers.shape) < 0.5) & crossed[:, None]
    children = np.where(from_father, fathers, mothers)
    mutate = rng.random(children.shape) < mutation_prob
    shift = rng.integers(1, n_choices, size=children.shape)  # never back to the same value
    return np.where(mutate, (children + shift) % n_choices, children)


def nsga2(
    objectives: Objectives,
    n_evals: int,
    *,
    seed: int,
    population: int = 24,
    crossover_prob: float = 0.9,
    mutation_prob: float | None = None,
    n_genes: int = 6,
    n_choices: int = 5,
) -> SearchTrace:
    """NSGA-II (Deb et al., 2002) over a discrete space, stopping at exactly `n_evals`.

    A random initial population of distinct codes; then each generation draws `population`
    children by binary tournament (non-dominated rank, then crowding distance), uniform
    crossover and per-gene mutation, and keeps the best `population` of parents plus children
    (elitist mu + lambda survival by rank, then crowding distance). Children that repeat a code
    evaluated before are redrawn (up to 16 times, then replaced by random unseen codes), so
    every evaluation is a new code and the count is the honest cost; the last generation is
    cut to the budget left.

    Args:
        objectives: codes (N,) int64 -> (N, M) values to minimise; called once per generation.
        n_evals: number of distinct evaluations, at most the size of the space.
        seed: seed of the numpy generator; the same seed gives the same trace.
        population: parents kept per generation (mu) and children drawn per generation.
        crossover_prob: probability that a child mixes two parents (else copies one).
        mutation_prob: probability that each gene changes to another value; 1 / n_genes when
            None.
        n_genes: genes per candidate (NAS-Bench-201: 6 edges).
        n_choices: values per gene (NAS-Bench-201: 5 operations).
    """
    size = _space_size(n_genes, n_choices)
    _check_budget(n_evals, size)
    mutation = 1.0 / n_genes if mutation_prob is None else mutation_prob
    if population < 2:
        raise ValueError(f"population must be at least 2, got {population}")
    for name, value in (("crossover_prob", crossover_prob), ("mutation_prob", mutation)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    rng = np.random.default_rng(seed)
    evaluator = _Evaluator(objectives, n_evals)
    codes = _fresh_random_codes(rng, min(population, n_evals), set(), size)
    values = evaluator(codes)
    while evaluator.left > 0:
        ranks, crowding = _rank_and_crowding(values)
        parents = codes_to_genes(codes, n_genes, n_choices)
        wanted = min(population, evaluator.left)
        children = np.empty(0, dtype=np.int64)
        for _ in range(_MAX_REFILL_ROUNDS):
            genes = _offspring(
                rng, parents, ranks, crowding, population, n_choices, crossover_prob, mutation
            )
            drawn = np.concatenate([children, genes_to_codes(genes, n_choices)])
            children = evaluator.new_codes(drawn)[:wanted]
            if len(children) == wanted:
                break
        if len(children) < wanted:
            unseen = evaluator.seen | set(children.tolist())
            extra = _fresh_random_codes(rng, wanted - len(children), unseen, size)
            children = np.concatenate([children, extra])
        merged_codes = np.concatenate([codes, children])
        merged_values = np.concatenate([values, evaluator(children)])
        keep = _survivors(*_rank_and_crowding(merged_values), population)
        codes, values = merged_codes[keep], merged_values[keep]
    return evaluator.trace()
