"""Energy meters: a registry, discovery at run time, and energy per inference.

``discover_meter()`` tries the hardware meters (NVML, Jetson rails, RAPL) in turn and returns
the first that can read here, or a ``NullMeter`` carrying every meter's reason. External meters
(``external``: a callable, ``csv-log``: a logger's CSV) are made with ``create_meter``. No
vendor library is imported until a meter is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from devices.description import is_label
from profilers.energy.base import (
    CounterMeter,
    EnergyMeter,
    EnergyMeterError,
    EnergyReading,
    MeterUnavailableError,
    NullMeter,
)
from profilers.energy.measure import (
    EnergyConfig,
    EnergyResult,
    energy_per_inference,
    measure_energy,
)

_METERS: dict[str, type[EnergyMeter]] = {}

M = TypeVar("M", bound=type[EnergyMeter])

DISCOVERY_ORDER = ("nvml", "jetson", "rapl")


class UnknownMeterError(EnergyMeterError, LookupError):
    """An energy meter name is not in the registry."""


def register_meter(name: str) -> Callable[[M], M]:
    """Class decorator registering an ``EnergyMeter`` subclass under ``name``."""
    if not is_label(name):
        raise ValueError(f"meter name must be lowercase letters, digits and '_-.', got {name!r}")

    def decorator(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, EnergyMeter)):
            raise TypeError(f"@register_meter({name!r}) decorates EnergyMeter subclasses")
        existing = _METERS.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"energy meter {name!r} is already registered by {existing!r}")
        cls.name = name
        _METERS[name] = cls
        return cls

    return decorator


def create_meter(name: str, **kwargs: Any) -> EnergyMeter:
    """Make the meter registered under ``name``.

    Raises:
        UnknownMeterError: If no meter has that name; the message lists the known ones.
        MeterUnavailableError: If that meter cannot read here; the message says why.
    """
    try:
        cls = _METERS[name]
    except KeyError:
        raise UnknownMeterError(
            f"unknown energy meter {name!r}; known meters: {', '.join(list_meters())}"
        ) from None
    return cls(**kwargs)


def list_meters() -> list[str]:
    """Return the registered meter names, sorted."""
    return sorted(_METERS)


def discover_meter(order: Sequence[str] = DISCOVERY_ORDER) -> EnergyMeter:
    """Return the first meter in ``order`` that can read here, else a ``NullMeter``.

    The ``NullMeter``'s reason lists why each meter was refused, e.g.
    ``"nvml: pynvml is not installed ...; rapl: no /sys/class/powercap ..."``.
    """
    reasons = []
    for name in order:
        if name in _METERS and not _METERS[name].discoverable:
            raise ValueError(f"energy meter {name!r} needs arguments; make it with create_meter")
        try:
            return create_meter(name)
        except MeterUnavailableError as exc:
            reasons.append(f"{name}: {exc}")
    return NullMeter("no energy meter here (" + "; ".join(reasons) + ")")


def open_meter(name: str | None = None, **kwargs: Any) -> EnergyMeter:
    """Return the meter a device description names, or a ``NullMeter`` saying why there is none.

    Args:
        name: A registered meter name; None discovers one (``discover_meter``); ``"none"``
            switches energy off.
        **kwargs: Arguments of the named meter.

    Raises:
        UnknownMeterError: If ``name`` is not a registered meter (a typo is not a missing meter).
    """
    if name is None:
        return discover_meter()
    if name == NullMeter.name:
        return NullMeter("energy measurement switched off (energy meter 'none')")
    try:
        return create_meter(name, **kwargs)
    except MeterUnavailableError as exc:
        return NullMeter(f"{name}: {exc}")


# Built-in meters register themselves on import (their vendor imports stay lazy).
from profilers.energy import external as _external  # noqa: E402, F401
from profilers.energy import jetson as _jetson  # noqa: E402, F401
from profilers.energy import nvml as _nvml  # noqa: E402, F401
from profilers.energy import rapl as _rapl  # noqa: E402, F401

__all__ = [
    "DISCOVERY_ORDER",
    "CounterMeter",
    "EnergyConfig",
    "EnergyMeter",
    "EnergyMeterError",
    "EnergyReading",
    "EnergyResult",
    "MeterUnavailableError",
    "NullMeter",
    "UnknownMeterError",
    "create_meter",
    "discover_meter",
    "energy_per_inference",
    "list_meters",
    "measure_energy",
    "open_meter",
    "register_meter",
]
