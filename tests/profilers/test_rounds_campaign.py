"""A campaign of rounds against a scripted target: re-timing, extra rounds, cap, resume, flags."""

import csv

import pytest

from devices import Device
from profilers import LatencyStats, MeasurementStore, OnnxRuntime, StoreError, run_campaign
from profilers.remote import RemoteConnectionLostError
from profilers.rounds import RoundsConfig
from profilers.targets import Measured, Target, TargetInfo, materialize

DEVICE = Device(name="ci-box", kind="cpu", runtimes=("onnxruntime",))


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class ScriptedTarget(Target):
    """Times nothing: each job's latency and probe come from ``script(key, round)``.

    ``script`` returns ``(median_ms, probe_ratio)``, ``(median_ms, probe_ratio, waited_s)`` or
    ``(median_ms, probe_ratio, waited_s, busy_after_wait)``;
    each job takes one second of the fake clock. ``die_after`` jobs, the connection drops.
    """

    def __init__(self, runtime, script, clock, die_after=None):
        self.runtime, self.script, self.clock, self.die_after = runtime, script, clock, die_after
        self.jobs = []

    def open(self):
        return TargetInfo(host={"hostname": "fake"}, runtime_info=self.runtime.describe())

    def measure(self, jobs):
        for job_key, source in jobs:
            if self.die_after is not None and len(self.jobs) >= self.die_after:
                raise RemoteConnectionLostError("the board went away")
            path = materialize(job_key, source)
            key, number = job_key.rsplit("#round", 1)
            self.jobs.append((key, int(number)))
            median, ratio, *waited = self.script(key, int(number))
            self.clock.t += 1.0
            stats = LatencyStats(median, median, median, median, 0.01, 20, "converged")
            round_info = {
                "probe_ms": [0.5, 0.5 * ratio],
                "probe_ratio": ratio,
                "probe_baseline_ms": 0.5,
                "disturbed": ratio > 1.2,
                "waited_s": waited[0] if waited else 0.0,
            }
            if len(waited) > 1:
                round_info["busy_after_wait"] = waited[1]
            info = {
                "runtime": self.runtime.describe(),
                "model_path": str(path),
                "round": round_info,
            }
            yield Measured(job_key, stats, info, {"hostname": "fake"})


@pytest.fixture
def runtime():
    return OnnxRuntime(intra_op_threads=1)


@pytest.fixture
def items(tiny_onnx):
    return [(key, tiny_onnx) for key in ("a", "b", "c", "d", "e", "f")]


def campaign(store, runtime, items, script, *, rounds, clock=None, die_after=None, **kw):
    clock = clock or Clock()
    target = ScriptedTarget(runtime, script, clock, die_after)
    result = run_campaign(
        items, store, runtime, DEVICE, target=target, rounds=rounds, clock=clock, **kw
    )
    return result, target


def test_disturbed_rounds_are_marked_in_the_store_and_timed_again_later(tmp_path, runtime, items):
    rounds = RoundsConfig(rounds=3, max_rounds=5, probe=None)

    def script(key, number):  # b's round 1 ran beside a probe 2x its quiet time
        return (9.0 if (key, number) == ("b", 1) else 1.0), (
            2.0 if (key, number) == ("b", 1) else 1.0
        )

    with MeasurementStore(tmp_path / "s.sqlite") as store:
        result, target = campaign(store, runtime, items, script, rounds=rounds)
        b_rounds = store.rounds("b")
        assert [(r.round, r.disturbed) for r in b_rounds] == [
            (0, False), (1, True), (2, False), (3, False)
        ]  # fmt: skip
        assert b_rounds[3].info["scheduled_as"] == "retime"
        assert target.jobs.index(("b", 3)) > max(target.jobs.index((k, 2)) for k in "abcdef")
        b = store.get("b", "ci-box", "onnxruntime")
        assert b.latency.median_ms == 1.0  # the disturbed 9 ms round is left out
        assert (b.rounds.rounds, b.rounds.rounds_kept, b.rounds.disturbed_rounds) == (4, 3, 1)
        assert b.rounds.retimed_rounds == 1 and b.rounds.unstable is False
    s = result.summary
    assert (s.rounds_timed, s.disturbed_rounds, s.retimed_rounds, s.extra_rounds) == (19, 1, 1, 0)
    assert "1 disturbed" in s.lines()[0] and "1 re-timed" in s.lines()[0]


def test_rounds_that_disagree_get_more_rounds_and_a_cell_that_stays_apart_is_flagged(
    tmp_path, runtime, items
):
    rounds = RoundsConfig(rounds=3, max_rounds=6, agree_rel=0.05, probe=None)
    spread = {0: 1.0, 1: 1.5, 2: 0.7, 3: 1.4, 4: 0.6, 5: 1.6}

    def script(key, number):  # e swings between rounds whatever happens; the rest agree
        return (spread[number] if key == "e" else 1.0 + 0.005 * number), 1.0

    with MeasurementStore(tmp_path / "s.sqlite") as store:
        result, target = campaign(store, runtime, items, script, rounds=rounds)
        assert [r.round for r in store.rounds("e")] == [0, 1, 2, 3, 4, 5]  # up to max_rounds
        assert [r.round for r in store.rounds("a")] == [0, 1, 2]
        flags = {m.key: m.rounds.unstable for m in store.measurements()}
        store.export_csv(tmp_path / "out.csv")
    assert flags == {"a": False, "b": False, "c": False, "d": False, "e": True, "f": False}
    assert [cell.key for cell in result.summary.unstable] == ["e"]
    assert result.summary.extra_rounds == 3
    assert (
        "unstable: 1 of 6 cells" in result.summary.lines()[-1]
        and "e (±" in (result.summary.lines()[-1])
    )
    with (tmp_path / "out.csv").open() as handle:
        rows = {row["arch"]: row for row in csv.DictReader(handle)}
    assert rows["e"]["unstable"] == "1" and rows["a"]["unstable"] == "0"
    assert rows["e"]["rounds"] == "6" and float(rows["e"]["ci_low_ms"]) < 1.0


def test_extra_rounds_stop_at_the_time_cap(tmp_path, runtime, items):
    # every cell disagrees; extra rounds may take 10 % of the base rounds' time: 18 s -> 1.8 s
    rounds = RoundsConfig(rounds=3, max_rounds=9, extra_time_fraction=0.1, probe=None)

    def script(key, number):
        return (1.0, 2.0)[number % 2], 1.0

    with MeasurementStore(tmp_path / "s.sqlite") as store:
        result, target = campaign(store, runtime, items, script, rounds=rounds)
    assert len(target.jobs) == 18 + 2  # two extra rounds fit in 1.8 s of one-second rounds
    assert result.summary.time_capped and "time cap reached" in result.summary.lines()[0]


def test_a_dropped_connection_resumes_in_the_middle_of_rounds(tmp_path, runtime, items):
    rounds = RoundsConfig(rounds=3, max_rounds=3, probe=None, seed=3)

    def script(key, number):
        return 1.0 + 0.001 * number, 1.0

    path = tmp_path / "s.sqlite"
    with MeasurementStore(path) as store, pytest.raises(RemoteConnectionLostError):
        campaign(store, runtime, items, script, rounds=rounds, die_after=8)
    with MeasurementStore(path) as store:
        first = {(r.key, r.round) for r in store.rounds()}
        assert len(first) == 8 and len(store) == 0
        result, target = campaign(store, runtime, items, script, rounds=rounds)
        assert len(store.rounds()) == 18 and len(store) == 6
    assert set(target.jobs).isdisjoint(first) and len(target.jobs) == 10  # only what was missing
    assert result.measured == ("a", "b", "c", "d", "e", "f")


def test_stored_rounds_of_other_threads_are_not_resumed_onto(tmp_path, items):
    rounds = RoundsConfig(rounds=3, max_rounds=3, probe=None)
    path = tmp_path / "s.sqlite"
    one = OnnxRuntime(intra_op_threads=1)
    with MeasurementStore(path) as store, pytest.raises(RemoteConnectionLostError):
        campaign(store, one, items, lambda k, n: (1.0, 1.0), rounds=rounds, die_after=3)
    two = OnnxRuntime(intra_op_threads=2)
    with MeasurementStore(path) as store, pytest.raises(StoreError, match="intra_op_threads"):
        campaign(store, two, items, lambda k, n: (1.0, 1.0), rounds=rounds)


def test_waiting_for_quiet_is_said_once(tmp_path, runtime, items):
    said = []
    rounds = RoundsConfig(rounds=2, max_rounds=2)
    with MeasurementStore(tmp_path / "s.sqlite") as store:
        result, _ = campaign(
            store, runtime, items, lambda k, n: (1.0, 1.0, 0.5), rounds=rounds, notice=said.append
        )
    assert len(said) == 1 and "busy" in said[0] and "wait up to" in said[0]
    assert result.summary.waited_s == pytest.approx(6.0)


def test_a_wait_that_ended_quiet_is_not_called_a_busy_machine(tmp_path, runtime, items):
    rounds = RoundsConfig(rounds=2, max_rounds=2)
    said = []
    with MeasurementStore(tmp_path / "s.sqlite") as store:  # every round waited, then quiet
        quiet = lambda k, n: (1.0, 1.0, 0.5, False)  # noqa: E731
        result, _ = campaign(store, runtime, items, quiet, rounds=rounds, notice=said.append)
    assert said == [] and result.summary.waited_s == pytest.approx(6.0)

    def script(key, number):  # only c's second round was still slow after its wait
        return 1.0, 1.0, 0.5, (key, number) == ("c", 1)

    with MeasurementStore(tmp_path / "t.sqlite") as store:
        campaign(store, runtime, items, script, rounds=rounds, notice=said.append)
    assert len(said) == 1 and "stayed over" in said[0]
