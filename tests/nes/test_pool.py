"""Pool members: specs, networks, atomic saving, resumable pool builds (local and Ray)."""

import importlib.util
import sys

import numpy as np
import pytest
import torch

from hwnas.core.datasets import ImageData, load_digits
from hwnas.errors import UnavailableError
from hwnas.methods.nes.pool import (
    MemberSpec,
    PoolData,
    PoolError,
    build_member,
    build_pool,
    is_finished,
    load_member,
    load_predictions,
    save_member,
)
from hwnas.methods.nes.train import TrainConfig, predict_proba

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
GENOTYPE = (
    "darts:normal=sep_conv_3x3~0,skip_connect~1,max_pool_3x3~0,dil_conv_3x3~2,"
    "avg_pool_3x3~1,sep_conv_5x5~3,skip_connect~0,dil_conv_5x5~4;reduce=max_pool_3x3~0,"
    "avg_pool_3x3~1,skip_connect~1,sep_conv_3x3~2,max_pool_3x3~0,dil_conv_3x3~3,"
    "skip_connect~2,avg_pool_3x3~4"
)
TRAIN = TrainConfig(epochs=1, batch_size=16)


@pytest.fixture(scope="module")
def data() -> PoolData:
    digits = load_digits(seed=0)
    part = lambda d, a, b: ImageData(d.x[a:b], d.y[a:b], 10)  # noqa: E731
    return PoolData(part(digits.train, 0, 48), part(digits.train, 48, 72), part(digits.test, 0, 24))


def _spec(seed: int = 0, arch: str = ARCH, **kw) -> MemberSpec:
    return MemberSpec("nb201", arch, seed, 10, (1, 8, 8), channels=4, cells=1, **kw)


def test_spec_is_a_canonical_value_with_a_stable_id():
    spec = _spec(arch="  " + ARCH + " ")
    assert spec.arch == ARCH and spec == _spec() and hash(spec) == hash(_spec())
    assert spec.id == _spec().id != _spec(seed=1).id and spec.id.startswith("nb201-")
    assert MemberSpec.from_dict(spec.to_dict()) == spec
    assert spec.with_seed(7) == _spec(seed=7)
    with pytest.raises(PoolError, match="unknown NES space 'fbnet'"):
        MemberSpec("fbnet", ARCH, 0, 10, (1, 8, 8))
    with pytest.raises(PoolError, match="even channel count"):
        MemberSpec("darts", GENOTYPE, 0, 10, (1, 8, 8), channels=3, cells=3)
    with pytest.raises(PoolError, match="unknown fields"):
        MemberSpec.from_dict({**spec.to_dict(), "depth": 3})
    with pytest.raises(ValueError, match="not a NAS-Bench-201 architecture"):
        _spec(arch="|conv~0|")


@pytest.mark.parametrize(("space", "arch", "cells"), [("nb201", ARCH, 1), ("darts", GENOTYPE, 3)])
def test_built_member_outputs_logits_and_is_seeded(space, arch, cells):
    spec = MemberSpec(space, arch, 3, 10, (1, 8, 8), channels=4, cells=cells)
    x = torch.randn(5, 1, 8, 8)
    a, b = build_member(spec).eval(), build_member(spec).eval()
    assert a(x).shape == (5, 10)
    torch.testing.assert_close(a(x), b(x))
    other = build_member(spec.with_seed(4)).eval()
    assert not torch.allclose(a(x), other(x))


def test_save_and_load_round_trip(tmp_path, data):
    spec = _spec()
    module = build_member(spec).eval()
    probs = predict_proba(module, data.test.x)
    save_member(tmp_path / spec.id, spec, module, {"valid_nll": 1.0}, {"test": probs}, TRAIN)
    assert is_finished(tmp_path / spec.id)
    assert [p.name for p in tmp_path.iterdir()] == [spec.id]  # no staging folder left
    loaded_spec, loaded = load_member(tmp_path / spec.id)
    assert loaded_spec == spec and not loaded.training
    np.testing.assert_array_equal(predict_proba(loaded, data.test.x), probs)
    np.testing.assert_array_equal(load_predictions(tmp_path / spec.id)["test"], probs)
    with pytest.raises(PoolError, match="not a finished NES member"):
        load_member(tmp_path / "absent")


def test_a_save_killed_midway_leaves_no_member(tmp_path, monkeypatch, data):
    spec = _spec()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("safetensors.numpy.save_file", killed)
    with pytest.raises(KeyboardInterrupt):
        save_member(
            tmp_path / spec.id, spec, build_member(spec), {}, {"test": data.test.x[:, 0, 0]}
        )
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_build_resumes_without_retraining(tmp_path, data):
    specs = [_spec(seed) for seed in range(3)]
    arrived = []

    def kill_after_two(member, trained):
        arrived.append((member.id, trained))
        if len(arrived) == 2:
            raise KeyboardInterrupt  # the build is killed after its second member

    with pytest.raises(KeyboardInterrupt):
        build_pool(specs, data, TRAIN, tmp_path, on_member=kill_after_two)
    assert [trained for _, trained in arrived] == [True, True]
    weights = {s.id: (tmp_path / s.id / "model.safetensors").stat().st_mtime_ns for s in specs[:2]}
    (tmp_path / f".{specs[2].id}.x1y2").mkdir()  # the staging folder of a killed save

    build = build_pool(specs + specs[:1], data, TRAIN, tmp_path)
    assert build.skipped == (specs[0].id, specs[1].id) and build.trained == (specs[2].id,)
    assert [m.id for m in build.members] == [s.id for s in specs]
    for member_id, mtime in weights.items():
        assert (tmp_path / member_id / "model.safetensors").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(s.id for s in specs)
    member = build.members[2]
    assert member.predictions["valid"].shape == (24, 10)
    assert member.metrics["valid_nll"] > 0 and len(member.metrics["train_losses"]) == 1


def test_members_must_fit_the_data(tmp_path, data):
    spec = MemberSpec("nb201", ARCH, 0, 10, (3, 8, 8), channels=4)
    with pytest.raises(PoolError, match=r"input \(3, 8, 8\)"):
        build_pool([spec], data, TRAIN, tmp_path)
    with pytest.raises(PoolError, match="unknown backend 'slurm'"):
        build_pool([_spec()], data, TRAIN, tmp_path, backend="slurm")


def test_missing_ray_is_a_clear_error(tmp_path, monkeypatch, data):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(UnavailableError, match=r"pip install 'hwnas\[ray\]'"):
        build_pool([_spec()], data, TRAIN, tmp_path, backend="ray")
    assert not is_finished(tmp_path / _spec().id)


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (optional extra: pip install 'hwnas[ray]')",
)
def test_ray_backend_trains_one_task_per_member(tmp_path, data):
    import ray

    specs = [_spec(seed) for seed in range(2)]
    local = build_pool(specs[:1], data, TRAIN, tmp_path / "local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        seen = []
        build = build_pool(
            specs, data, TRAIN, tmp_path / "ray", "ray", lambda m, t: seen.append(m.id)
        )
    finally:
        ray.shutdown()
    assert sorted(build.trained) == sorted(s.id for s in specs) and sorted(seen) == sorted(
        build.trained
    )
    assert all(is_finished(tmp_path / "ray" / s.id) for s in specs)
    np.testing.assert_allclose(
        build.members[0].predictions["test"], local.members[0].predictions["test"], atol=1e-5
    )
    spec, module = load_member(tmp_path / "ray" / specs[1].id)
    assert spec == specs[1]
    np.testing.assert_allclose(
        predict_proba(module, data.test.x), build.members[1].predictions["test"], atol=1e-6
    )


def test_a_pool_is_only_resumed_with_its_settings_and_data(tmp_path, data):
    build_pool([_spec()], data, TRAIN, tmp_path)
    with pytest.raises(PoolError, match="was trained with"):
        build_pool([_spec()], data, TrainConfig(epochs=2, batch_size=16), tmp_path)
    other = PoolData(data.train, data.test, data.valid)
    assert other.fingerprint != data.fingerprint
    with pytest.raises(PoolError, match="trained on other data"):
        build_pool([_spec()], other, TRAIN, tmp_path)
