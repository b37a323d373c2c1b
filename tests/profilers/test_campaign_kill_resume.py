"""A campaign killed with SIGKILL mid-way resumes: every finished measurement is stored once,
and nothing finished is measured again."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from devices import Device
from profilers import MeasurementStore, TimingConfig, create_runtime, run_campaign

REPO = Path(__file__).resolve().parents[2]
DEVICE = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))
# Never converges (target 1e-6): each model takes the 0.25 s time cap, so the kill lands mid-way.
SLOW = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 4, "max_time_s": 0.25, "target_rel_ci": 1e-6}

CHILD = """
import json, sys
from devices import Device
from profilers import MeasurementStore, TimingConfig, create_runtime, run_campaign
args = json.loads(sys.argv[1])
device = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))
runtime = create_runtime("onnxruntime", intra_op_threads=1)
with MeasurementStore(args["store"]) as store:
    run_campaign(args["items"], store, runtime, device, timing=TimingConfig(**args["timing"]))
"""


def stored_rows(path):
    with sqlite3.connect(path) as conn:
        measured = conn.execute("SELECT key, created_at, median_ms FROM measurements").fetchall()
        failed = conn.execute("SELECT key FROM failures").fetchall()
    return measured, [row[0] for row in failed]


def stored_rounds(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, round, median_ms FROM rounds").fetchall()


def test_sigkill_then_resume_keeps_each_finished_measurement_once(tiny_onnx_factory, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    items = [("m0", str(tiny_onnx_factory("m0.onnx"))), ("bad", str(bad))]
    items += [(f"m{i}", str(tiny_onnx_factory(f"m{i}.onnx"))) for i in range(1, 12)]
    store_path = tmp_path / "store.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    arguments = json.dumps({"store": str(store_path), "items": items, "timing": SLOW})
    child = subprocess.Popen([sys.executable, "-c", CHILD, arguments], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 60
    try:
        while True:
            assert child.poll() is None, "the campaign ended before it could be killed"
            assert time.monotonic() < deadline, "no measurement landed within 60 s"
            if store_path.exists():
                try:
                    # Rounds of all cells are interleaved, so cells finish together at the end:
                    # kill once a few rounds, not cells, are stored.
                    if len(stored_rounds(store_path)) >= 3:
                        break
                except sqlite3.OperationalError:  # schema not written yet
                    pass
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    before, failed_before = stored_rows(store_path)
    rounds_before = stored_rounds(store_path)
    assert len(rounds_before) >= 3 and len(before) < 12 and failed_before in ([], ["bad"])

    exported = []

    def source(key, path):
        def export():
            exported.append(key)
            return path

        return export

    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    fast = TimingConfig(warmup_runs=1, warmup_s=0.0, min_runs=4, max_runs=10, max_time_s=0.1)
    with MeasurementStore(store_path) as store:
        result = run_campaign(
            [(key, source(key, path)) for key, path in items], store, runtime, DEVICE, timing=fast
        )
    finished = {key for key, _, _ in before}
    assert set(result.skipped) == finished and set(result.skipped_failed) == set(failed_before)
    assert not finished & set(exported) and ("bad" in exported) == (not failed_before)
    assert set(result.measured) == {key for key, _ in items} - finished - {"bad"}
    after, failed_after = stored_rows(store_path)
    keys = [key for key, _, _ in after]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 12 and failed_after == ["bad"]
    assert set(before) <= set(after)  # the finished rows are untouched (time and latency)
    rounds_after = stored_rounds(store_path)
    assert set(rounds_before) <= set(rounds_after)  # finished rounds kept, not timed again
    pairs = [(key, index) for key, index, _ in rounds_after]
    assert len(pairs) == len(set(pairs))  # each round stored once
