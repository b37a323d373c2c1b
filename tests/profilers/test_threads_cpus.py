"""Threads above the usable cores are refused; --cpus pins; the store keeps rounds (schema 3)."""

import os
import sqlite3

import pytest

from profilers import ConfigError, LatencyStats, MeasurementStore, OnnxRuntime, TimingConfig
from profilers.cpus import allowed_cpus, check_threads, parse_cpus, pin_cpus
from profilers.measurement import Measurement, RoundRecord
from profilers.remote.protocol import RemoteJob, start_runtime
from profilers.rounds import RoundsSummary
from profilers.store_schema import SCHEMA_VERSION
from profilers.targets import LocalTarget
from tests.profilers.old_store_schemas import write_v2_store


def test_more_threads_than_cores_is_one_line_naming_the_way_to_insist():
    with pytest.raises(ConfigError) as info:
        check_threads(100000, 2)
    message = str(info.value)
    assert "\n" not in message and "--threads 100000" in message and "2 usable" in message
    assert "--oversubscribe" in message
    check_threads(100000, 2, oversubscribe=True)
    check_threads(2, 2)
    check_threads(None, 1)


def test_a_local_target_refuses_before_any_thread_pool_is_made():
    cores = len(allowed_cpus())
    target = LocalTarget(OnnxRuntime(intra_op_threads=cores + 1), TimingConfig())
    with pytest.raises(ConfigError, match="--oversubscribe"):
        target.open()


def test_a_board_refuses_too_many_threads_in_its_fatal_message():
    job = RemoteJob(runtime_options={"intra_op_threads": 100000})
    runtime, _, message = start_runtime(job)
    assert runtime is None and message["type"] == "fatal" and "--threads 100000" in message["error"]
    runtime, _, hello = start_runtime(RemoteJob(runtime_options={"intra_op_threads": 1}))
    assert hello["placement"] == {
        "threads": 1, "cpus": None, "usable_cores": len(allowed_cpus()), "oversubscribe": False
    }  # fmt: skip


@pytest.mark.parametrize(
    "text, cpus", [("0", (0,)), ("0,2", (0, 2)), ("0-3,6", (0, 1, 2, 3, 6)), (" 1 , 0", (0, 1))]
)
def test_cpu_lists(text, cpus):
    assert parse_cpus(text) == cpus


@pytest.mark.parametrize("text", ["", "a", "3-1", "-1", "0,,1"])
def test_bad_cpu_lists_are_refused(text):
    with pytest.raises(ConfigError, match="not a CPU list"):
        parse_cpus(text)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_pinning_to_cpus_this_process_may_use_and_refusing_others():
    before = allowed_cpus()
    try:
        assert pin_cpus([before[0]]) == (before[0],)
        with pytest.raises(ConfigError, match="not usable here"):
            pin_cpus([before[-1] + 1000])
        runtime = OnnxRuntime(intra_op_threads=2)
        with pytest.raises(ConfigError, match="1 usable core"):
            LocalTarget(runtime, TimingConfig(), cpus=(before[0],)).open()
    finally:
        os.sched_setaffinity(0, before)


def stats(median=1.0):
    return LatencyStats(median, median, median, median, 0.01, 20, "rounds")


def test_a_store_of_schema_2_opens_migrated_with_its_rows_and_takes_rounds(tmp_path):
    path = tmp_path / "old.sqlite"
    write_v2_store(path)
    with MeasurementStore(path) as store:
        old = store.get("a", "rpi5", "onnxruntime")
        assert old.latency.median_ms == 1.0 and old.rounds is None  # written before rounds
        record = RoundRecord(
            "b", "rpi5", "onnxruntime", "fp32", 1, 2, stats(), 1.3, True, {"probe_ms": [1, 1.3]}
        )
        store.add_round(record)
        assert store.rounds("b") == [record]
        summary = RoundsSummary(5, 4, 1, 1, 0.9, 1.1, 0.9375, 0.1, False)
        store.add(Measurement("b", "rpi5", "onnxruntime", "fp32", 1, stats(), energy_reason="x",
                              rounds=summary))  # fmt: skip
        assert store.get("b", "rpi5", "onnxruntime").rounds == summary
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    conn.close()
    with MeasurementStore(path) as store:  # written by today's code: opens as it is
        assert [m.key for m in store.measurements()] == ["a", "b"]


def test_measurement_with_rounds_round_trips_through_json_data():
    summary = RoundsSummary(5, 5, 0, 0, 0.9, 1.1, 0.9375, 0.1, True)
    m = Measurement("k", "d", "onnxruntime", "fp32", 1, stats(), energy_reason="x", rounds=summary)
    assert Measurement.from_dict(m.to_dict()) == m


def test_hwnas_profile_with_threads_beyond_the_cores_is_one_line_and_exit_code_2(tmp_path, capsys):
    from hwnas.cli.main import main

    code = main(["profile", "--threads", "100000", "--samples", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--oversubscribe" in err
    assert not list(tmp_path.glob("onnx/*.onnx"))  # refused before anything was exported
