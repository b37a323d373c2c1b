"""Two campaigns with other runtime settings never mix rows in one store, even concurrently.

Issue 21, reproduction 1: two `hwnas profile` runs with other `--threads` into one `--out`
both exited 0 and the store held rows at both thread counts. The settings check and the
campaign's registration as the setting's writer are one write transaction now.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from devices import Device
from profilers import MeasurementStore, OnnxRuntime, StoreError, TimingConfig, run_campaign
from profilers.rounds import RoundsConfig
from profilers.store_writers import registered_writer

ONE_ROUND = RoundsConfig(rounds=1, max_rounds=1, probe=None)
FAST = TimingConfig(
    warmup_runs=1, warmup_s=0.0, min_runs=3, max_runs=5, max_time_s=0.05, target_rel_ci=0.9
)
DEVICE = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))
SETTING = ("ci-box", "onnxruntime", "fp32", 1)
REPO = Path(__file__).resolve().parents[2]


def _tiny_onnx(path: Path) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(np.ones((4, 3), np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _campaign(store_path, keys, threads, source):
    with MeasurementStore(store_path) as store:
        return run_campaign(
            [(key, source) for key in keys],
            store,
            OnnxRuntime(intra_op_threads=threads),
            DEVICE,
            timing=FAST,
            rounds=ONE_ROUND,
        )


def _threads_stored(store_path):
    with MeasurementStore(store_path, create=False) as store:
        rows = [m.runtime_info["intra_op_threads"] for m in store.measurements()]
        rows += [r.runtime_info["intra_op_threads"] for r in store.rounds()]
        return sorted(set(rows)), len(store.measurements())


def test_concurrent_campaign_with_other_threads_is_refused(tmp_path):
    """A slow first campaign holds the store; a second one with other threads is refused."""
    store_path, onnx = tmp_path / "s.sqlite", _tiny_onnx(tmp_path / "m.onnx")
    started, second_done = threading.Event(), threading.Event()
    outcome = {}

    def slow_source():  # called once the first campaign is registered and times its cell
        started.set()
        second_done.wait(timeout=30)
        return onnx

    def first():
        try:
            outcome["first"] = _campaign(store_path, ["a"], 1, slow_source)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["first"] = exc

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert started.wait(timeout=30), "the first campaign never reached its first cell"
        with pytest.raises(StoreError) as info:
            _campaign(store_path, ["a"], 2, lambda: onnx)  # the same keys, nothing stored yet
    finally:
        second_done.set()
        worker.join(timeout=60)
    message = str(info.value)
    assert str(store_path) in message and "another campaign" in message
    assert "intra_op_threads: 1 there, 2 yours" in message and "\n" not in message
    assert outcome["first"].measured == ("a",)
    assert _threads_stored(store_path) == ([1], 1)


def test_a_campaign_of_other_keys_with_other_threads_is_refused_afterwards(tmp_path):
    """Rows of the setting, not only those of the keys profiled now, fix its settings."""
    store_path, onnx = tmp_path / "s.sqlite", _tiny_onnx(tmp_path / "m.onnx")
    _campaign(store_path, ["a"], 1, lambda: onnx)
    with pytest.raises(StoreError, match=r"intra_op_threads: 1 stored, 2 now"):
        _campaign(store_path, ["b"], 2, lambda: onnx)
    assert _threads_stored(store_path) == ([1], 1)
    assert _campaign(store_path, ["b"], 1, lambda: onnx).measured == ("b",)


HOLDER = textwrap.dedent(
    """
    import sys
    from profilers import MeasurementStore
    from profilers.store_writers import registered_writer

    with MeasurementStore(sys.argv[1]) as store:
        with registered_writer(store, ("ci-box", "onnxruntime", "fp32", 1), {"threads": 1}):
            print("ready", flush=True)
            sys.stdin.read()  # held until the test closes our stdin
    """
)


def _holder(store_path):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_writer_in_another_process_excludes_other_settings_until_it_ends(tmp_path):
    store_path = tmp_path / "s.sqlite"
    holder = _holder(store_path)
    try:
        with MeasurementStore(store_path) as store:
            refused = rf"pid {holder.pid}.*threads: 1 there, 2 yours"
            with (
                pytest.raises(StoreError, match=refused),
                registered_writer(store, SETTING, {"threads": 2}),
            ):
                pass
            with registered_writer(store, SETTING, {"threads": 1}):  # the same settings: fine
                pass
            with registered_writer(store, ("other", *SETTING[1:]), {"threads": 2}):
                pass  # another device is another setting
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0
    with MeasurementStore(store_path) as store, registered_writer(store, SETTING, {"threads": 2}):
        pass  # it ended and removed its registration


def test_a_killed_writer_does_not_block_the_store(tmp_path):
    store_path = tmp_path / "s.sqlite"
    holder = _holder(store_path)
    holder.kill()
    holder.communicate(timeout=30)
    with MeasurementStore(store_path) as store:
        with registered_writer(store, SETTING, {"threads": 2}):
            names = store._connection().execute("SELECT name FROM hwnas_meta").fetchall()
        assert len([n for (n,) in names if n.startswith("writer ")]) == 1  # the dead one went
        left = store._connection().execute("SELECT name FROM hwnas_meta").fetchall()
        assert left == [("magic",)]
