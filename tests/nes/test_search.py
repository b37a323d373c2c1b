"""NES-RS, NES-RE and the deep-ensemble baseline on tiny networks, and DARTS sampling/mutation."""

import numpy as np
import pytest

from hwnas.core.datasets import ImageData, load_digits
from hwnas.core.spaces.darts_genotype import Genotype
from hwnas.core.spaces.nb201 import NB201Arch
from hwnas.errors import InputError
from hwnas.methods.nes.archs import mutate_arch, mutate_genotype, sample_genotype
from hwnas.methods.nes.pool import PoolData
from hwnas.methods.nes.search import NesConfig, deep_ensemble, run_search
from hwnas.methods.nes.train import TrainConfig

TRAIN = TrainConfig(epochs=1, batch_size=16)


@pytest.fixture(scope="module")
def data() -> PoolData:
    digits = load_digits(seed=0)
    part = lambda d, a, b: ImageData(d.x[a:b], d.y[a:b], 10)  # noqa: E731
    return PoolData(part(digits.train, 0, 48), part(digits.train, 48, 72), part(digits.test, 0, 24))


def _genes(genotype: Genotype) -> list:
    return [(cell, node, gene) for cell in ("normal", "reduce")
            for node in range(4) for gene in getattr(genotype, cell)[2 * node: 2 * node + 2]]  # fmt: skip


def test_darts_genotypes_are_sampled_and_mutated_one_gene_at_a_time():
    rng = np.random.default_rng(0)
    genotype = sample_genotype(rng)
    assert genotype == Genotype.from_string(str(genotype))
    for _ in range(300):
        child = mutate_genotype(genotype, rng)
        changed = set(_genes(genotype)) ^ set(_genes(child))
        assert len(changed) == 2, (genotype, child)  # one gene out, one gene in
        (old,), (new,) = (
            [g for g in changed if g in _genes(genotype)],
            [g for g in changed if g in _genes(child)],
        )
        assert old[:2] == new[:2]  # same cell and node
        assert (old[2][0] == new[2][0]) != (old[2][1] == new[2][1])  # the op or the input
        genotype = child


def test_nb201_mutation_changes_one_edge():
    rng = np.random.default_rng(1)
    arch = NB201Arch.sample(rng)
    child = NB201Arch.from_string(mutate_arch("nb201", str(arch), rng))
    assert sum(a != b for a, b in zip(arch.ops, child.ops)) == 1


def test_config_is_checked():
    with pytest.raises(InputError, match="unknown NES algorithm"):
        NesConfig(algorithm="bo")
    with pytest.raises(InputError, match="pool of at least as many"):
        NesConfig(pool_size=2, ensemble_size=3)
    NesConfig(pool_size=2, ensemble_size=3, replace=True)
    with pytest.raises(InputError, match="NES-RE needs"):
        NesConfig(
            algorithm="re", pool_size=4, ensemble_size=2, population_size=2, parent_candidates=3
        )
    config = NesConfig(algorithm="re", pool_size=10, ensemble_size=3)
    assert (config.population, config.candidates) == (5, 3)
    with pytest.raises(InputError, match="1 to P \\(5\\) children"):
        NesConfig(algorithm="re", pool_size=10, ensemble_size=3, children=6)


def test_random_search_draws_k_architectures_and_resumes(tmp_path, data):
    config = NesConfig(pool_size=3, ensemble_size=2, channels=4, seed=5)
    result = run_search(config, data, TRAIN, tmp_path)
    assert len(result.pool) == 3 and result.history == ()
    assert len({m.spec.seed for m in result.pool}) == 3
    seen = []
    again = run_search(config, data, TRAIN, tmp_path, on_member=lambda m, t: seen.append(t))
    assert seen == [False] * 3 and [m.id for m in again.pool] == [m.id for m in result.pool]


def test_regularised_evolution_mutates_forward_selected_parents(tmp_path, data):
    config = NesConfig(
        algorithm="re", pool_size=5, ensemble_size=2, population_size=3, channels=4, seed=2
    )
    result = run_search(config, data, TRAIN, tmp_path)
    pool = {m.id: m for m in result.pool}
    assert len(result.pool) == 5 and len(result.history) == 2
    population = [m.id for m in result.pool[:3]]
    for step in result.history:
        assert len(step["candidates"]) == 2 and set(step["candidates"]) <= set(population)
        assert step["parent"] in step["candidates"] and step["dropped"] == population[0]
        parent = NB201Arch.from_string(pool[step["parent"]].spec.arch)
        child = NB201Arch.from_string(pool[step["child"]].spec.arch)
        assert sum(a != b for a, b in zip(parent.ops, child.ops)) == 1
        population = population[1:] + [step["child"]]
    seen = []
    again = run_search(config, data, TRAIN, tmp_path, on_member=lambda m, t: seen.append(t))
    assert seen == [False] * 5 and again.history == result.history  # replayed, not retrained


def test_regularised_evolution_trains_a_batch_of_children_at_once(tmp_path, data, monkeypatch):
    import hwnas.methods.nes.search as search

    batches = []
    build = search.build_pool
    monkeypatch.setattr(
        search,
        "build_pool",
        lambda specs, *a, **k: batches.append(len(specs)) or build(specs, *a, **k),
    )
    config = NesConfig(
        algorithm="re", pool_size=6, ensemble_size=2, population_size=3, children=2, channels=4
    )
    result = run_search(config, data, TRAIN, tmp_path)
    assert batches == [3, 2, 1]  # the population, then B=2 children, then the one still missing
    assert [step["iteration"] for step in result.history] == [1, 1, 2]
    population = [m.id for m in result.pool[:3]]
    for iteration in (1, 2):
        steps = [s for s in result.history if s["iteration"] == iteration]
        assert all(set(s["candidates"]) <= set(population) for s in steps)
        assert [s["dropped"] for s in steps] == population[: len(steps)]  # the oldest go
        population = population[len(steps) :] + [s["child"] for s in steps]
    assert [m.id for m in result.pool[3:]] == [s["child"] for s in result.history]


def test_deep_ensemble_repeats_the_best_architecture(tmp_path, data):
    config = NesConfig(pool_size=3, ensemble_size=3, channels=4, seed=1)
    pool = run_search(config, data, TRAIN, tmp_path / "pool").pool
    best = min(pool, key=lambda m: m.metrics["valid_nll"])
    members = deep_ensemble(pool, 3, data, TRAIN, tmp_path / "baseline", seed=1)
    assert members[0] is best and len(members) == 3
    assert {m.spec.arch for m in members} == {best.spec.arch}
    assert len({m.spec.seed for m in members}) == 3
    assert sorted(p.name for p in (tmp_path / "baseline").iterdir()) == sorted(
        m.id for m in members[1:]
    )


def test_darts_pool(tmp_path, data):
    config = NesConfig(space="darts", pool_size=2, ensemble_size=2, channels=4, cells=3)
    result = run_search(config, data, TRAIN, tmp_path)
    assert [m.spec.space for m in result.pool] == ["darts", "darts"]
    assert result.pool[0].predictions["test"].shape == (24, 10)
