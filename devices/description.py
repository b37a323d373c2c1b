"""Device descriptions: what a profiling target is, loaded from TOML or detected locally.

A description file looks like::

    name = "jetson-orin-nano"
    kind = "sbc"
    runtimes = ["onnxruntime", "tensorrt"]
    reach = "ssh://jetson.lan"      # optional, default "local"
    energy_meter = "jetson"         # optional

    [specs]                         # optional, free-form facts about the board
    memory_mib = 8192
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from devices.fingerprint import cpu_model, usable_cores

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEVICE_KINDS = ("cpu", "gpu", "sbc", "phone", "accelerator")

_LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_REACH_RE = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def is_label(value: Any) -> bool:
    """Whether `value` may name a device, runtime or precision in measurements.

    A label is a non-empty string of lowercase letters, digits and '_-.', starting with a
    letter or digit: safe in file names, URLs and CSV cells.
    """
    return isinstance(value, str) and _LABEL_RE.match(value) is not None


class DeviceError(ValueError):
    """A device description is missing, malformed or holds a value out of range."""


def _check_name(value: Any, what: str) -> str:
    if not is_label(value):
        raise DeviceError(
            f"{what} must be a non-empty string of lowercase letters, digits and '_-.' "
            f"starting with a letter or digit, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class Device:
    """A profiling target: what it is, which runtimes it has and how it is reached.

    Attributes:
        name: Identifier used as the device key in every measurement (e.g. ``"rpi5"``).
        kind: One of ``DEVICE_KINDS``.
        runtimes: Names of the runtimes installed on the device (e.g. ``("onnxruntime",)``).
        reach: ``"local"`` or a URL such as ``"ssh://user@host"`` saying how to reach it.
        energy_meter: Name of the energy meter on the device, or None if it has none.
        specs: Free-form, JSON-serialisable facts (cores, memory_mib, clocks, ...).
    """

    name: str
    kind: str
    runtimes: tuple[str, ...] = ()
    reach: str = "local"
    energy_meter: str | None = None
    specs: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_name(self.name, "Device name")
        if self.kind not in DEVICE_KINDS:
            raise DeviceError(
                f"Device {self.name!r}: kind must be one of {list(DEVICE_KINDS)}, got {self.kind!r}"
            )
        if isinstance(self.runtimes, str) or not isinstance(self.runtimes, (list, tuple)):
            raise DeviceError(
                f"Device {self.name!r}: runtimes must be a list of runtime names, "
                f"got {self.runtimes!r}"
            )
        runtimes = tuple(_check_name(r, f"Device {self.name!r}: runtime") for r in self.runtimes)
        object.__setattr__(self, "runtimes", runtimes)
        if not isinstance(self.reach, str) or not (
            self.reach == "local" or _REACH_RE.match(self.reach)
        ):
            raise DeviceError(
                f"Device {self.name!r}: reach must be 'local' or a URL such as "
                f"'ssh://user@host', got {self.reach!r}"
            )
        if self.energy_meter is not None:
            _check_name(self.energy_meter, f"Device {self.name!r}: energy_meter")
        if not isinstance(self.specs, Mapping):
            raise DeviceError(f"Device {self.name!r}: specs must be a table, got {self.specs!r}")
        try:
            specs = json.loads(json.dumps(dict(self.specs)))
        except (TypeError, ValueError) as exc:
            raise DeviceError(
                f"Device {self.name!r}: specs must hold only strings, numbers, booleans, "
                f"lists and tables ({exc})"
            ) from exc
        object.__setattr__(self, "specs", specs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict that ``from_dict`` turns back into this device."""
        return {
            "name": self.name,
            "kind": self.kind,
            "runtimes": list(self.runtimes),
            "reach": self.reach,
            "energy_meter": self.energy_meter,
            "specs": json.loads(json.dumps(self.specs)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "device description") -> Device:
        """Build a device from a mapping, rejecting unknown or missing keys.

        Args:
            data: Keys as in ``to_dict``; ``reach``, ``runtimes``, ``energy_meter`` and
                ``specs`` are optional.
            source: Where the mapping came from, quoted in error messages.
        """
        if not isinstance(data, Mapping):
            raise DeviceError(f"{source}: expected a table of device fields, got {data!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise DeviceError(f"{source}: unknown key(s) {unknown}; allowed keys are {known}")
        missing = [key for key in ("name", "kind") if key not in data]
        if missing:
            raise DeviceError(f"{source}: missing required key(s) {missing}")
        try:
            return cls(**dict(data))
        except DeviceError as exc:
            raise DeviceError(f"{source}: {exc}") from exc

    @classmethod
    def from_toml(cls, path: str | Path) -> Device:
        """Load a device description from a TOML file (see the module docstring)."""
        path = Path(path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError as exc:
            raise DeviceError(
                f"{path}: device description not found; check the path or write one "
                "(name, kind, runtimes, ...)"
            ) from exc
        except OSError as exc:
            raise DeviceError(f"{path}: cannot read device description ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise DeviceError(f"{path}: not valid TOML ({exc})") from exc
        return cls.from_dict(data, source=str(path))


def sanitize_name(text: str) -> str:
    """Turn arbitrary text (a hostname) into a valid device name: lowercase, ``[a-z0-9_.-]``."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-_.")
    return name


def local_device(name: str | None = None) -> Device:
    """Describe the local CPU as a device that runs onnxruntime.

    Args:
        name: Device name; default ``"local-"`` plus the sanitised hostname.
    """
    if name is None:
        host = sanitize_name(socket.gethostname())
        name = f"local-{host}" if host else "local"
    return Device(
        name=name,
        kind="cpu",
        runtimes=("onnxruntime",),
        specs={
            "cpu_model": cpu_model(),
            "cpu_logical_cores": os.cpu_count(),
            "cpu_usable_cores": usable_cores(),
        },
    )
