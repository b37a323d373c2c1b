"""Host state around a round: load average, CPU steal and clock frequency, where readable.

Steal is the share of CPU time the hypervisor gave to other guests while this one wanted to
run (the ``steal`` column of ``/proc/stat``, see ``man 5 proc``); it is read before and after
a round and the difference is reported. What a platform does not expose is None, with the
reason in ``reasons``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
CPUFREQ_GLOB = "cpu[0-9]*/cpufreq/scaling_cur_freq"
SYS_CPU = Path("/sys/devices/system/cpu")
PROC_CPUINFO = Path("/proc/cpuinfo")
_STEAL_COLUMN = 7  # user nice system idle iowait irq softirq steal guest guest_nice


@dataclass(frozen=True)
class HostState:
    """The host while a round ran.

    Attributes:
        loadavg_1m: One-minute load average at the end of the round.
        usable_cores: Cores this process may run on, to read the load against.
        steal_fraction: Share of CPU time stolen by the hypervisor during the round.
        freq_mhz: Mean current clock of the cores, in MHz.
        reasons: Why a field is None, by field name.
    """

    loadavg_1m: float | None
    usable_cores: int
    steal_fraction: float | None
    freq_mhz: float | None
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON data."""
        return asdict(self)


def read_cpu_times(path: Path = PROC_STAT) -> tuple[int, ...] | None:
    """Return the aggregate ``cpu`` line of ``/proc/stat`` as integers, or None if unreadable."""
    try:
        with path.open() as handle:
            for line in handle:
                if line.startswith("cpu "):
                    return tuple(int(v) for v in line.split()[1:])
    except (OSError, ValueError):
        return None
    return None


def steal_fraction(before: tuple[int, ...] | None, after: tuple[int, ...] | None) -> float | None:
    """Return the stolen share of CPU time between two ``read_cpu_times`` readings."""
    if before is None or after is None or len(before) <= _STEAL_COLUMN:
        return None
    # guest and guest_nice are already counted in user and nice
    total = sum(after[:8]) - sum(before[:8])
    if total <= 0:
        return 0.0
    return (after[_STEAL_COLUMN] - before[_STEAL_COLUMN]) / total


def read_freq_mhz(sys_cpu: Path = SYS_CPU, cpuinfo: Path = PROC_CPUINFO) -> float | None:
    """Return the mean current clock in MHz from cpufreq, else ``/proc/cpuinfo``; or None."""
    values = []
    for path in sorted(sys_cpu.glob(CPUFREQ_GLOB)):
        try:
            values.append(int(path.read_text().strip()) / 1000.0)  # kHz
        except (OSError, ValueError):
            continue
    if not values:
        try:
            for line in cpuinfo.read_text().splitlines():
                if line.lower().startswith("cpu mhz"):
                    values.append(float(line.split(":", 1)[1]))
        except (OSError, ValueError, IndexError):
            return None
    return sum(values) / len(values) if values else None


def host_state(cpu_before: tuple[int, ...] | None) -> HostState:
    """Return the host state now, steal counted since ``cpu_before`` (``read_cpu_times()``)."""
    from devices.fingerprint import usable_cores

    reasons = {}
    try:
        load: float | None = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = None
        reasons["loadavg_1m"] = "os.getloadavg() is not available here"
    steal = steal_fraction(cpu_before, read_cpu_times())
    if steal is None:
        reasons["steal_fraction"] = f"{PROC_STAT} is not readable here"
    freq = read_freq_mhz()
    if freq is None:
        reasons["freq_mhz"] = "neither cpufreq nor /proc/cpuinfo gives a clock here"
    return HostState(load, usable_cores(), steal, freq, reasons)
