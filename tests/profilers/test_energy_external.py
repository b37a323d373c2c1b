"""External meters: a user callable of cumulative mJ, and a CSV log of power or energy."""

import pytest

from profilers.energy import EnergyMeterError, create_meter
from profilers.energy.external import CallableMeter, CsvLogMeter


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_callable_meter_counts_and_wraps():
    readings = iter([10.0, 60.0, 990.0, 40.0])
    meter = create_meter("external", read_mj=lambda: next(readings), update_period_s=0.5)
    assert isinstance(meter, CallableMeter) and meter.update_period_s == 0.5
    meter.start()
    assert meter.stop().energy_mj == 50.0
    wrapping = CallableMeter(lambda: next(readings), update_period_s=0.5, max_range_mj=1000.0)
    wrapping.start()
    assert wrapping.stop().energy_mj == 50.0  # 990 -> 1000 -> 40


def test_callable_meter_rejects_bad_readings_and_periods():
    meter = CallableMeter(lambda: "12 mJ", update_period_s=1.0)
    with pytest.raises(EnergyMeterError, match="finite number"):
        meter.start()
    with pytest.raises(ValueError, match="update_period_s"):
        CallableMeter(lambda: 0.0, update_period_s=0)
    with pytest.raises(ValueError, match="callable"):
        CallableMeter(12.0, update_period_s=1.0)


def write_log(path, rows, header="time_s,power_w"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def test_csv_power_log_is_integrated_over_the_window(tmp_path):
    log = tmp_path / "meter.csv"
    # 10 W from t=999 to t=1003, 20 W from t=1003 on (linear in between samples).
    write_log(log, [(999.0, 10.0), (1001.0, 10.0), (1003.0, 10.0), (1004.0, 20.0)])
    clock = FakeClock(1000.0)
    meter = create_meter(
        "csv-log", path=log, update_period_s=1.0, power_column="power_w", clock=clock
    )
    assert isinstance(meter, CsvLogMeter)
    meter.start()
    clock.now = 1003.5
    reading = meter.stop()
    # 3 s at 10 W + 0.5 s rising 10 -> 15 W = 30 J + 6.25 J.
    assert reading.energy_mj == pytest.approx(36_250.0)
    assert reading.duration_s == pytest.approx(3.5)


def test_csv_energy_log(tmp_path):
    log = tmp_path / "meter.csv"
    write_log(log, [(0.0, 0.0), (10.0, 5000.0)], header="t,energy_mj")
    clock = FakeClock(2.0)
    meter = CsvLogMeter(log, 1.0, energy_column="energy_mj", time_column="t", clock=clock)
    meter.start()
    clock.now = 6.0
    assert meter.stop().energy_mj == pytest.approx(2000.0)


def test_csv_log_that_stops_short_waits_then_fails(tmp_path):
    log = tmp_path / "meter.csv"
    write_log(log, [(999.0, 10.0), (1001.0, 10.0)])
    clock = FakeClock(1000.0)
    meter = CsvLogMeter(log, 0.01, power_column="power_w", max_lag_s=0.0, clock=clock)
    meter.start()
    clock.now = 1005.0
    with pytest.raises(EnergyMeterError, match="ends at 1001.000, before the window's end"):
        meter.stop()


def test_csv_log_errors_name_the_problem(tmp_path):
    log = tmp_path / "meter.csv"
    write_log(log, [(1.0, "n/a")])
    meter = CsvLogMeter(log, 1.0, power_column="power_w", max_lag_s=0.0, clock=FakeClock(0.0))
    meter.start()
    with pytest.raises(EnergyMeterError, match="line 2: not a number"):
        meter.stop()
    meter = CsvLogMeter(log, 1.0, power_column="watts", max_lag_s=0.0)
    meter.start()
    with pytest.raises(EnergyMeterError, match="'watts'"):
        meter.stop()
    with pytest.raises(ValueError, match="exactly one"):
        CsvLogMeter(log, 1.0)
    with pytest.raises(EnergyMeterError, match="before start"):
        CsvLogMeter(tmp_path / "absent.csv", 1.0, power_column="p").stop()
