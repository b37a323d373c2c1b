"""The measurement store: round trips, resume, CSV export, refusal of foreign or damaged files."""

import csv
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from profilers import (
    ConfigError,
    LatencyStats,
    Measurement,
    MeasurementStore,
    StoreError,
    summarize,
)
from profilers.store import MAGIC, SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]


def measurement(key="arch-a", median=2.0, **kw):
    fields = dict(
        key=key,
        device="rpi5",
        runtime="onnxruntime",
        precision="fp32",
        batch_size=1,
        latency=summarize([median - 0.5, median, median + 1.0], "converged"),
        energy_reason="no energy meter on this device",
        fingerprint={"host": {"cpu_model": "Cortex-A76"}, "inputs": [[1, 3, 32, 32]]},
        runtime_info={"version": "1.20.0", "intra_op_threads": 4},
    )
    return Measurement(**{**fields, **kw})


@pytest.fixture
def store(tmp_path):
    with MeasurementStore(tmp_path / "runs" / "nested" / "store.sqlite") as store:
        yield store


def test_new_store_is_wal_with_schema_version_and_magic(store):
    assert store.path.is_file()  # parent folders were created
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        magic = conn.execute("SELECT value FROM hwnas_meta WHERE name = 'magic'").fetchone()
        assert magic == (MAGIC,)
    finally:
        conn.close()


def test_add_get_round_trip(store):
    m = measurement(energy_mj=12.5, energy_net_mj=4.0, power_w=6.25, energy_reason="rapl")
    store.add(m)
    assert store.get("arch-a", "rpi5", "onnxruntime") == m
    assert store.get("arch-a", "rpi5", "onnxruntime", "fp16") is None
    assert store.get("arch-a", "rpi5", "onnxruntime", "fp32", 8) is None
    assert store.get("arch-b", "rpi5", "onnxruntime") is None


def test_unmeasured_energy_is_none_with_reason(store):
    store.add(measurement())
    got = store.get("arch-a", "rpi5", "onnxruntime")
    assert (got.energy_mj, got.energy_net_mj, got.power_w) == (None, None, None)
    assert got.energy_reason == "no energy meter on this device"


def test_has_and_contains(store):
    store.add(measurement(batch_size=4, precision="fp16"))
    assert store.has("arch-a", "rpi5", "onnxruntime", "fp16", 4)
    assert not store.has("arch-a", "rpi5", "onnxruntime")
    assert ("arch-a", "rpi5", "onnxruntime", "fp16", 4) in store
    assert ("arch-a", "rpi5", "onnxruntime") not in store
    with pytest.raises(TypeError):
        _ = "arch-a" in store


def test_add_upserts_on_the_unique_key(store):
    store.add(measurement(median=2.0))
    store.add(measurement(key="arch-b"))
    store.add(measurement(median=3.0))
    assert len(store) == 2
    assert store.get("arch-a", "rpi5", "onnxruntime").latency_ms == 3.0
    assert [m.key for m in store.measurements()] == ["arch-a", "arch-b"]


def test_measurements_filter_by_device_and_runtime(store):
    store.add(measurement("a"))
    store.add(measurement("b", device="jetson"))
    store.add(measurement("c", runtime="tensorrt"))
    assert [m.key for m in store.measurements()] == ["a", "b", "c"]
    assert [m.key for m in store.measurements(device="rpi5")] == ["a", "c"]
    assert [m.key for m in store.measurements(runtime="onnxruntime")] == ["a", "b"]
    assert [m.key for m in store.measurements("rpi5", "onnxruntime")] == ["a"]


def test_measurements_and_csv_filter_by_precision_and_batch_size(store, tmp_path):
    store.add(measurement("a"))
    store.add(measurement("a", precision="fp16"))
    store.add(measurement("a", batch_size=8))
    store.add(measurement("b", precision="fp16", batch_size=8, device="jetson"))

    def keys(**filters):
        return [(m.key, m.precision, m.batch_size) for m in store.measurements(**filters)]

    assert keys(precision="fp16") == [("a", "fp16", 1), ("b", "fp16", 8)]
    assert keys(batch_size=8) == [("a", "fp32", 8), ("b", "fp16", 8)]
    assert keys(precision="fp32", batch_size=1) == [("a", "fp32", 1)]
    assert keys(device="rpi5", runtime="onnxruntime", precision="fp16", batch_size=8) == []
    out = tmp_path / "fp16.csv"
    assert store.export_csv(out, device="jetson", precision="fp16", batch_size=8) == 1
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["arch"], r["precision"], r["batch_size"]) for r in rows] == [("b", "fp16", "8")]
    assert store.export_csv(tmp_path / "bs1.csv", batch_size=1) == 2


def test_create_false_opens_an_existing_store(tmp_path):
    path = tmp_path / "store.sqlite"
    with MeasurementStore(path) as store:
        store.add(measurement())
    with MeasurementStore(path, create=False) as store:
        assert [m.key for m in store.measurements()] == ["arch-a"]


def test_create_false_refuses_a_missing_path_and_creates_nothing(tmp_path):
    path = tmp_path / "typo" / "stroe.sqlite"
    with pytest.raises(StoreError, match="no measurement store at") as info:
        MeasurementStore(path, create=False)
    assert str(path) in str(info.value) and "does not exist" in str(info.value)
    assert not path.parent.exists()
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match="no measurement store at .*empty"):
        MeasurementStore(empty, create=False)
    assert empty.stat().st_size == 0 and list(tmp_path.iterdir()) == [empty]


def test_failed_write_is_a_store_error_naming_path_and_key(store):
    store.add(measurement("a"))
    conn = store._connection()  # the store's own connection: only it sees these limits
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk were full
    with pytest.raises(StoreError) as info:
        store.add(measurement("big", fingerprint={"pad": "x" * 100_000}))
    message = str(info.value)
    assert str(store.path) in message and "'big'" in message and "full" in message
    assert isinstance(info.value.__cause__, sqlite3.Error)
    assert [m.key for m in store.measurements()] == ["a"]


def test_locked_store_write_is_a_store_error(store):
    store._connection().execute("PRAGMA busy_timeout = 0")  # fail at once instead of in 30 s
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="'arch-a'.*locked"):
            store.add(measurement())
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.add(measurement())
    assert len(store) == 1


def test_reopen_keeps_everything(tmp_path):
    path = tmp_path / "store.sqlite"
    with MeasurementStore(path) as store:
        store.add(measurement("a"))
    with MeasurementStore(path) as store:
        assert store.has("a", "rpi5", "onnxruntime")
        store.add(measurement("b"))
    with MeasurementStore(path) as store:
        assert [m.key for m in store.measurements()] == ["a", "b"]


def test_export_csv(store, tmp_path):
    store.add(measurement("|nor_conv_3x3~0|+|skip_connect~0|", median=2.0))
    store.add(measurement("b", median=5.0, energy_mj=1.5, energy_reason="rapl"))
    store.add(measurement("c", device="jetson"))
    out = tmp_path / "csv" / "rpi5.csv"
    assert store.export_csv(out, device="rpi5", runtime="onnxruntime") == 2
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:2] == ["arch", "latency_ms"]
    assert [(r["arch"], float(r["latency_ms"])) for r in rows] == [
        ("|nor_conv_3x3~0|+|skip_connect~0|", 2.0),
        ("b", 5.0),
    ]
    stats = summarize([4.5, 5.0, 6.0], "converged")
    assert float(rows[1]["p90_ms"]) == stats.p90_ms and float(rows[1]["cov"]) == stats.cov
    assert int(rows[1]["n"]) == 3 and rows[1]["stop_reason"] == "converged"
    assert rows[0]["energy_mj"] == "" and float(rows[1]["energy_mj"]) == 1.5
    assert store.export_csv(tmp_path / "all.csv") == 3


def test_closed_store_refuses_use(tmp_path):
    store = MeasurementStore(tmp_path / "s.sqlite")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.add(measurement())


# -- files that are not our store -----------------------------------------------------------


def assert_refused(path, *phrases):
    with pytest.raises(StoreError) as info:
        MeasurementStore(path)
    message = str(info.value)
    assert str(path) in message and "Move it aside" in message
    for phrase in phrases:
        assert phrase in message
    return message


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "random.sqlite"
    path.write_bytes(os.urandom(4096))
    assert_refused(path, "not an SQLite database")


def test_truncated_store_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    with MeasurementStore(path) as store:
        for i in range(200):
            store.add(measurement(f"arch-{i}", fingerprint={"pad": "x" * 400}))
    data = path.read_bytes()
    assert len(data) > 16 * 4096
    for fraction in (0.5, 0.05):
        cut = tmp_path / f"cut-{fraction}.sqlite"
        cut.write_bytes(data[: int(len(data) * fraction)])
        assert_refused(cut, "damaged")
    header_only = tmp_path / "header.sqlite"
    header_only.write_bytes(data[:10])
    assert_refused(header_only, "not an SQLite database")


def test_foreign_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    assert_refused(path, "something else", "photos")
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    MeasurementStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    assert_refused(path, "newer", "upgrade hwnas")


def test_folder_is_refused(tmp_path):
    assert_refused(tmp_path, "folder")


def test_edited_row_is_reported(tmp_path):
    path = tmp_path / "store.sqlite"
    with MeasurementStore(path) as store:
        store.add(measurement())
    conn = sqlite3.connect(path)
    conn.execute("UPDATE measurements SET fingerprint = '{broken'")
    conn.commit()
    conn.close()
    with MeasurementStore(path) as store, pytest.raises(StoreError, match="arch-a"):
        store.measurements()


# -- durability -----------------------------------------------------------------------------

WRITER = """
import sys
sys.path.insert(0, {repo!r})
from profilers import Measurement, MeasurementStore, summarize
store = MeasurementStore({path!r})
i = 0
while True:
    store.add(Measurement(key=f"arch-{{i}}", device="rpi5", runtime="onnxruntime",
                          precision="fp32", batch_size=1,
                          latency=summarize([1.0, 2.0, 3.0], "converged"),
                          energy_reason="no energy meter on this device",
                          fingerprint={{"pad": "x" * 3000}}))
    print(i, flush=True)
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_campaign_keeps_finished_rows(tmp_path):
    path = tmp_path / "store.sqlite"
    code = WRITER.format(repo=str(REPO), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        last = -1
        while last < 60:
            line = proc.stdout.readline()
            assert line, "writer exited early"
            last = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with MeasurementStore(path) as store:  # passes the integrity check
        keys = {m.key for m in store.measurements()}
        assert {f"arch-{i}" for i in range(last + 1)} <= keys
        store.add(measurement("after-restart"))
        assert store.has("after-restart", "rpi5", "onnxruntime")


# -- Measurement ----------------------------------------------------------------------------


def test_measurement_round_trip_and_latency_ms():
    m = measurement(median=4.0)
    assert m.latency_ms == 4.0
    assert Measurement.from_dict(m.to_dict()) == m
    assert isinstance(m.latency, LatencyStats)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"energy_reason": None}, "energy_reason"),
        ({"energy_mj": -1.0, "energy_reason": "x"}, "energy_mj"),
        ({"batch_size": 0}, "batch_size"),
        ({"device": "RPi 5"}, "device"),
        ({"key": ""}, "key"),
        ({"fingerprint": {"handle": object()}}, "fingerprint"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_measurement_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        measurement(**kwargs)
