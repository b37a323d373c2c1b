"""Failed models in the store (schema 2), migration of a schema-1 store, and the wide CSV."""

import csv
import sqlite3

import pytest

from profilers import ConfigError, Measurement, MeasurementStore, StoreError, summarize
from profilers.failures import MeasurementFailure
from profilers.store import SCHEMA_VERSION


def measurement(key, median=2.0, device="rpi5", **kw):
    return Measurement(
        key=key,
        device=device,
        runtime="onnxruntime",
        precision="fp32",
        batch_size=kw.pop("batch_size", 1),
        latency=summarize([median - 0.5, median, median + 1.0], "converged"),
        energy_reason="no energy meter on this device",
        **kw,
    )


def failure(key, device="rpi5", error="out of memory"):
    return MeasurementFailure.from_exception(
        MemoryError(error),
        key=key,
        device=device,
        runtime="onnxruntime",
        precision="fp32",
        batch_size=1,
        stage="run",
        fingerprint={"host": {"cpu_model": "Cortex-A76"}},
    )


@pytest.fixture
def store(tmp_path):
    with MeasurementStore(tmp_path / "store.sqlite") as store:
        yield store


def test_failure_round_trip_and_filters(store):
    store.add_failure(failure("a"))
    store.add_failure(failure("b", device="jetson"))
    got = store.get_failure("a", "rpi5", "onnxruntime")
    assert (got.error_type, got.error, got.stage) == ("MemoryError", "out of memory", "run")
    assert got.fingerprint == {"host": {"cpu_model": "Cortex-A76"}}
    assert store.has_failure("a", "rpi5", "onnxruntime")
    assert not store.has("a", "rpi5", "onnxruntime")
    assert [f.key for f in store.failures(device="jetson")] == ["b"]
    assert len(store) == 0  # failures are not measurements


def test_a_later_success_replaces_the_failure(store):
    store.add_failure(failure("a"))
    store.add(measurement("a"))
    assert store.has("a", "rpi5", "onnxruntime")
    assert store.failures() == []


def test_a_failure_again_replaces_the_older_one(store):
    store.add_failure(failure("a", error="first"))
    store.add_failure(failure("a", error="second"))
    assert [f.error for f in store.failures()] == ["second"]


def test_failure_fields_are_checked():
    with pytest.raises(ConfigError, match="stage"):
        MeasurementFailure("a", "rpi5", "onnxruntime", "fp32", 1, "flight", "E", "x")
    with pytest.raises(ConfigError, match="batch_size"):
        MeasurementFailure("a", "rpi5", "onnxruntime", "fp32", 0, "run", "E", "x")
    long = MeasurementFailure("a", "rpi5", "onnxruntime", "fp32", 1, "run", "E", "x" * 10_000)
    assert len(long.error) < 4100 and long.error.endswith("[...]")


def test_schema_1_store_is_migrated_keeping_its_rows(tmp_path):
    from tests.profilers.old_store_schemas import write_v2_store

    path = tmp_path / "old.sqlite"
    write_v2_store(path, v1=True)  # what hwnas with schema 1 wrote: no failures table
    with MeasurementStore(path) as store:
        assert [m.key for m in store.measurements()] == ["a"]
        store.add_failure(failure("b"))
        assert [f.key for f in store.failures()] == ["b"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4


def test_unknown_old_schema_is_refused(tmp_path):
    path = tmp_path / "older.sqlite"
    MeasurementStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 0")
        conn.execute("CREATE TABLE extra (x)")
    with pytest.raises(StoreError, match="unknown old schema version 0"):
        MeasurementStore(path)


def test_wide_csv_has_the_layout_of_the_literature_tables(store, tmp_path):
    store.add(measurement("cell-b", 3.0, device="rpi5"))
    store.add(measurement("cell-a", 1.0, device="rpi5"))
    store.add(measurement("cell-a", 5.0, device="jetson"))
    store.add(measurement("cell-a", 9.0, device="rpi5", batch_size=8))  # another setting
    store.add_failure(failure("cell-b", device="jetson"))
    path = tmp_path / "wide.csv"
    index = {"cell-a": 7, "cell-b": 3}
    assert store.export_wide_csv(path, runtime="onnxruntime", index=index) == 2
    with path.open() as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["nb201_index", "arch", "jetson", "rpi5"],
        ["3", "cell-b", "", "3.0"],  # failed on jetson: empty
        ["7", "cell-a", "5.0", "1.0"],
    ]
    store.export_wide_csv(path, runtime="onnxruntime", devices=["rpi5", "pi4"])
    with path.open() as handle:
        assert list(csv.reader(handle))[0] == ["arch", "rpi5", "pi4"]


def test_wide_csv_refuses_keys_the_index_cannot_place(store, tmp_path):
    store.add(measurement("not-a-cell"))
    with pytest.raises(StoreError, match="another search space"):
        store.export_wide_csv(tmp_path / "w.csv", runtime="onnxruntime", index={})


def test_failed_models_are_skipped_on_resume_unless_retried(
    tmp_path, tiny_onnx_factory, fast_timing
):
    from devices import Device
    from profilers import create_runtime, run_campaign

    device = Device(name="rpi5", kind="sbc", runtimes=("onnxruntime",))
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"half a model")  # e.g. an export cut short
    exported = []

    def export():
        exported.append("m")
        return model

    with MeasurementStore(tmp_path / "s.sqlite") as store:
        first = run_campaign([("m", export)], store, runtime, device, timing=fast_timing)
        assert first.failed == ("m",) and store.has_failure("m", "rpi5", "onnxruntime")
        tiny_onnx_factory("m.onnx")  # the model is fixed
        again = run_campaign([("m", export)], store, runtime, device, timing=fast_timing)
        assert again.skipped_failed == ("m",) and exported == ["m"]
        retried = run_campaign(
            [("m", export)], store, runtime, device, timing=fast_timing, retry_failed=True
        )
        assert retried.measured == ("m",) and exported == ["m", "m"]
        assert store.failures() == [] and store.has("m", "rpi5", "onnxruntime")


def test_an_export_error_is_a_failure_at_the_export_stage(tmp_path, fast_timing):
    from devices import Device
    from profilers import create_runtime, run_campaign

    def export():
        raise RuntimeError("Unsupported: aten::weird_op")

    device = Device(name="rpi5", kind="sbc", runtimes=("onnxruntime",))
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    with MeasurementStore(tmp_path / "s.sqlite") as store:
        result = run_campaign([("x", export)], store, runtime, device, timing=fast_timing)
        failure = store.get_failure("x", "rpi5", "onnxruntime")
    assert result.failed == ("x",)
    assert (failure.stage, failure.error_type) == ("export", "RuntimeError")
    assert "weird_op" in failure.error
