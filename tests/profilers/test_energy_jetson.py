"""Jetson INA3221 meter on fake sysfs trees (JetPack 5/6 hwmon and JetPack 4 iio layouts)."""

import time

import pytest

from profilers.energy import EnergyMeterError, MeterUnavailableError, create_meter
from profilers.energy.jetson import JetsonMeter, find_rails


def hwmon_tree(tmp_path, rails, name="ina3221", update_interval_ms=None):
    """Write an hwmon INA3221 with ``rails = {label: (mV, mA)}`` on channels 1, 2, ..."""
    root = tmp_path / "ina3221"
    hwmon = root / "1-0040" / "hwmon" / "hwmon3"
    hwmon.mkdir(parents=True)
    (hwmon / "name").write_text(f"{name}\n")
    if update_interval_ms is not None:
        (hwmon / "update_interval").write_text(f"{update_interval_ms}\n")
    for channel, (label, (mv, ma)) in enumerate(rails.items(), start=1):
        (hwmon / f"in{channel}_label").write_text(f"{label}\n")
        (hwmon / f"in{channel}_input").write_text(f"{mv}\n")
        (hwmon / f"curr{channel}_input").write_text(f"{ma}\n")
    return root, hwmon


def test_find_rails_in_both_layouts(tmp_path):
    hwmon_root, _ = hwmon_tree(tmp_path, {"VDD_IN": (5000, 1000), "VDD_SOC": (5000, 300)})
    iio = tmp_path / "ina3221x" / "6-0040" / "iio:device0"
    iio.mkdir(parents=True)
    (iio / "rail_name_0").write_text("POM_5V_GPU\n")
    (iio / "in_voltage0_input").write_text("5000\n")
    (iio / "in_current0_input").write_text("200\n")
    rails = find_rails(hwmon_root, tmp_path / "ina3221x")
    assert sorted(rails) == ["POM_5V_GPU", "VDD_IN", "VDD_SOC"]
    assert rails["POM_5V_GPU"] == (iio / "in_voltage0_input", iio / "in_current0_input")


def test_other_hwmon_chips_are_ignored(tmp_path):
    root, _ = hwmon_tree(tmp_path, {"VDD_IN": (5000, 1000)}, name="tmp451")
    assert find_rails(root, tmp_path / "none") == {}
    with pytest.raises(MeterUnavailableError, match="not a Jetson"):
        JetsonMeter(hwmon_root=root, iio_root=tmp_path / "none")


def test_default_rail_is_the_board_input_and_power_is_v_times_i(tmp_path):
    root, _ = hwmon_tree(tmp_path, {"VDD_IN": (5000, 1200), "VDD_CPU_GPU_CV": (5000, 400)})
    meter = create_meter("jetson", hwmon_root=root, iio_root=tmp_path / "none")
    assert list(meter.rails) == ["VDD_IN"]
    assert meter.read_power_w() == {"VDD_IN": pytest.approx(6.0)}  # 5 V * 1.2 A


def test_constant_power_integrates_exactly(tmp_path):
    root, _ = hwmon_tree(tmp_path, {"VDD_IN": (5000, 1000)}, update_interval_ms=20)
    meter = JetsonMeter(sample_period_s=0.005, hwmon_root=root, iio_root=tmp_path / "none")
    assert meter.update_period_s == pytest.approx(0.02)  # the monitor's update_interval
    meter.start()
    time.sleep(0.1)
    reading = meter.stop()
    assert reading.duration_s >= 0.1
    assert reading.energy_mj == pytest.approx(5.0 * reading.duration_s * 1000)  # 5 W
    assert reading.power_w == pytest.approx(5.0)


def test_power_change_during_the_window_is_seen(tmp_path):
    root, hwmon = hwmon_tree(tmp_path, {"VDD_IN": (5000, 1000)})
    meter = JetsonMeter(sample_period_s=0.005, hwmon_root=root, iio_root=tmp_path / "none")
    meter.start()
    time.sleep(0.05)
    (hwmon / "curr1_input").write_text("3000\n")  # 5 W -> 15 W
    time.sleep(0.05)
    reading = meter.stop()
    assert 5.0 * 1.1 < reading.power_w < 15.0 * 0.9
    meter.close()


def test_named_rails_are_summed_and_missing_ones_refused(tmp_path):
    root, _ = hwmon_tree(tmp_path, {"VDD_GPU": (5000, 1000), "VDD_CPU": (5000, 400)})
    meter = JetsonMeter(rails=("VDD_GPU", "VDD_CPU"), hwmon_root=root, iio_root=tmp_path / "x")
    assert sum(meter.read_power_w().values()) == pytest.approx(7.0)
    default = JetsonMeter(hwmon_root=root, iio_root=tmp_path / "x")  # no input rail: all
    assert sorted(default.rails) == ["VDD_CPU", "VDD_GPU"]
    with pytest.raises(MeterUnavailableError, match="VDD_IN"):
        JetsonMeter(rails=("VDD_IN",), hwmon_root=root, iio_root=tmp_path / "x")


def test_stop_before_start_and_double_start(tmp_path):
    root, _ = hwmon_tree(tmp_path, {"VDD_IN": (5000, 1000)})
    meter = JetsonMeter(hwmon_root=root, iio_root=tmp_path / "none")
    with pytest.raises(EnergyMeterError, match="before start"):
        meter.stop()
    meter.start()
    with pytest.raises(EnergyMeterError, match="twice"):
        meter.start()
    meter.close()
    meter.close()  # idempotent
