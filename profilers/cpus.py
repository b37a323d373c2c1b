"""Threads and CPUs of the timed process: refuse oversubscription, pin to a CPU list.

More intra-op threads than usable cores only queue behind each other (and a runaway count
such as 100000 exhausts memory), so a thread count above the usable cores is refused unless
the caller insists (``oversubscribe``). Pinning (``os.sched_setaffinity``) keeps the timed
process on the CPUs named, away from what runs on the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from profilers.errors import ConfigError


def parse_cpus(text: str) -> tuple[int, ...]:
    """Parse a CPU list such as ``"0"``, ``"0,2"`` or ``"0-3,6"`` into sorted CPU numbers.

    Raises:
        ConfigError: For a malformed list, naming it and the accepted form.
    """
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                first, last = (int(v) for v in part.split("-", 1))
                if first > last:
                    raise ValueError(part)
                cpus.update(range(first, last + 1))
            else:
                cpus.add(int(part))
    except ValueError:
        cpus = set()
    if not cpus or min(cpus) < 0:
        raise ConfigError(
            f"--cpus {text!r} is not a CPU list; give numbers and ranges such as 0 or 0,2 or 0-3"
        )
    return tuple(sorted(cpus))


def allowed_cpus() -> tuple[int, ...]:
    """Return the CPUs this process may run on (all of them where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def pin_cpus(cpus: Iterable[int] | None) -> tuple[int, ...]:
    """Pin this process to ``cpus`` (None: leave it); return the CPUs it may now run on.

    Raises:
        ConfigError: If a CPU is not one this process may use, or pinning is unsupported.
    """
    if cpus is None:
        return allowed_cpus()
    wanted = tuple(sorted(set(cpus)))
    allowed = allowed_cpus()
    missing = sorted(set(wanted) - set(allowed))
    if missing:
        raise ConfigError(
            f"--cpus {','.join(map(str, wanted))}: CPU(s) {missing} are not usable here; this "
            f"process may run on {','.join(map(str, allowed))}"
        )
    if not hasattr(os, "sched_setaffinity"):
        raise ConfigError("--cpus needs os.sched_setaffinity, which this platform lacks (Linux)")
    os.sched_setaffinity(0, wanted)
    return allowed_cpus()


def check_threads(threads: int | None, cores: int, *, oversubscribe: bool = False) -> None:
    """Refuse more threads than ``cores`` unless ``oversubscribe``.

    Raises:
        ConfigError: One line naming the count, the usable cores and how to insist.
    """
    if threads is None or oversubscribe or threads <= cores:
        return
    raise ConfigError(
        f"--threads {threads} is more than the {cores} usable core(s) here; pass at most "
        f"--threads {cores}, or add --oversubscribe to insist"
    )
