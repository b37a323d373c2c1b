"""Campaigns: measure what is missing, skip what is stored, write each result at once."""

import dataclasses
import json
import re
import sys

import pytest

from devices import Device
from profilers import (
    MeasurementStore,
    ModelLoadError,
    OnnxRuntime,
    RuntimeUnavailableError,
    StoreError,
    create_runtime,
    profile_onnx,
    run_campaign,
)
from profilers.campaign import file_sha256
from profilers.measurement import RoundRecord
from profilers.rounds import RoundsConfig

TWO_ROUNDS = RoundsConfig(rounds=2, max_rounds=2, probe=None)


@pytest.fixture
def runtime():
    return OnnxRuntime(intra_op_threads=1)


@pytest.fixture
def device():
    return Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))


@pytest.fixture
def store(tmp_path):
    with MeasurementStore(tmp_path / "store.sqlite") as store:
        yield store


def must_not_be_called():
    raise AssertionError("the source of a stored key was exported again")


def test_profile_onnx(tiny_onnx, runtime, fast_timing):
    stats, info = profile_onnx(tiny_onnx, runtime, fast_timing, batch_size=2)
    assert 6 <= stats.n <= 30 and stats.median_ms > 0
    assert info["inputs"] == [
        {"name": "x", "shape": ["N", 4], "dtype": "float32", "timed_shape": [2, 4]}
    ]
    assert info["runtime"]["providers"] == ["CPUExecutionProvider"]
    assert info["model_sha256"] == file_sha256(tiny_onnx)
    assert info["batch_size"] == 2 and info["timing"] == fast_timing.to_dict()
    assert json.loads(json.dumps(info)) == info


def test_campaign_measures_writes_and_reports_progress(
    tiny_onnx_factory, store, runtime, device, fast_timing
):
    calls = []
    items = [
        ("a", tiny_onnx_factory("a.onnx")),
        ("b", lambda: tiny_onnx_factory("b.onnx")),  # exported lazily
    ]
    result = run_campaign(
        items,
        store,
        runtime,
        device,
        timing=fast_timing,
        rounds=TWO_ROUNDS,
        progress=lambda *a: calls.append(a),
    )
    assert result.measured == ("a", "b") and result.skipped == () and result.total == 2
    assert [(done, total) for done, total, _, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(key for _, _, key, _ in calls) == ["a", "a", "b", "b"]
    m = store.get("a", "ci-box", "onnxruntime")
    a_rounds = [row for _, _, key, row in calls if key == "a"]
    assert all(isinstance(row, RoundRecord) for row in a_rounds)
    assert a_rounds == store.rounds("a")
    assert m.latency.median_ms == pytest.approx(
        sum(r.latency.median_ms for r in a_rounds) / 2  # the median of two rounds
    )
    assert m.rounds.rounds == 2 and m.rounds.unstable is not None
    assert (m.precision, m.batch_size) == ("fp32", 1)
    assert m.energy_mj is None and m.energy_reason == "no energy meter on this device"
    assert m.runtime_info == runtime.describe()
    fp = m.fingerprint
    assert fp["host"]["cpu_usable_cores"] >= 1
    assert fp["runtime"]["intra_op_threads"] == 1
    assert fp["device"]["name"] == "ci-box"
    assert (fp["batch_size"], fp["precision"]) == (1, "fp32")
    assert fp["inputs"][0]["timed_shape"] == [1, 4]


def test_campaign_resumes_without_exporting_stored_keys(
    tiny_onnx_factory, store, runtime, device, fast_timing
):
    run_campaign(
        [("a", tiny_onnx_factory("a.onnx"))],
        store,
        runtime,
        device,
        timing=fast_timing,
        rounds=TWO_ROUNDS,
    )
    calls = []
    result = run_campaign(
        [("a", must_not_be_called), ("b", lambda: tiny_onnx_factory("b.onnx"))],
        store,
        runtime,
        device,
        timing=fast_timing,
        rounds=TWO_ROUNDS,
        progress=lambda *a: calls.append(a),
    )
    assert (result.measured, result.skipped) == (("b",), ("a",))
    assert calls[0] == (1, 3, "a", None)
    assert [m.key for m in store.measurements()] == ["a", "b"]


def test_other_batch_size_or_precision_is_measured_again(
    tiny_onnx, store, runtime, device, fast_timing
):
    run_campaign([("a", tiny_onnx)], store, runtime, device, timing=fast_timing)
    result = run_campaign(
        [("a", tiny_onnx)], store, runtime, device, timing=fast_timing, batch_size=4
    )
    assert result.measured == ("a",)
    result = run_campaign(
        [("a", tiny_onnx)], store, runtime, device, timing=fast_timing, precision="fp16"
    )
    assert result.measured == ("a",)
    assert len(store) == 3
    assert store.get("a", "ci-box", "onnxruntime", "fp32", 4).fingerprint["inputs"][0][
        "timed_shape"
    ] == [4, 4]


def test_interrupted_campaign_keeps_finished_rows_and_resumes(
    tiny_onnx_factory, tmp_path, runtime, device, fast_timing
):
    path = tmp_path / "store.sqlite"

    def broken():
        raise KeyboardInterrupt  # the user pressed Ctrl-C during the third export

    items = [("a", tiny_onnx_factory("a.onnx")), ("b", tiny_onnx_factory("b.onnx"))]
    rounds = RoundsConfig(rounds=3, max_rounds=3, probe=None, seed=1)
    with MeasurementStore(path) as store, pytest.raises(KeyboardInterrupt):
        run_campaign(
            [*items, ("c", broken)], store, runtime, device, timing=fast_timing, rounds=rounds
        )
    with MeasurementStore(path) as store:
        before = {(r.key, r.round): r.created_at for r in store.rounds()}
        assert before and all(key in "ab" for key, _ in before)  # rounds kept, no cell yet
        assert store.measurements() == []
        result = run_campaign(
            [*items, ("c", tiny_onnx_factory())],
            store,
            runtime,
            device,
            timing=fast_timing,
            rounds=rounds,
        )
        after = {(r.key, r.round): r.created_at for r in store.rounds()}
        assert [m.key for m in store.measurements()] == ["a", "b", "c"]
    assert result.measured == ("a", "b", "c")
    assert len(after) == 9 and all(after[pair] == t for pair, t in before.items())


def test_bad_model_is_recorded_as_failed_and_the_campaign_goes_on(
    tmp_path, tiny_onnx, store, runtime, device, fast_timing
):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    result = run_campaign(
        [("bad", bad), ("good", tiny_onnx)], store, runtime, device, timing=fast_timing
    )
    assert (result.failed, result.measured) == (("bad",), ("good",))
    failure = store.get_failure("bad", "ci-box", "onnxruntime")
    assert failure.stage == "load" and failure.error_type == ModelLoadError.__name__
    assert "bad.onnx" in failure.error
    assert [m.key for m in store.measurements()] == ["good"]


def test_energy_meter_named_but_absent_says_why(tiny_onnx, store, fast_timing):
    device = Device(name="jetson", kind="sbc", runtimes=("onnxruntime",), energy_meter="jetson")
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    run_campaign([("a", tiny_onnx)], store, runtime, device, timing=fast_timing)
    m = store.get("a", "jetson", "onnxruntime")
    assert m.energy_mj is None and m.energy_reason.startswith("jetson: no INA3221")
    assert m.fingerprint["energy"]["meter"]["meter"] == "none"


def test_energy_of_a_meter_lands_in_the_row(tiny_onnx, store, fast_timing, monkeypatch):
    from profilers.energy.measure import EnergyResult

    measured = EnergyResult(2.5, 1.5, 4.0, "test meter: window 0.1 s", {"meter": "test"}, 10)

    def fake_profile_session(session, timing, batch_size, **kw):
        from profilers.timing import time_callable

        assert kw["energy_meter"] is not None  # the device's meter was opened and passed
        stats = time_callable(lambda: None, timing)
        return stats, {"energy": measured.to_dict()}

    monkeypatch.setattr("profilers.profile.profile_session", fake_profile_session)
    device = Device(name="jetson", kind="sbc", runtimes=("onnxruntime",), energy_meter="jetson")
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    run_campaign([("a", tiny_onnx)], store, runtime, device, timing=fast_timing)
    m = store.get("a", "jetson", "onnxruntime")
    assert (m.energy_mj, m.energy_net_mj, m.power_w) == (2.5, 1.5, 4.0)
    assert m.energy_reason == "test meter: window 0.1 s"


# -- resuming only onto rows measured with the same runtime settings ------------------------


@pytest.mark.parametrize(
    ("field", "old", "new"), [("intra_op_threads", 1, 2), ("graph_optimization", "all", "basic")]
)
def test_resuming_with_other_runtime_settings_is_refused_before_any_work(
    tiny_onnx_factory, store, device, fast_timing, field, old, new
):
    first = OnnxRuntime(intra_op_threads=1)
    run_campaign([("a", tiny_onnx_factory("a.onnx"))], store, first, device, timing=fast_timing)
    exported = []

    def export_b():
        exported.append("b")
        return tiny_onnx_factory("b.onnx")

    other = OnnxRuntime(**{"intra_op_threads": 1, field: new})
    reported = []
    with pytest.raises(StoreError) as info:
        run_campaign(  # "b" comes first: nothing may be measured before the check
            [("b", export_b), ("a", must_not_be_called)],
            store,
            other,
            device,
            timing=fast_timing,
            progress=lambda *call: reported.append(call),
        )
    message = str(info.value)
    assert str(store.path) in message and "'a'" in message
    assert f"{field}: {old!r} stored, {new!r} now" in message
    assert "another store" in message and "same settings" in message
    assert exported == [] and [m.key for m in store.measurements()] == ["a"]
    assert reported == []  # no "resumed" line for a row that is then refused


def test_other_library_version_is_refused_but_installed_providers_do_not_matter(
    tiny_onnx, store, runtime, device, fast_timing
):
    run_campaign([("a", tiny_onnx), ("b", tiny_onnx)], store, runtime, device, timing=fast_timing)
    a = store.get("a", "ci-box", "onnxruntime")
    b = store.get("b", "ci-box", "onnxruntime")
    store.add(
        dataclasses.replace(a, runtime_info={**a.runtime_info, "providers_available": ["Other"]})
    )
    result = run_campaign([("a", must_not_be_called)], store, runtime, device, timing=fast_timing)
    assert result.skipped == ("a",)
    store.add(dataclasses.replace(b, runtime_info={**b.runtime_info, "version": "1.0.0"}))
    version = runtime.describe()["version"]
    expected = f"'b' (version: '1.0.0' stored, {version!r} now)"
    with pytest.raises(StoreError, match=re.escape(expected)):
        run_campaign(
            [("a", must_not_be_called), ("b", must_not_be_called)],
            store,
            runtime,
            device,
            timing=fast_timing,
        )


def test_comparable_settings_leave_out_what_is_installed(runtime):
    info = runtime.describe()
    settings = runtime.comparable_settings()
    assert "providers_available" in info and "providers_available" not in settings
    assert settings["version"] == info["version"] and settings["intra_op_threads"] == 1
    assert runtime.comparable_settings({"version": "1", "providers_available": []}) == {
        "version": "1"
    }


def test_missing_runtime_library_is_reported_before_any_export(
    monkeypatch, store, runtime, device, fast_timing
):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    with pytest.raises(RuntimeUnavailableError, match="pip install onnxruntime"):
        run_campaign([("a", must_not_be_called)], store, runtime, device, timing=fast_timing)
    assert len(store) == 0
