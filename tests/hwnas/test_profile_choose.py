"""`hwnas profile --choose`: kernel profiles of a pool, chosen samples, reproducible by seed."""

from __future__ import annotations

import dataclasses

import pytest

from hwnas.errors import InputError
from hwnas.jobs.profile import ProfileConfig, profile_archs, profile_device
from hwnas.jobs.profile_choose import choose_archs, pool_size
from hwnas.jobs.profile_setting import NetworkSetting
from profilers import MeasurementStore
from profilers.rounds import RoundsConfig
from profilers.timing import TimingConfig

SMALL = NetworkSetting((1, 8, 8), 10, {"channels": 4, "cells_per_stage": 1})
QUICK = ProfileConfig(
    samples=2,
    choose=True,
    pool=4,
    seed=3,
    exporter="legacy",
    timing=TimingConfig(warmup_runs=1, warmup_s=0.0, min_runs=3, max_runs=10, max_time_s=0.02),
    rounds=RoundsConfig(rounds=1, max_rounds=1, probe=None),
    network=SMALL,
)


@pytest.fixture(scope="module")
def chosen(tmp_path_factory):
    folder = tmp_path_factory.mktemp("choose")
    result = profile_device(folder / "m.sqlite", QUICK)
    return folder, result


def test_the_references_and_chosen_samples_are_timed_and_the_pool_kernels_stored(chosen):
    folder, result = chosen
    assert len(result.latency_ms) == 12 and not result.failed  # 10 references + 2 chosen
    with MeasurementStore(folder / "m.sqlite", create=False) as store:
        kernels = store.kernel_profiles(result.device, "onnxruntime", "fp32")
    assert len(kernels) == 14  # the references and the pool of 4
    assert all(key.endswith("@" + SMALL.label) for key in kernels)
    assert set(SMALL.store_key(a) for a in _archs(result)) <= set(kernels)


def _archs(result):
    return list(result.latency_ms)


def test_the_choice_repeats_with_the_seed_and_reads_cached_kernels(chosen, tmp_path):
    folder, result = chosen
    from devices import local_device

    with MeasurementStore(tmp_path / "other.sqlite") as store:
        candidates = profile_archs(dataclasses.replace(QUICK, samples=4, choose=False))
        again = choose_archs(
            QUICK,
            candidates,
            1,
            store,
            local_device(),
            folder / "kernels" / SMALL.label,
            build=lambda arch: SMALL.build("nb201", arch),
            key_of=SMALL.store_key,
        )
    assert [str(a) for a in again] == list(result.latency_ms)


def test_pool_and_remote_devices_are_checked():
    assert pool_size(5, None) == 40 and pool_size(20, None) == 80 and pool_size(3, 3) == 3
    with pytest.raises(InputError, match="smaller than --samples"):
        pool_size(5, 4)
    remote = dataclasses.replace(__import__("devices").local_device(), reach="ssh://pi@board")
    with pytest.raises(InputError, match="on that device itself"):
        choose_archs(QUICK, [], 1, None, remote, "unused")


def test_generate_with_kernels_asked_of_a_store_without_them_is_one_line(tmp_path, capsys):
    from hwnas.cli import main
    from hwnas.jobs import latencies_from_table

    csv = tmp_path / "lat.csv"
    sample = dict(list(latencies_from_table("gold_6240").items())[:20])
    csv.write_text("arch,latency_ms\n" + "".join(f"{a},{v}\n" for a, v in sample.items()))
    argv = ["generate", "--device-latencies", str(csv), "--latency-budget-ms", "1",
            "--predictor", "kernels", "--method", "regression"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pass --store" in err[0]
