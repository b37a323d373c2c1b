"""Neural Ensemble Search: the pool by NES-RS or NES-RE, and the deep-ensemble baseline.

The pool is built by random search (NES-RS) or regularised evolution (NES-RE).

Zaidi, Zela, Elsken, Holmes, Hutter, Teh, "Neural Ensemble Search for Uncertainty Estimation
and Dataset Shift", NeurIPS 2021:

- NES-RS trains K architectures drawn uniformly, each with its own initialisation seed.
- NES-RE (their Algorithm 2) trains a population of P random architectures, then until the
  pool holds K networks: forward-selects m parent candidates from the population on
  validation NLL, takes one of them uniformly as the parent, mutates its architecture, trains
  the child, adds it to the population and the pool, and drops the population's oldest.
  With ``children`` B > 1 each iteration mutates B parents (drawn from the same candidates)
  and trains the B children at once, so a parallel backend keeps B workers busy; the
  population then drops its B oldest. B = 1 is the paper's serial algorithm.
- The deep ensemble (Lakshminarayanan et al., 2017) of the pool's best network by validation
  NLL: its architecture with M different initialisation seeds.

Every draw comes from one generator seeded by `NesConfig.seed` and selection reads stored
predictions, so a rerun after an interruption replays the same pool and trains only the
members that were not finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.core.serialize import to_json
from hwnas.errors import InputError
from hwnas.methods.nes.archs import mutate_arch, sample_arch
from hwnas.methods.nes.pool import (
    MemberSpec,
    PoolData,
    PoolMember,
    build_pool,
    pool_spaces,
)
from hwnas.methods.nes.selection import forward_select
from hwnas.methods.nes.train import TrainConfig

ALGORITHMS: tuple[str, ...] = ("rs", "re")


@dataclass(frozen=True)
class NesConfig:
    """One NES run.

    Attributes:
        algorithm: ``rs`` (random search) or ``re`` (regularised evolution).
        space: ``nb201`` or ``darts``.
        pool_size: K, networks trained in all.
        ensemble_size: M, members of the selected ensemble.
        population_size: P of NES-RE; None: half the pool, at least M.
        parent_candidates: m of NES-RE, the forward-selected parent candidates; None: M.
        children: B of NES-RE, children mutated and trained per iteration (at most P).
        replace: Forward selection with replacement.
        channels: Channels of the members' first stage.
        cells: Cells per stage (nb201) or in all (darts).
        seed: Seed of every architecture and initialisation draw.
    """

    algorithm: str = "rs"
    space: str = "nb201"
    pool_size: int = 10
    ensemble_size: int = 3
    population_size: int | None = None
    parent_candidates: int | None = None
    children: int = 1
    replace: bool = False
    channels: int = 8
    cells: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise InputError(
                f"unknown NES algorithm {self.algorithm!r}; expected one of {ALGORITHMS}"
            )
        if self.space not in pool_spaces():
            raise InputError(
                f"unknown NES space {self.space!r}; expected one of {tuple(pool_spaces())}"
            )
        if min(self.pool_size, self.ensemble_size, self.channels, self.cells) < 1:
            raise InputError("pool_size, ensemble_size, channels and cells must be positive")
        if not self.replace and self.ensemble_size > self.pool_size:
            raise InputError(
                f"an ensemble of {self.ensemble_size} needs a pool of at least as many "
                f"networks (got {self.pool_size}), or selection with replacement"
            )
        population, candidates = self.population, self.candidates
        if self.algorithm == "re" and not 1 <= candidates <= population <= self.pool_size:
            raise InputError(
                f"NES-RE needs 1 <= parent candidates ({candidates}) <= population "
                f"({population}) <= pool size ({self.pool_size})"
            )
        if not 1 <= self.children <= population:
            raise InputError(
                f"NES-RE trains 1 to P ({population}) children per iteration, got {self.children}"
            )

    @property
    def population(self) -> int:
        """P: the given population size, or half the pool (at least M, at most K)."""
        if self.population_size is not None:
            return self.population_size
        return min(self.pool_size, max(self.ensemble_size, self.pool_size // 2, 1))

    @property
    def candidates(self) -> int:
        """m: the given number of parent candidates, or M (at most P)."""
        if self.parent_candidates is not None:
            return self.parent_candidates
        return min(self.ensemble_size, self.population)

    def record(self) -> dict:
        """The settings as JSON values, with the derived `population` and `candidates`."""
        return {
            **to_json(self, versioned=False),
            "population": self.population,
            "candidates": self.candidates,
        }


@dataclass(frozen=True)
class SearchResult:
    """The pool in the order it was built, and what NES-RE did at each iteration."""

    pool: tuple[PoolMember, ...]
    history: tuple[dict, ...]


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def _spec(config: NesConfig, data: PoolData, arch: str, seed: int) -> MemberSpec:
    return MemberSpec(
        config.space, arch, seed, data.num_classes, data.input_shape, config.channels, config.cells
    )


def valid_probs(members) -> np.ndarray:
    """The members' stored validation probabilities, (K, N, C)."""
    return np.stack([m.predictions["valid"] for m in members])


def run_search(
    config: NesConfig,
    data: PoolData,
    train_config: TrainConfig,
    pool_dir: str | Path,
    backend: str = "local",
    on_member: Callable[[PoolMember, bool], None] | None = None,
) -> SearchResult:
    """Builds the pool of `config.algorithm` in `pool_dir` (resuming finished members)."""
    rng = np.random.default_rng(config.seed)
    first = config.pool_size if config.algorithm == "rs" else config.population
    specs = [_spec(config, data, sample_arch(config.space, rng), _seed(rng)) for _ in range(first)]
    built = build_pool(specs, data, train_config, pool_dir, backend, on_member)
    pool = list(built.members)
    history: list[dict] = []
    population = list(pool)
    iteration = 0
    while config.algorithm == "re" and len(pool) < config.pool_size:
        iteration += 1
        chosen = forward_select(
            valid_probs(population), data.valid.y, config.candidates, replace=False
        )
        candidates = [population[i] for i in chosen.members]
        batch = min(config.children, config.pool_size - len(pool))
        parents, specs = [], []
        for _ in range(batch):
            parent = candidates[int(rng.integers(len(candidates)))]
            child_arch = mutate_arch(config.space, parent.spec.arch, rng)
            spec = _spec(config, data, child_arch, _seed(rng))
            while spec.id in {s.id for s in specs}:  # a batch trains distinct members
                spec = spec.with_seed(_seed(rng))
            parents.append(parent)
            specs.append(spec)
        children = list(build_pool(specs, data, train_config, pool_dir, backend, on_member).members)
        dropped, population = population[:batch], population[batch:] + children
        pool.extend(children)
        for parent, child, old in zip(parents, children, dropped):
            history.append(
                {
                    "iteration": iteration,
                    "candidates": [m.id for m in candidates],
                    "parent": parent.id,
                    "child": child.id,
                    "child_arch": child.spec.arch,
                    "dropped": old.id,
                }
            )
    return SearchResult(tuple(pool), tuple(history))


def deep_ensemble(
    pool: tuple[PoolMember, ...] | list[PoolMember],
    size: int,
    data: PoolData,
    train_config: TrainConfig,
    out_dir: str | Path,
    seed: int = 0,
    backend: str = "local",
    on_member: Callable[[PoolMember, bool], None] | None = None,
) -> tuple[PoolMember, ...]:
    """The deep ensemble of the pool's best member by validation NLL.

    That member and ``size - 1`` retrainings of its architecture with new seeds (saved in
    `out_dir`).
    """
    if not pool:
        raise InputError("the pool is empty: there is no best architecture to repeat")
    best = min(pool, key=lambda m: (m.metrics["valid_nll"], m.id))
    rng = np.random.default_rng([seed, 1])
    seeds: list[int] = []
    while len(seeds) < size - 1:
        new = _seed(rng)
        if new != best.spec.seed and new not in seeds:
            seeds.append(new)
    specs = [best.spec.with_seed(s) for s in seeds]
    built = build_pool(specs, data, train_config, out_dir, backend, on_member)
    return (best, *built.members)
