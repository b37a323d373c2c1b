"""Timing a pool's own networks: exported to ONNX, timed on the device, stored as measured."""

import importlib.util
import json
from pathlib import Path

import pytest

from devices import Device, DeviceError, local_device
from hwnas.core.datasets import ImageData, load_digits
from hwnas.errors import InputError
from hwnas.methods.nes.latency import (
    LATENCY_FILE,
    ONNX_FILE,
    MeasureConfig,
    measure_member_latencies,
    stored_latency,
)
from hwnas.methods.nes.pool import WEIGHTS_FILE, MemberSpec, PoolData, build_pool
from hwnas.methods.nes.train import TrainConfig
from profilers.timing import TimingConfig

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
)
GENOTYPE = (
    "darts:normal=sep_conv_3x3~0,skip_connect~1,max_pool_3x3~0,dil_conv_3x3~2,"
    "avg_pool_3x3~1,sep_conv_5x5~3,skip_connect~0,dil_conv_5x5~4;reduce=max_pool_3x3~0,"
    "avg_pool_3x3~1,skip_connect~1,sep_conv_3x3~2,max_pool_3x3~0,dil_conv_3x3~3,"
    "skip_connect~2,avg_pool_3x3~4"
)


def _ssh_fixtures():
    """The profilers' SSH test module (an sshd on 127.0.0.1), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "profilers" / "test_ssh_remote.py"
    spec = importlib.util.spec_from_file_location("_nes_ssh_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ssh = _ssh_fixtures()
sshd = _ssh.sshd
FAST = TimingConfig(warmup_runs=2, warmup_s=0.0, min_runs=5, max_runs=30, max_time_s=0.2)


def _config(**kw) -> MeasureConfig:
    return MeasureConfig(local_device(), 1, timing=FAST, exporter="legacy", **kw)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    digits = load_digits(seed=0)
    part = lambda d, a, b: ImageData(d.x[a:b], d.y[a:b], 10)  # noqa: E731
    data = PoolData(part(digits.train, 0, 32), part(digits.train, 32, 48), part(digits.test, 0, 16))
    specs = [MemberSpec("nb201", arch, 0, 10, (1, 8, 8), channels=16, cells=2) for arch in ARCHS]
    specs.append(MemberSpec("darts", GENOTYPE, 0, 10, (1, 8, 8), channels=4, cells=3))
    root = tmp_path_factory.mktemp("pool")
    build_pool(specs, data, TrainConfig(epochs=1, batch_size=16), root)
    return [root / spec.id for spec in specs]


def test_members_are_exported_timed_and_stored(pool):
    seen = []
    latencies = measure_member_latencies(pool, _config(), lambda d, lat, new: seen.append(new))
    assert seen == [True] * 3 and all(v > 0 for v in latencies)
    # nine 3x3 convolutions at 16 channels against a cell of skips and zeros
    assert latencies[0] > latencies[1]
    for member_dir, value in zip(pool, latencies):
        assert (member_dir / ONNX_FILE).is_file()
        assert stored_latency(member_dir, _config())["median_ms"] == value
        record = json.loads((member_dir / LATENCY_FILE).read_text())[0]
        assert record["key"]["device"] == local_device().name
        assert record["measurement"]["model_path"] == str(member_dir / ONNX_FILE)


def test_a_rerun_reads_them_back_and_other_settings_time_again(pool, monkeypatch):
    first = measure_member_latencies(pool, _config())
    import profilers.remote

    monkeypatch.setattr(profilers.remote, "target_for", lambda *a: pytest.fail("timed again"))
    seen = []
    assert measure_member_latencies(pool, _config(), lambda d, lat, new: seen.append(new)) == first
    assert seen == [False] * 3
    monkeypatch.undo()
    other = _config(batch_size=2)
    assert stored_latency(pool[0], other) is None
    measure_member_latencies(pool[:1], other)
    records = json.loads((pool[0] / LATENCY_FILE).read_text())
    assert [r["key"]["batch_size"] for r in records] == [1, 2]  # both kept


def test_a_failed_member_keeps_the_ones_timed_before_it(pool, tmp_path):
    import shutil

    dirs = []
    for member_dir in pool[:2]:
        shutil.copytree(member_dir, tmp_path / member_dir.name)
        for name in (LATENCY_FILE, ONNX_FILE):
            (tmp_path / member_dir.name / name).unlink()
        dirs.append(tmp_path / member_dir.name)
    (dirs[1] / WEIGHTS_FILE).write_bytes(b"not weights")
    with pytest.raises(InputError, match=f"pool member {dirs[1].name} could not be timed"):
        measure_member_latencies(dirs, _config())
    assert stored_latency(dirs[0], _config())["median_ms"] > 0
    assert not (dirs[1] / LATENCY_FILE).exists()


def test_bad_devices_and_files_are_clear_errors(pool, tmp_path):
    table = Device(name="1080ti_1", kind="gpu", reach="table")
    with pytest.raises(DeviceError, match="known only from published measurement tables"):
        measure_member_latencies(pool[:1], _config().__class__(table, timing=FAST, batch_size=3))
    no_ort = Device(name="jetson", kind="gpu", runtimes=("tensorrt",))
    with pytest.raises(InputError, match="does not run onnxruntime"):
        measure_member_latencies(pool[:1], MeasureConfig(no_ort, timing=FAST, batch_size=3))
    with pytest.raises(InputError, match="batch_size must be positive"):
        _config(batch_size=0)
    broken = tmp_path / "member"
    broken.mkdir()
    (broken / LATENCY_FILE).write_text("{not json")
    with pytest.raises(InputError, match="unreadable .* delete it to measure"):
        stored_latency(broken, _config())


@_ssh.pytestmark  # skipped, with its reason, where OpenSSH is missing
def test_members_are_timed_on_a_board_over_ssh(pool, sshd, tmp_path):
    import shutil

    member = tmp_path / pool[0].name
    shutil.copytree(pool[0], member)
    config = MeasureConfig(_ssh.board(sshd), 1, timing=FAST, exporter="legacy")
    (latency,) = measure_member_latencies([member], config)
    record = json.loads((member / LATENCY_FILE).read_text())
    board = [r for r in record if r["key"]["device"] == "board"][0]
    assert board["latency"]["median_ms"] == latency > 0
    assert board["measurement"]["model_path_on_device"] != str(member / ONNX_FILE)  # copied
