"""A campaign dispatched to Ray tasks needing the resource ``device:<name>``, on a local Ray
instance started by the fixture (about 5 s)."""

import importlib.util

import pytest

from devices import Device
from profilers import MeasurementStore, TimingConfig, create_runtime, run_campaign
from profilers.probe import ProbeConfig
from profilers.remote import RemoteJob, RemoteSetupError, target_for
from profilers.rounds import RoundsConfig

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (optional extra: pip install 'hwnas[ray]')",
)

TIMING = TimingConfig(
    warmup_runs=2, warmup_s=0.0, min_runs=6, max_runs=30, max_time_s=0.2, target_rel_ci=0.5
)
JOB = RemoteJob(runtime="onnxruntime", runtime_options={"intra_op_threads": 1}, timing=TIMING)
PROBE = ProbeConfig(runs=5, calibration_windows=2, max_wait_s=0.0)
PROBED = RemoteJob("onnxruntime", {"intra_op_threads": 1}, TIMING, probe=PROBE)
ROUNDS = RoundsConfig(rounds=2, max_rounds=2, probe=PROBE)
FARM = Device(name="farm-board", kind="sbc", runtimes=("onnxruntime",), reach="ray")


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    ray.init(
        resources={"device:farm-board": 2},
        num_cpus=1,
        include_dashboard=False,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def test_campaign_runs_on_the_nodes_with_the_device_resource(
    ray_instance, tiny_onnx_factory, tmp_path
):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    items = [(key, tiny_onnx_factory(f"{key}.onnx")) for key in "abcd"] + [("bad", bad)]
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    seen = []
    with MeasurementStore(tmp_path / "farm.sqlite") as store:
        target = target_for(FARM, PROBED)
        assert target.resource == "device:farm-board"
        result = run_campaign(
            items,
            store,
            runtime,
            FARM,
            timing=TIMING,
            target=target,
            rounds=ROUNDS,
            progress=lambda done, total, key, row: seen.append((done, key)),
        )
        assert target.max_in_flight == 2  # one task per unit of the resource
        assert sorted(result.measured) == ["a", "b", "c", "d"] and result.failed == ("bad",)
        assert [done for done, _ in seen] == list(range(1, 10))  # each round stored as it came
        row = store.get("a", "farm-board", "onnxruntime")
        assert row.runtime_info["intra_op_threads"] == 1 and row.fingerprint["host"]["python"]
        assert row.rounds.rounds == 2
        probed = store.rounds("a")
        assert all(len(r.info["probe_ms"]) == 2 and r.probe_ratio > 0 for r in probed)
        assert all(r.info["host_state"]["usable_cores"] >= 1 for r in probed)
        assert store.get_failure("bad", "farm-board", "onnxruntime").stage == "load"
        again = run_campaign(
            items, store, runtime, FARM, timing=TIMING, target=target_for(FARM, JOB), rounds=ROUNDS
        )
        assert sorted(again.skipped) == ["a", "b", "c", "d"] and again.measured == ()


def test_no_node_with_the_resource_is_a_clear_error(ray_instance, tiny_onnx, tmp_path):
    device = Device(name="absent", kind="sbc", runtimes=("onnxruntime",), reach="ray:device:nope")
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    with MeasurementStore(tmp_path / "s.sqlite") as store, pytest.raises(RemoteSetupError) as info:
        run_campaign([("a", tiny_onnx)], store, runtime, device, target=target_for(device, JOB))
    assert "'device:nope'" in str(info.value) and "ray start" in str(info.value)
