"""RAPL meter on a fake /sys/class/powercap tree: zones, domains, wrap-around, permissions."""

from pathlib import Path

import pytest

from profilers.energy import MeterUnavailableError, create_meter
from profilers.energy.rapl import RaplMeter, find_zones

MAX_UJ = 262_143_328_850


def write_zone(root, folder, name, energy_uj, max_uj=MAX_UJ):
    zone = root / folder
    zone.mkdir(parents=True)
    (zone / "name").write_text(f"{name}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


@pytest.fixture
def powercap(tmp_path):
    """Two sockets with DRAM, a core subzone, psys, and the MMIO twin of package-0."""
    root = tmp_path / "powercap"
    write_zone(root, "intel-rapl:0", "package-0", 1_000_000)
    write_zone(root, "intel-rapl:0:0", "core", 400_000)
    write_zone(root, "intel-rapl:0:1", "dram", 50_000)
    write_zone(root, "intel-rapl:1", "package-1", 2_000_000)
    write_zone(root, "intel-rapl:1:0", "dram", 60_000)
    write_zone(root, "intel-rapl:2", "psys", 9_000_000)
    write_zone(root, "intel-rapl-mmio:0", "package-0", 1_000_000)
    return root


def set_uj(root, folder, value):
    (root / folder / "energy_uj").write_text(f"{value}\n")


def test_find_zones_selects_domains_and_skips_mmio(powercap):
    zones = find_zones(powercap, ("package", "dram"))
    assert sorted(zones) == ["dram@intel-rapl:0:1", "dram@intel-rapl:1:0", "package-0", "package-1"]
    assert zones["package-0"].name == "intel-rapl:0"
    assert list(find_zones(powercap, ("psys",))) == ["psys@intel-rapl:2"]


def test_window_sums_package_and_dram(powercap):
    meter = create_meter("rapl", root=powercap)
    assert isinstance(meter, RaplMeter) and meter.update_period_s == 0.001
    meter.start()
    set_uj(powercap, "intel-rapl:0", 1_000_000 + 3_000_000)  # +3000 mJ
    set_uj(powercap, "intel-rapl:0:1", 50_000 + 500_000)  # +500 mJ
    set_uj(powercap, "intel-rapl:1", 2_000_000 + 1_000_000)  # +1000 mJ
    set_uj(powercap, "intel-rapl:0:0", 10**9)  # core is not summed
    reading = meter.stop()
    assert reading.domains_mj == pytest.approx(
        {"package-0": 3000.0, "dram@intel-rapl:0:1": 500.0, "package-1": 1000.0,
         "dram@intel-rapl:1:0": 0.0}
    )  # fmt: skip
    assert reading.energy_mj == pytest.approx(4500.0)
    assert reading.duration_s > 0
    assert meter.describe()["domains"] == ["package", "dram"]


def test_counter_wrap_around(powercap):
    set_uj(powercap, "intel-rapl:0", MAX_UJ - 1_000_000)  # 1000 mJ below the top
    meter = RaplMeter(domains=("package",), root=powercap)
    meter.start()
    set_uj(powercap, "intel-rapl:0", 2_000_000)  # wrapped, then 2000 mJ more
    reading = meter.stop()
    assert reading.domains_mj["package-0"] == pytest.approx(3000.0)


def test_no_powercap_or_no_zone_says_why(tmp_path):
    with pytest.raises(MeterUnavailableError, match="not Linux, or the intel_rapl driver"):
        RaplMeter(root=tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeterUnavailableError, match="no RAPL zone"):
        RaplMeter(root=tmp_path / "empty")


def test_root_only_counters_say_how_to_fix(powercap, monkeypatch):
    # As a normal user on Linux >= 5.10: energy_uj is mode 0400 (root runs this test too).
    real_read_text = Path.read_text

    def read_text(path, *args, **kwargs):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(MeterUnavailableError, match="CVE-2020-8694.*chmod a\\+r"):
        RaplMeter(root=powercap)


def test_bad_domains():
    with pytest.raises(ValueError, match="domains"):
        RaplMeter(domains=("gpu",))
    with pytest.raises(ValueError, match="domains"):
        RaplMeter(domains="package")
