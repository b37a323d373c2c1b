"""The speed anchor: campaigns of a machine setting minutes apart report the same latencies."""

import json

import pytest

from devices import Device
from profilers import ConfigError, LatencyStats, MeasurementStore, OnnxRuntime, run_campaign
from profilers.rounds import RoundsConfig
from profilers.speed import SpeedAnchors, local_probe_ms, new_anchor, setting_digest
from profilers.targets import Measured, Target, TargetInfo, materialize

DEVICE = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))
CELLS = {"a": 1.0, "b": 2.0, "c": 4.0}


class SlowedTarget(Target):
    """Times nothing: the machine runs ``slow`` times slower than at 1.0, and every cell and
    the probe (0.5 ms at 1.0) with it; ``disturb`` rounds see a probe 3x slower besides."""

    def __init__(self, runtime, slow, disturb=()):
        self.runtime, self.slow, self.disturb = runtime, slow, set(disturb)

    def open(self):
        return TargetInfo(host={"cpu_model": "Fake CPU"}, runtime_info=self.runtime.describe())

    def measure(self, jobs):
        for job_key, source in jobs:
            path = materialize(job_key, source)
            key, number = job_key.rsplit("#round", 1)
            slow = self.slow(key, int(number)) if callable(self.slow) else self.slow
            ms = CELLS[key] * slow
            probe = 0.5 * slow * (3.0 if (key, int(number)) in self.disturb else 1.0)
            round_info = {"probe_ms": [probe, probe], "probe_ratio": probe / 0.5}
            round_info["disturbed"] = probe / 0.5 > 1.25 * slow
            info = {"runtime": self.runtime.describe(), "model_path": str(path)}
            info |= {"round": round_info, "placement": {"threads": 1, "cpus": None}}
            stats = LatencyStats(ms, ms, ms, ms, 0.01, 20, "converged")
            yield Measured(job_key, stats, info, {"cpu_model": "Fake CPU"})


def profile(store_path, tiny_onnx, slow, *, rounds=None, anchors=None, threads=1, disturb=()):
    runtime = OnnxRuntime(intra_op_threads=threads)
    items = [(key, tiny_onnx) for key in CELLS]
    with MeasurementStore(store_path) as store:
        result = run_campaign(
            items,
            store,
            runtime,
            DEVICE,
            target=SlowedTarget(runtime, slow, disturb),
            rounds=rounds or RoundsConfig(rounds=3),
            anchors=anchors,
        )
        latency = {m.key: m.latency.median_ms for m in store.measurements()}
        speed = {m.key: m.fingerprint["speed"] for m in store.measurements()}
    return latency, result.summary, speed


def test_a_slower_machine_reports_the_same_latencies_scaled_to_the_anchor(tmp_path, tiny_onnx):
    first, summary, speed = profile(tmp_path / "1.sqlite", tiny_onnx, 1.0)
    assert first == pytest.approx(CELLS)
    assert summary.speed_anchor_new and summary.speed_anchor_ms == pytest.approx(0.5)
    assert "anchor set now" in summary.speed_line()
    # minutes later the machine runs 10 % slower: raw latencies 10 % up, scaled ones not
    second, summary, speed = profile(tmp_path / "2.sqlite", tiny_onnx, 1.1)
    assert second == pytest.approx(CELLS)
    assert not summary.speed_anchor_new and summary.speed_ratio == pytest.approx(1.1)
    assert speed["a"]["factor"] == pytest.approx(1 / 1.1)
    assert "1.100x the anchor's time" in summary.speed_line()
    with MeasurementStore(tmp_path / "2.sqlite", create=False) as store:
        assert [r.latency.median_ms for r in store.rounds("a")] == pytest.approx([1.1] * 3)
    # with the anchor off, the latencies are the raw ones
    off, summary, speed = profile(
        tmp_path / "3.sqlite", tiny_onnx, 1.1, rounds=RoundsConfig(rounds=3, speed_anchor=False)
    )
    assert off == pytest.approx({k: 1.1 * v for k, v in CELLS.items()})
    assert summary.speed_anchor_ms is None and "not scaled" in summary.speed_line()
    assert speed["a"] == {"note": "the speed anchor is off"}


def test_a_drift_within_a_campaign_is_followed_round_by_round(tmp_path, tiny_onnx):
    profile(tmp_path / "1.sqlite", tiny_onnx, 1.0)
    rounds = RoundsConfig(rounds=40, max_rounds=40)
    drift = lambda key, number: 1.0 if number < 20 else 1.2  # noqa: E731
    latency, _, _ = profile(tmp_path / "2.sqlite", tiny_onnx, drift, rounds=rounds)
    assert latency == pytest.approx(CELLS, rel=0.02)


def test_a_disturbed_round_does_not_move_its_neighbours(tmp_path, tiny_onnx):
    profile(tmp_path / "1.sqlite", tiny_onnx, 1.0)
    disturb = [("a", 1), ("b", 1), ("c", 1)]
    latency, summary, _ = profile(tmp_path / "2.sqlite", tiny_onnx, 1.0, disturb=disturb)
    assert latency == pytest.approx(CELLS)
    assert summary.disturbed_rounds == 3


def test_a_store_keeps_its_anchor_and_other_settings_get_their_own(tmp_path, tiny_onnx):
    store = tmp_path / "s.sqlite"
    first = SpeedAnchors(tmp_path / "first.json")
    profile(store, tiny_onnx, 1.0, anchors=first)
    # the anchors file is lost; more cells into the same store, 20 % slower: still scaled
    # to the store's anchor, which the new file adopts
    CELLS["d"] = 3.0
    try:
        other = SpeedAnchors(tmp_path / "other.json")
        latency, summary, _ = profile(store, tiny_onnx, 1.2, anchors=other)
    finally:
        del CELLS["d"]
    assert latency["d"] == pytest.approx(3.0)
    assert not summary.speed_anchor_new
    assert json.loads(other.path.read_text()) == json.loads(first.path.read_text())
    # two threads are another setting: a new anchor beside the first
    _, summary, _ = profile(tmp_path / "t2.sqlite", tiny_onnx, 1.2, anchors=other, threads=2)
    assert summary.speed_anchor_new and summary.speed_anchor_ms == pytest.approx(0.6)
    assert len(json.loads(other.path.read_text())) == 2


def test_local_probe_time_is_the_median_of_the_nearest_undisturbed_rounds():
    times = [1.0] * 10 + [2.0] * 10
    local = local_probe_ms(times, [False] * 20, neighbours=5)
    assert local[:8] == [1.0] * 8 and local[12:] == [2.0] * 8
    disturbed = [i == 3 for i in range(20)]
    assert local_probe_ms([*times[:3], 50.0, *times[4:]], disturbed, neighbours=5)[3] == 1.0
    assert local_probe_ms([None, None], [False, False]) == [None, None]
    assert local_probe_ms([3.0, None], [True, True]) == [3.0, 3.0]  # all disturbed: all used
    with pytest.raises(ValueError, match="one disturbed flag"):
        local_probe_ms([1.0], [])


def test_the_anchors_file_keeps_the_first_anchor_and_names_itself_when_unreadable(tmp_path):
    anchors = SpeedAnchors(tmp_path / "deep" / "anchors.json")
    made = anchors.add(new_anchor(0.5, {"device": "x"}))
    assert anchors.add(new_anchor(0.7, {"device": "x"})) == made
    assert anchors.get(setting_digest({"device": "x"})).probe_ms == 0.5
    assert anchors.get(setting_digest({"device": "y"})) is None
    anchors.path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"anchors\.json is unreadable.*delete it"):
        anchors.get("abc")


def test_a_corrupt_anchors_file_is_said_before_any_round(tmp_path, tiny_onnx):
    anchors = SpeedAnchors(tmp_path / "anchors.json")
    anchors.path.write_text(json.dumps({"d": {"probe_ms": -1}}))
    with pytest.raises(ConfigError, match="HWNAS_SPEED_ANCHORS"):
        profile(tmp_path / "s.sqlite", tiny_onnx, 1.0, anchors=anchors)
    with MeasurementStore(tmp_path / "s.sqlite", create=False) as store:
        assert store.rounds() == []


def test_the_default_anchors_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HWNAS_SPEED_ANCHORS", str(tmp_path / "a.json"))
    assert SpeedAnchors.default().path == tmp_path / "a.json"
    monkeypatch.delenv("HWNAS_SPEED_ANCHORS")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert SpeedAnchors.default().path == tmp_path / "state" / "hwnas" / "speed-anchors.json"


def test_the_setting_digest_ignores_key_order():
    assert setting_digest({"a": 1, "b": {"c": 2}}) == setting_digest({"b": {"c": 2}, "a": 1})
    assert setting_digest({"a": 1}) != setting_digest({"a": 2})
