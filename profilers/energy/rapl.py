"""Intel and AMD CPUs: RAPL energy counters of the Linux powercap interface.

Each zone under ``/sys/class/powercap`` (``intel-rapl:0`` = ``package-0``, its subzone
``intel-rapl:0:1`` = ``dram``, ...) has ``name``, ``energy_uj`` (a counter in microjoules that
wraps to 0 past ``max_energy_range_uj``) and is refreshed about every millisecond. Package and
DRAM zones do not overlap, so their sum is the energy of the sockets and their memory. Since
Linux 5.10 ``energy_uj`` is readable by root only (CVE-2020-8694).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profilers.energy import register_meter
from profilers.energy.base import CounterMeter, EnergyMeterError, MeterUnavailableError

POWERCAP_ROOT = Path("/sys/class/powercap")
RAPL_UPDATE_PERIOD_S = 0.001
DOMAINS = ("package", "dram", "core", "uncore", "psys")


def _domain(zone_name: str) -> str:
    """Return the domain of a zone name: ``package-0`` -> ``package``, ``dram`` -> ``dram``."""
    return zone_name.split("-", 1)[0]


def find_zones(root: Path, domains: tuple[str, ...]) -> dict[str, Path]:
    """Return ``{label: zone folder}`` of the RAPL zones under ``root`` in ``domains``.

    Labels are the zone's name and folder, e.g. ``package-0`` and ``dram@intel-rapl:0:1``
    (``dram`` repeats on every socket). The MMIO twins of the package zones
    (``intel-rapl-mmio:*``) count the same energy and are left out.
    """
    zones = {}
    for folder in sorted(root.glob("intel-rapl:*")):
        try:
            zone_name = (folder / "name").read_text().strip()
        except OSError:
            continue
        if _domain(zone_name) not in domains:
            continue
        label = zone_name if zone_name.startswith("package-") else f"{zone_name}@{folder.name}"
        zones[label] = folder
    return zones


def _read_uj(path: Path) -> float:
    try:
        return float(path.read_text().strip())
    except PermissionError as exc:
        raise MeterUnavailableError(
            f"cannot read {path} (root only since Linux 5.10, CVE-2020-8694); run as root or "
            f"`sudo chmod a+r {path.parent}/energy_uj`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise EnergyMeterError(f"cannot read a number from {path} ({exc})") from exc


@register_meter("rapl")
class RaplMeter(CounterMeter):
    """CPU energy from RAPL: package and DRAM domains by default.

    Args:
        domains: RAPL domains to sum, from ``package``, ``dram``, ``core``, ``uncore``,
            ``psys``. ``core`` and ``uncore`` are parts of ``package``, and ``psys`` covers
            the whole platform: do not mix them with ``package``.
        root: The powercap folder; default ``POWERCAP_ROOT`` (tests point it at a fake tree).

    Raises:
        MeterUnavailableError: If there is no powercap folder, no zone of the domains, or the
            counters are not readable.
    """

    discoverable = True
    update_period_s = RAPL_UPDATE_PERIOD_S

    def __init__(
        self, domains: tuple[str, ...] = ("package", "dram"), root: str | Path | None = None
    ) -> None:
        unknown = [d for d in domains if d not in DOMAINS]
        if not domains or unknown or isinstance(domains, str):
            raise ValueError(f"RaplMeter: domains must be a tuple from {DOMAINS}, got {domains!r}")
        self.domains = tuple(domains)
        self.root = Path(root if root is not None else POWERCAP_ROOT)
        if not self.root.is_dir():
            raise MeterUnavailableError(
                f"no {self.root}: not Linux, or the intel_rapl driver is not loaded "
                "(`sudo modprobe intel_rapl_msr`)"
            )
        self.zones = find_zones(self.root, self.domains)
        if not self.zones:
            raise MeterUnavailableError(
                f"no RAPL zone of domains {list(self.domains)} under {self.root} "
                "(a virtual machine or a CPU without RAPL)"
            )
        self._ranges = {
            label: _read_uj(folder / "max_energy_range_uj") / 1000.0
            for label, folder in self.zones.items()
        }
        self.read_counters_mj()  # fails now, with the reason, where counters are root only

    def read_counters_mj(self) -> dict[str, float]:
        """Return each zone's counter in mJ."""
        return {
            label: _read_uj(folder / "energy_uj") / 1000.0 for label, folder in self.zones.items()
        }

    def counter_ranges_mj(self) -> dict[str, float | None]:
        """Return each zone's wrap-around range in mJ (``max_energy_range_uj``)."""
        return dict(self._ranges)

    def describe(self) -> dict[str, Any]:
        """Return the meter, the zones summed and the update period."""
        return {
            "meter": self.name,
            "domains": list(self.domains),
            "zones": {label: str(folder) for label, folder in self.zones.items()},
            "update_period_s": self.update_period_s,
        }

    def close(self) -> None:
        """Nothing to release: counters are read from files on demand."""

    def __repr__(self) -> str:
        return f"RaplMeter(domains={self.domains!r}, root={str(self.root)!r})"
