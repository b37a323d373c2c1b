"""NVIDIA Jetson boards: the on-board INA3221 power monitors, read from sysfs.

Each INA3221 channel (a rail such as ``VDD_IN``, the board's input) reports bus voltage in mV
and current in mA; power is their product. A thread samples the rails through a window and the
power is integrated by the trapezoid rule. Two sysfs layouts exist:

* JetPack 5 and 6 (hwmon): ``/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/`` with ``name``
  = ``ina3221``, ``in{N}_label``, ``in{N}_input`` (mV), ``curr{N}_input`` (mA) and
  ``update_interval`` (ms).
* JetPack 4 (iio): ``/sys/bus/i2c/drivers/ina3221x/*/iio:device*/`` with ``rail_name_{N}``,
  ``in_voltage{N}_input`` (mV) and ``in_current{N}_input`` (mA).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from profilers.energy import register_meter
from profilers.energy.base import (
    EnergyMeter,
    EnergyMeterError,
    EnergyReading,
    MeterUnavailableError,
)
from profilers.energy.integrate import trapezoid_energy_mj

HWMON_ROOT = Path("/sys/bus/i2c/drivers/ina3221")
IIO_ROOT = Path("/sys/bus/i2c/drivers/ina3221x")
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")  # the whole board's input, where the board has one
DEFAULT_SAMPLE_PERIOD_S = 0.01

Rail = tuple[Path, Path]  # (voltage file in mV, current file in mA)


def _text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def find_rails(hwmon_root: Path = HWMON_ROOT, iio_root: Path = IIO_ROOT) -> dict[str, Rail]:
    """Return ``{rail name: (voltage file, current file)}`` of every INA3221 channel found."""
    rails: dict[str, Rail] = {}
    for hwmon in sorted(hwmon_root.glob("*/hwmon/hwmon*")):
        if _text(hwmon / "name") != "ina3221":
            continue
        for label_file in sorted(hwmon.glob("in*_label")):
            channel = label_file.name[len("in") : -len("_label")]
            label = _text(label_file)
            voltage, current = hwmon / f"in{channel}_input", hwmon / f"curr{channel}_input"
            if label and "sum" not in label.lower() and voltage.exists() and current.exists():
                rails[label] = (voltage, current)
    for iio in sorted(iio_root.glob("*/iio:device*")):
        for name_file in sorted(iio.glob("rail_name_*")):
            channel = name_file.name[len("rail_name_") :]
            label = _text(name_file)
            voltage = iio / f"in_voltage{channel}_input"
            current = iio / f"in_current{channel}_input"
            if label and voltage.exists() and current.exists():
                rails[label] = (voltage, current)
    return rails


def _update_interval_s(rails: dict[str, Rail]) -> float | None:
    """Return the longest ``update_interval`` (ms in sysfs) of the rails' monitors, in s."""
    intervals = []
    for voltage, _ in rails.values():
        text = _text(voltage.parent / "update_interval")
        if text is not None and text.isdigit():
            intervals.append(int(text) / 1000.0)
    return max(intervals) if intervals else None


@register_meter("jetson")
class JetsonMeter(EnergyMeter):
    """Board energy of a Jetson from its INA3221 rails, sampled by a thread.

    Args:
        rails: Rail names to sum; default the board's input rail (``VDD_IN`` or
            ``POM_5V_IN``) where there is one, else every rail found.
        sample_period_s: Time between samples; the update period is the longer of it and
            the monitors' ``update_interval``.
        hwmon_root: Folder of the hwmon INA3221 driver; default ``HWMON_ROOT`` (tests point
            it at a fake tree).
        iio_root: Folder of the JetPack 4 ``ina3221x`` driver; default ``IIO_ROOT``.

    Raises:
        MeterUnavailableError: If no INA3221 rail is found or a named rail is absent.
    """

    discoverable = True

    def __init__(
        self,
        rails: tuple[str, ...] | None = None,
        sample_period_s: float = DEFAULT_SAMPLE_PERIOD_S,
        hwmon_root: str | Path | None = None,
        iio_root: str | Path | None = None,
    ) -> None:
        if not sample_period_s > 0:
            raise ValueError(f"JetsonMeter: sample_period_s must be > 0, got {sample_period_s}")
        hwmon_root = Path(hwmon_root if hwmon_root is not None else HWMON_ROOT)
        iio_root = Path(iio_root if iio_root is not None else IIO_ROOT)
        found = find_rails(hwmon_root, iio_root)
        if not found:
            raise MeterUnavailableError(
                f"no INA3221 power rails under {hwmon_root} or {iio_root}: not a Jetson, or "
                "its power monitor driver is not loaded"
            )
        if rails is None:
            rails = next(((r,) for r in INPUT_RAILS if r in found), tuple(found))
        missing = [r for r in rails if r not in found]
        if missing or not rails:
            raise MeterUnavailableError(
                f"rails {missing} not found; this board has {sorted(found)}"
            )
        self.rails = {name: found[name] for name in rails}
        self.sample_period_s = float(sample_period_s)
        self.update_period_s = max(self.sample_period_s, _update_interval_s(self.rails) or 0.0)
        self._samples: list[tuple[float, float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.read_power_w()

    def read_power_w(self) -> dict[str, float]:
        """Return each rail's power now, in W (mV * mA / 1e6)."""
        power = {}
        for name, (voltage, current) in self.rails.items():
            try:
                mv = float(voltage.read_text())
                ma = float(current.read_text())
            except (OSError, ValueError) as exc:
                raise EnergyMeterError(
                    f"cannot read rail {name} ({voltage}, {current}): {exc}"
                ) from exc
            power[name] = mv * ma / 1e6
        return power

    def _sample(self) -> None:
        power = self.read_power_w()
        self._samples.append((time.perf_counter(), sum(power.values()), power))

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.sample_period_s):
                self._sample()
        except BaseException as exc:  # re-raised by stop() in the caller's thread
            self._error = exc

    def start(self) -> None:
        """Take a first sample and start sampling in a thread."""
        if self._thread is not None:
            raise EnergyMeterError("JetsonMeter.start() called twice; call stop() first")
        self._samples, self._error = [], None
        self._stop.clear()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="hwnas-jetson-meter", daemon=True)
        self._thread.start()

    def stop(self) -> EnergyReading:
        """Stop sampling, take a last sample and integrate the power of each rail."""
        if self._thread is None:
            raise EnergyMeterError("JetsonMeter.stop() called before start()")
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise EnergyMeterError(f"sampling the rails failed: {self._error}") from self._error
        self._sample()
        times = [t for t, _, _ in self._samples]
        domains = {
            name: trapezoid_energy_mj(times, [rails[name] for _, _, rails in self._samples])
            for name in self.rails
        }
        return EnergyReading(sum(domains.values()), times[-1] - times[0], domains)

    def describe(self) -> dict[str, Any]:
        """Return the meter, rails, sample and update periods."""
        return {
            "meter": self.name,
            "rails": {name: str(voltage.parent) for name, (voltage, _) in self.rails.items()},
            "sample_period_s": self.sample_period_s,
            "update_period_s": self.update_period_s,
        }

    def close(self) -> None:
        """Stop a sampling thread left running. Idempotent."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __repr__(self) -> str:
        return f"JetsonMeter(rails={tuple(self.rails)!r})"
