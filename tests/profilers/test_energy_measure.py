"""Energy per inference: the arithmetic, the idle and work windows, discovery, profile_onnx."""

import time

import pytest

from profilers import ConfigError, Measurement, MeasurementStore, OnnxRuntime, profile_onnx
from profilers.energy import (
    EnergyConfig,
    EnergyReading,
    NullMeter,
    create_meter,
    discover_meter,
    energy_per_inference,
    jetson,
    list_meters,
    measure_energy,
    nvml,
    rapl,
    register_meter,
)
from profilers.energy.base import MeterUnavailableError
from profilers.energy.external import CallableMeter


def test_energy_per_inference_by_hand():
    # 10 runs in 2 s using 30 J; idle 5 W over 2 s -> 10 J idle during the work: net 20 J.
    work = EnergyReading(energy_mj=30_000.0, duration_s=2.0)
    idle = EnergyReading(energy_mj=10_000.0, duration_s=2.0)
    result = energy_per_inference(work, 10, idle, {"meter": "fake"})
    assert result.energy_mj == pytest.approx(3000.0)
    assert result.energy_net_mj == pytest.approx(2000.0)
    assert result.power_w == pytest.approx(15.0) and result.idle_power_w == pytest.approx(5.0)
    assert result.runs == 10 and result.window_s == 2.0
    assert result.reason.startswith("fake: 10 runs in 2.000 s at 15.000 W, idle 5.000 W")


def test_net_energy_is_none_when_idle_exceeds_work():
    work = EnergyReading(energy_mj=9_000.0, duration_s=2.0)  # 4.5 W
    idle = EnergyReading(energy_mj=10_000.0, duration_s=2.0)  # 5 W
    result = energy_per_inference(work, 3, idle)
    assert result.energy_mj == pytest.approx(3000.0) and result.energy_net_mj is None
    assert "not measurable" in result.reason
    no_idle = energy_per_inference(work, 3)
    assert no_idle.energy_net_mj is None and "no idle baseline" in no_idle.reason
    with pytest.raises(ValueError, match="runs"):
        energy_per_inference(work, 0)


def test_energy_config_window_is_ten_update_periods_at_least():
    config = EnergyConfig(min_window_s=0.5)
    assert config.window_s(0.1) == pytest.approx(1.0)  # NVML: 10 x 100 ms
    assert config.window_s(0.001) == 0.5  # RAPL: the minimum
    with pytest.raises(ConfigError):
        EnergyConfig(min_window_s=0)
    with pytest.raises(ConfigError):
        EnergyConfig(idle_baseline="yes")


class PoweredCounter:
    """Cumulative mJ of a device drawing ``idle_w`` plus ``per_run_mj`` per run of ``work``.

    By default time is a fake clock (``now``) that only sleeping and running advance, so the
    windows' arithmetic is exact however busy the machine is; ``clock`` replaces it with a real one.
    """

    def __init__(self, idle_w, per_run_mj, run_s=0.001, clock=None):
        self.idle_w, self.per_run_mj, self.run_s = idle_w, per_run_mj, run_s
        self.runs, self.now = 0, 100.0
        self.clock = clock or (lambda: self.now)

    def sleep(self, seconds):
        self.now += seconds

    def read_mj(self):
        return self.idle_w * 1000.0 * self.clock() + self.per_run_mj * self.runs

    def work(self):
        self.runs += 1
        self.now += self.run_s


def test_measure_energy_idle_and_work_windows(monkeypatch):
    counter = PoweredCounter(idle_w=10.0, per_run_mj=5.0)
    monkeypatch.setattr(time, "perf_counter", counter.clock)  # the meter's and the loop's clock
    meter = CallableMeter(counter.read_mj, update_period_s=0.005)
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        counter.sleep(seconds)

    result = measure_energy(counter.work, meter, EnergyConfig(min_window_s=0.05), sleep=sleep)
    assert sleeps == [0.05]  # one idle window of the work window's length
    assert result.runs == counter.runs == 50 and result.window_s == pytest.approx(0.05)
    assert result.idle_power_w == pytest.approx(10.0, rel=1e-9)
    assert result.energy_net_mj == pytest.approx(5.0, rel=1e-9)
    assert result.energy_mj == pytest.approx(5.0 + 10.0 * 0.001 * 1000, rel=1e-9)
    assert result.meter["meter"] == "external"


def test_measure_energy_without_meter_or_with_a_failing_one():
    result = measure_energy(lambda: None, NullMeter("no meter on this board"))
    assert (result.energy_mj, result.energy_net_mj, result.power_w) == (None, None, None)
    assert result.reason == "no meter on this board"

    failing = CallableMeter(lambda: "x", update_period_s=0.001)
    result = measure_energy(lambda: None, failing, EnergyConfig(min_window_s=0.01))
    assert result.energy_mj is None and "external failed" in result.reason


def test_registry_and_discovery(monkeypatch, tmp_path):
    assert {"nvml", "rapl", "jetson", "external", "csv-log"} <= set(list_meters())
    with pytest.raises(LookupError, match="known meters"):
        create_meter("wattsup")
    with pytest.raises(ValueError, match="needs arguments"):
        discover_meter(order=("external",))
    with pytest.raises(TypeError):
        register_meter("thing")(object)

    monkeypatch.setattr(rapl, "POWERCAP_ROOT", tmp_path / "no-powercap")
    monkeypatch.setattr(jetson, "HWMON_ROOT", tmp_path / "no-hwmon")
    monkeypatch.setattr(jetson, "IIO_ROOT", tmp_path / "no-iio")

    def no_nvml(self, index=0):
        raise MeterUnavailableError("no NVIDIA driver here")

    monkeypatch.setattr(nvml.NvmlMeter, "__init__", no_nvml)
    meter = discover_meter()
    assert isinstance(meter, NullMeter)
    assert meter.unavailable_reason.startswith("no energy meter here (nvml: no NVIDIA driver")
    assert "jetson: no INA3221" in meter.unavailable_reason
    assert "rapl: no " in meter.unavailable_reason
    with pytest.raises(MeterUnavailableError, match="nvml"):
        meter.start()

    zone = tmp_path / "no-powercap" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("5\n")
    (zone / "max_energy_range_uj").write_text("1000000\n")
    assert isinstance(discover_meter(), rapl.RaplMeter)


def test_profile_onnx_records_energy_and_the_store_keeps_it(tiny_onnx, fast_timing, tmp_path):
    counter = PoweredCounter(idle_w=2.0, per_run_mj=1.0, clock=time.perf_counter)  # real time
    meter = CallableMeter(counter.read_mj, update_period_s=0.002)

    class CountingRuntime(OnnxRuntime):
        """onnxruntime whose sessions tell the fake counter about each run."""

        def load(self, model_path):
            session = super().load(model_path)
            run = session.run
            session.run = lambda inputs: (counter.work(), run(inputs))[1]
            return session

    runtime = CountingRuntime(intra_op_threads=1)
    runtime.name = "onnxruntime"
    stats, info = profile_onnx(
        tiny_onnx, runtime, fast_timing, energy_meter=meter, energy=EnergyConfig(min_window_s=0.03)
    )
    energy = info["energy"]
    # The meter reads its clock a moment apart from the window's own: a busy machine adds error.
    assert energy["runs"] >= 1 and energy["idle_power_w"] == pytest.approx(2.0, rel=0.05)
    assert energy["energy_net_mj"] == pytest.approx(1.0, rel=0.1)
    assert info["energy_config"]["min_window_s"] == 0.03 and info["timer"] == "host_perf_counter_ns"

    measurement = Measurement(
        key="tiny", device="local", runtime="onnxruntime", precision="fp32", batch_size=1,
        latency=stats, energy_mj=energy["energy_mj"], energy_net_mj=energy["energy_net_mj"],
        power_w=energy["power_w"], energy_reason=energy["reason"], fingerprint=info,
    )  # fmt: skip
    with MeasurementStore(tmp_path / "store.sqlite") as store:
        store.add(measurement)
        stored = store.get("tiny", "local", "onnxruntime", "fp32", 1)
    assert stored.energy_net_mj == pytest.approx(energy["energy_net_mj"])
    assert stored.power_w == pytest.approx(energy["power_w"])


def test_profile_onnx_without_meter_says_so(tiny_onnx, fast_timing):
    _, info = profile_onnx(tiny_onnx, OnnxRuntime(intra_op_threads=1), fast_timing)
    assert info["energy"]["energy_mj"] is None
    assert info["energy"]["reason"] == "no energy meter given"


def test_open_meter_by_name(tmp_path):
    from profilers.energy import UnknownMeterError, open_meter

    assert "switched off" in open_meter("none").unavailable_reason
    missing = open_meter("rapl", root=tmp_path / "absent")
    assert isinstance(missing, NullMeter) and missing.unavailable_reason.startswith("rapl: no ")
    with pytest.raises(UnknownMeterError):
        open_meter("wattsup")
    meter = open_meter("external", read_mj=lambda: 1.0, update_period_s=0.1)
    assert isinstance(meter, CallableMeter)
