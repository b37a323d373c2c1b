"""The runtime predictor: kernel profiles of a space's networks, the store, chosen samples."""

import numpy as np
import pytest

from devices import local_device
from hwnas.core.budget import BudgetError
from hwnas.core.spaces import NB201Arch, create_space
from hwnas.core.spaces.nb201 import all_codes, encode, encode_codes
from hwnas.core.tables import load_accuracy_table, reference_archs
from hwnas.errors import InputError
from hwnas.jobs import latencies_from_table
from hwnas.jobs.generate import fit_latency_predictor, generate_with_kernels
from hwnas.methods.runtime_predictor import (
    KernelProfiler,
    RuntimePredictor,
    choose_samples,
    stored_kernel_table,
)
from profilers import MeasurementStore, OnnxRuntime


def small_nb201():
    """Five NB201 networks of 4 channels and 1 cell per stage (fast to export and run)."""
    space = create_space("nb201")
    archs = list(space.reference_archs())[:6]
    build = lambda arch: (space.build(arch, channels=4, cells_per_stage=1), space.input_shape)  # noqa: E731
    return archs, build


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kernels")
    archs, build = small_nb201()
    profiler = KernelProfiler("nb201", folder, OnnxRuntime(1), build=build)
    with MeasurementStore(folder / "m.sqlite") as store:
        table = profiler.table(archs[:4], runs=3, store=store, device=local_device())
    return profiler, table, archs, folder


def test_profiles_are_cached_and_reused(profiled, monkeypatch):
    profiler, table, archs, folder = profiled
    assert (folder / "kernels" / "onnxruntime-t1-fp32").is_dir()
    assert profiler.cached_indices() == sorted(a.index for a in archs[:4])
    import profilers.kernels as kernels

    def fail(*args, **kwargs):
        raise AssertionError("profiled again")

    monkeypatch.setattr(kernels, "profile_kernels", fail)
    again = profiler.network_kernels(archs[0], runs=3)  # read back, not profiled
    assert again.runs == 3 and len(again.kernels) > 0
    with pytest.raises(AssertionError, match="profiled again"):
        profiler.network_kernels(archs[0], runs=10)  # more runs than cached: profiled


def test_the_store_holds_the_kernel_profiles_of_its_setting(profiled):
    profiler, table, archs, folder = profiled
    with MeasurementStore(folder / "m.sqlite", create=False) as store:
        device = local_device().name
        stored = store.kernel_profiles(device, "onnxruntime", "fp32")
        assert set(stored) == {str(a) for a in archs[:4]}
        entry = stored[str(archs[0])]
        assert entry["runtime_info"]["intra_op_threads"] == 1 and entry["fingerprint"]["host"]
        again = stored_kernel_table(store, device, OnnxRuntime(1))
        assert again is not None and len(again) == len(table)
        assert stored_kernel_table(store, device, OnnxRuntime(2)) is None  # other threads
        assert store.kernel_profiles(device, "onnxruntime", "int8") == {}


def test_an_unseen_network_is_priced_from_the_table(profiled):
    profiler, table, archs, _ = profiled
    predictor = RuntimePredictor(profiler, table)
    X = predictor.features(archs)
    assert X.shape == (6, 6) and np.all(X[:, 0] > 0) and np.all(X[:, 1] == 0)
    assert np.all(X[:, 5] >= 3)  # kernels per network
    # the same network profiled in place and priced from the table agree closely
    own = profiler.network_kernels(archs[0], runs=3).kernel_sum_us / 1e3
    assert X[0, 0] == pytest.approx(own, rel=0.5)


def test_fit_refuses_too_few_samples_and_predicts_positive_latencies(profiled):
    profiler, table, archs, _ = profiled
    predictor = RuntimePredictor(profiler, table, model="linear")
    with pytest.raises(InputError, match="at least 5"):
        predictor.fit(archs[:3], [1.0, 2.0, 3.0])
    X = predictor.features(archs)
    latency = 2.0 * X[:, 0] + 0.05  # a device whose latency is its kernel sum, scaled
    predictor.fit(archs, latency)
    assert predictor.chosen.startswith("linear:")
    assert predictor.predict(archs, X) == pytest.approx(latency, rel=1e-3)


def test_chosen_samples_cover_the_range_and_repeat_with_the_seed():
    rng = np.random.default_rng(0)
    features = np.exp(rng.normal(size=(40, 3)))
    known = [0, 1, 2]
    picks = choose_samples(features, known, 5, seed=3)
    assert picks == choose_samples(features, known, 5, seed=3)
    assert len(set(picks)) == 5 and not set(picks) & set(known)
    # the first pick is the candidate farthest from the known rows
    X = np.log(features)
    X = (X - X.mean(0)) / X.std(0)
    distance = np.min(((X[:, None] - X[None, known]) ** 2).sum(-1), axis=1)
    assert picks[0] == int(np.argmax(distance))
    with pytest.raises(InputError, match="cannot choose"):
        choose_samples(features, known, 38)


class CountPricer:
    """A stand-in runtime predictor: prices a cell by its live-operation counts (as a
    kernel sum would on a device measured in ``latencies``), counting every cell priced.

    ``noise``: each cell's price is multiplied by a fixed factor exp(noise * z), z drawn per
    cell from a seeded normal, so that no count regression can match it exactly.
    ``cached``: table indices reported as cached (priced without exporting)."""

    def __init__(self, predictor, noise=0.0, cached=()):
        self.counts = predictor
        self.priced = 0
        self.chosen = "count stand-in"
        self.regressor_ = predictor
        self.cached = list(cached)
        self.seen = set()
        self.scale = np.exp(noise * np.random.default_rng(0).normal(size=len(all_codes())))

    def fit(self, archs, latency_ms):
        return self

    def predict(self, archs):
        self.priced += len(archs)
        index = [a.index for a in archs]
        self.seen |= set(index)
        return self.counts.predict(encode(archs)) * self.scale[index]

    def every_bound(self, confidence=0.9):
        """The bound of all 15,625 cells, in table order (what pricing every cell gives)."""
        archs = [NB201Arch.from_string(a) for a in load_accuracy_table().archs]
        codes = np.array([a.code for a in archs])
        scale = self.scale[[a.index for a in archs]]
        return self.counts.predict(encode_codes(codes)) * scale * self.bound_factor(confidence)

    def bound_factor(self, confidence=0.9):
        return self.counts.bound_factor(confidence)

    def cached_indices(self):
        return self.cached


def test_generate_with_kernels_prices_lazily_and_picks_the_most_accurate_that_fits():
    table = latencies_from_table("gold_6240")
    refs = list(reference_archs("nb201"))
    rng = np.random.default_rng(0)
    others = [a for a in rng.permutation(list(table))[:40] if a not in refs][:30]
    sample = {a: table[a] for a in refs + others}
    counts = fit_latency_predictor(sample)
    pricer = CountPricer(counts)
    budget = float(np.median(list(sample.values())))
    result = generate_with_kernels(sample, budget, pricer, confidence=0.9)
    # the same answer as pricing every cell: the most accurate whose bound meets the budget
    bound = counts.predict(encode_codes(all_codes())) * counts.bound_factor(0.9)
    accuracy = load_accuracy_table().column("cifar10_test_acc")
    assert result.chosen.latency_bound_ms <= budget
    assert result.chosen.accuracy == pytest.approx(accuracy[bound <= budget].max())
    assert pricer.priced < 1000  # a few cells priced, not 15,625
    assert result.predictor["priced"] >= 1
    with pytest.raises(BudgetError, match="raise the budget"):
        generate_with_kernels(sample, 1e-3, CountPricer(counts), confidence=0.9)


def twenty_cells():
    """The 10 references and 10 random cells (seed 1) of the gold_6240 table, their count
    model, and the table's CIFAR-10 accuracy of every cell."""
    table = latencies_from_table("gold_6240")
    refs = list(reference_archs("nb201"))
    rng = np.random.default_rng(1)
    sample = {a: table[a] for a in refs + list(rng.permutation(list(table))[:10])}
    counts = fit_latency_predictor(sample)
    return sample, counts, load_accuracy_table().column("cifar10_test_acc")


@pytest.mark.parametrize("noise", [0.0, 0.03])
def test_generate_with_kernels_equals_pricing_every_cell_at_every_budget(noise):
    """Five budgets from tight to loose: the lazy answer is the most accurate cell whose
    bound meets the budget over all 15,625, also where the prices are not a count model."""
    sample, counts, accuracy = twenty_cells()
    bound = CountPricer(counts, noise).every_bound(0.9)
    for budget in np.quantile(bound, [0.001, 0.01, 0.1, 0.5, 0.9]):
        pricer = CountPricer(counts, noise)
        result = generate_with_kernels(sample, float(budget), pricer, confidence=0.9)
        assert result.chosen.latency_bound_ms <= budget
        assert result.chosen.accuracy == pytest.approx(accuracy[bound <= budget].max())
        assert pricer.priced < 1500


def test_a_cut_search_answers_with_the_best_priced_cell_that_fits():
    """With the pricing cap reached before a new cell fits, the answer is the most accurate
    cell priced so far whose bound meets the budget (said to be cut), not an error that
    names a fitting cell as the fastest; where no priced cell fits, the error says the search
    was cut with candidates left, not only to raise the budget."""
    sample, counts, accuracy = twenty_cells()
    bound = CountPricer(counts, 0.3).every_bound(0.9)  # prices far from any count model
    cuts = errors = 0
    for budget in np.quantile(bound, [0.01, 0.05, 0.2, 0.5]):
        pricer = CountPricer(counts, 0.3)
        try:
            result = generate_with_kernels(
                sample, float(budget), pricer, confidence=0.9, max_priced=2
            )
        except BudgetError as err:
            errors += 1
            seen = np.array(sorted(pricer.seen))
            assert np.all(bound[seen] > budget)  # no priced cell fits
            assert "stopped at 2 new cells priced" in str(err) and "left unpriced" in str(err)
            fastest = float(str(err).split("bound ")[1].split(" ms")[0])
            assert fastest == pytest.approx(bound[seen].min(), rel=1e-3)
            continue
        assert result.chosen.latency_bound_ms <= budget
        assert result.chosen.nb201_index in pricer.seen
        if "cut_at" in result.predictor:
            cuts += 1
            assert result.predictor["cut_at"] == 2 and result.predictor["priced"] == 2
            seen = np.array(sorted(pricer.seen))
            fits = seen[bound[seen] <= budget]
            assert result.chosen.accuracy == pytest.approx(accuracy[fits].max())
            assert result.predictor["unpriced"] > 0
    assert cuts >= 1 and errors <= 2


def test_generate_with_kernels_prices_cached_cells_without_counting_them():
    table = latencies_from_table("gold_6240")
    sample = {a: table[a] for a in list(reference_archs("nb201")) + list(table)[:5]}
    counts = fit_latency_predictor(sample)
    budget = float(np.median(list(sample.values())))
    pricer = CountPricer(counts)
    first = generate_with_kernels(sample, budget, pricer, confidence=0.9)
    assert first.predictor["priced"] >= 1
    # Once the cells it priced are cached, the same budget needs no new cell priced: a cached
    # cell is judged by its price, so the first answer stays a candidate.
    cached = CountPricer(counts, cached=sorted(pricer.seen))
    again = generate_with_kernels(sample, budget, cached, confidence=0.9, max_priced=0)
    assert again.predictor["priced"] == 0 and first.chosen.nb201_index in cached.seen
    assert again.chosen.latency_bound_ms <= budget
    assert again.chosen.accuracy >= first.chosen.accuracy
    # Uncapped, the stand-in refitted on the cached cells may let through cells the first one
    # (fitted on 15) ruled out: the answer is at least as accurate.
    uncapped = generate_with_kernels(sample, budget, CountPricer(counts, cached=cached.cached))
    assert uncapped.chosen.latency_bound_ms <= budget
    assert uncapped.chosen.accuracy >= first.chosen.accuracy


def test_modnas_proposals_priced_by_a_runtime_predictor(monkeypatch, capsys, tmp_path):
    """`hwnas generate --method modnas --store` with kernel profiles: the hypernetwork
    proposes, the runtime predictor prices, and only proposed cells can be chosen."""
    import importlib

    from hwnas.methods.modnas.generate import candidate_indices
    from hwnas.methods.modnas.model import load_modnas_model

    table = latencies_from_table("gold_6240")
    refs = list(reference_archs("nb201"))
    sample = {a: table[a] for a in refs + list(table)[:10]}
    proposed = candidate_indices(load_modnas_model(), sample)
    assert 0 < len(proposed) < 15625 and np.all(np.diff(proposed) > 0)
    counts = fit_latency_predictor(sample)
    budget = float(np.median(list(sample.values())))
    result = generate_with_kernels(sample, budget, CountPricer(counts), candidates=proposed)
    bound = CountPricer(counts).every_bound(0.9)
    accuracy = load_accuracy_table().column("cifar10_test_acc")
    fits = np.intersect1d(np.flatnonzero(bound <= budget), proposed)
    assert result.chosen.nb201_index in proposed
    assert result.chosen.accuracy == pytest.approx(accuracy[fits].max())
    with pytest.raises(InputError, match="table indices"):
        generate_with_kernels(sample, budget, CountPricer(counts), candidates=[15625])

    csv = tmp_path / "lat.csv"
    csv.write_text("arch,latency_ms\n" + "".join(f"{a},{v}\n" for a, v in sample.items()))
    cli = importlib.import_module("hwnas.cli.main")  # the module; hwnas.cli.main is main()
    monkeypatch.setattr(cli, "_kernel_predictor", lambda args, latencies: CountPricer(counts))
    argv = ["generate", "--device-latencies", csv, "--method", "modnas", "--latency-budget-ms",
            budget]  # fmt: skip
    assert cli.main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == result.chosen.arch
    assert f"(of {len(proposed)} cells MODNAS proposed)" in out
