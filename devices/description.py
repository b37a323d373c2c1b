"""Device descriptions: what a profiling target is, loaded from TOML or detected locally.

A description file looks like::

    name = "jetson-orin-nano"
    kind = "sbc"
    runtimes = ["onnxruntime", "tensorrt"]
    reach = "ssh://nvidia@jetson.lan:22"  # optional, default "local"
    python = "/home/nvidia/venv/bin/python"  # ssh only: the board's Python with hwnas
    ssh_options = ["IdentityFile=~/.ssh/jetson"]  # ssh only: OpenSSH -o options
    energy_meter = "jetson"         # optional
    attribution = "lab bench 3"     # optional: where the description comes from

    [specs]                         # optional, free-form facts about the board
    memory_mib = 8192

``reach`` says how hwnas gets to the device:

- ``"local"``: the machine hwnas runs on;
- ``"ssh://[user@]host[:port]"``: a board reached with the system's OpenSSH client, which runs
  ``python -m profilers.remote.worker`` there;
- ``"ray"`` or ``"ray:<resource>"``: Ray nodes carrying the custom resource (default
  ``device:<name>``);
- ``"table"``: a device known only from a table of published measurements (the built-in
  catalog); nothing can be run on it.
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

REACH_KINDS = ("local", "ssh", "ray", "table")

_LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SSH_RE = re.compile(r"^ssh://(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s]+)(?::(?P<port>\d+))?/?$")
_RAY_RE = re.compile(r"^ray(?::(?P<resource>\S+))?$")
_SSH_OPTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*[= ]\S.*$")
_REACH_HELP = (
    "'local', 'ssh://[user@]host[:port]', 'ray', 'ray:<resource>' or 'table' (a device known "
    "only from published measurements)"
)


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
        reach: How to reach it (see the module docstring): ``"local"``,
            ``"ssh://[user@]host[:port]"``, ``"ray"``, ``"ray:<resource>"`` or ``"table"``.
        energy_meter: Name of the energy meter on the device, or None if it has none.
        specs: Free-form, JSON-serialisable facts (cores, memory_mib, clocks, ...); a fact
            nobody knows is absent, never guessed.
        python: For ssh devices, the interpreter on the board whose environment has hwnas
            installed (default ``"python3"`` on the board's PATH).
        ssh_options: For ssh devices, OpenSSH options passed as ``-o OPTION``, e.g.
            ``"IdentityFile=~/.ssh/board"`` or ``"UserKnownHostsFile=/path"``.
        attribution: Where the description (or its measurements) comes from, e.g. a citation.
    """

    name: str
    kind: str
    runtimes: tuple[str, ...] = ()
    reach: str = "local"
    energy_meter: str | None = None
    specs: dict[str, Any] = field(default_factory=dict, hash=False)
    python: str | None = None
    ssh_options: tuple[str, ...] = ()
    attribution: str | None = None

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
            self.reach in ("local", "table")
            or _SSH_RE.match(self.reach)
            or _RAY_RE.match(self.reach)
        ):
            raise DeviceError(
                f"Device {self.name!r}: reach must be {_REACH_HELP}, got {self.reach!r}"
            )
        ssh = _SSH_RE.match(self.reach)
        if ssh and ssh["port"] is not None and not 1 <= int(ssh["port"]) <= 65535:
            raise DeviceError(
                f"Device {self.name!r}: the port in reach {self.reach!r} must be 1..65535"
            )
        self._check_remote_fields()
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
        if self.attribution is not None and (
            not isinstance(self.attribution, str) or not self.attribution
        ):
            raise DeviceError(
                f"Device {self.name!r}: attribution must be a non-empty string, "
                f"got {self.attribution!r}"
            )

    def _check_remote_fields(self) -> None:
        if self.python is not None and (
            not isinstance(self.python, str) or not self.python.strip() or "\n" in self.python
        ):
            raise DeviceError(
                f"Device {self.name!r}: python must be the path or name of the board's Python "
                f"interpreter, e.g. '/home/pi/venv/bin/python', got {self.python!r}"
            )
        if isinstance(self.ssh_options, str) or not isinstance(self.ssh_options, (list, tuple)):
            raise DeviceError(
                f"Device {self.name!r}: ssh_options must be a list of OpenSSH options such as "
                f"['IdentityFile=~/.ssh/board'], got {self.ssh_options!r}"
            )
        for option in self.ssh_options:
            if not isinstance(option, str) or not _SSH_OPTION_RE.match(option):
                raise DeviceError(
                    f"Device {self.name!r}: ssh option {option!r} is not of the form "
                    "'Name=value' (see `man ssh_config`)"
                )
        object.__setattr__(self, "ssh_options", tuple(self.ssh_options))
        given = [n for n in ("python", "ssh_options") if getattr(self, n)]
        if given and self.reach_kind != "ssh":
            raise DeviceError(
                f"Device {self.name!r}: {given} only apply to devices reached over ssh, and "
                f"reach is {self.reach!r}; remove them or set reach = 'ssh://user@host'"
            )

    @property
    def reach_kind(self) -> str:
        """Return how the device is reached: one of ``REACH_KINDS``."""
        if self.reach.startswith("ssh://"):
            return "ssh"
        if _RAY_RE.match(self.reach):
            return "ray"
        return self.reach

    @property
    def runnable(self) -> bool:
        """Whether hwnas can run models on the device (every reach but ``"table"``)."""
        return self.reach != "table"

    def require_runnable(self, why: str) -> None:
        """Refuse a device known only from published tables; `why` ends the message.

        Args:
            why: What cannot be done there and what to do instead, e.g. ``"it cannot be
                profiled. Profile 'local' or a board you can reach"``.

        Raises:
            DeviceError: naming the device, its reach and `why`.
        """
        if not self.runnable:
            raise DeviceError(
                f"device {self.name!r} is known only from published measurement tables "
                f"(reach = {self.reach!r}): {why}"
            )

    def require_runtime(self, runtime: str, why: str) -> None:
        """Refuse a device whose description does not list `runtime`; `why` ends the message.

        Raises:
            DeviceError: naming the device, its runtimes, `runtime` and `why`.
        """
        if runtime not in self.runtimes:
            raise DeviceError(
                f"device {self.name!r} lists the runtimes {list(self.runtimes)}, not "
                f"{runtime!r}, {why}"
            )

    def require_local(self, why: str) -> None:
        """Refuse a device this process does not run on (any reach but ``"local"``).

        Raises:
            DeviceError: naming the device, its reach and `why`.
        """
        if self.reach != "local":
            raise DeviceError(f"device {self.name!r} is reached at {self.reach}; {why}")

    def ssh_destination(self) -> tuple[str, int | None]:
        """Return ``([user@]host, port)`` of an ssh device; port None means ssh's default.

        Raises:
            DeviceError: If the device is not reached over ssh.
        """
        match = _SSH_RE.match(self.reach)
        if match is None:
            raise DeviceError(f"Device {self.name!r} is reached by {self.reach!r}, not ssh")
        host = match["host"] if match["user"] is None else f"{match['user']}@{match['host']}"
        return host, None if match["port"] is None else int(match["port"])

    @property
    def ray_resource(self) -> str:
        """Return the Ray custom resource a node must carry to run this device's tasks.

        Raises:
            DeviceError: If the device is not reached through Ray.
        """
        match = _RAY_RE.match(self.reach)
        if match is None:
            raise DeviceError(f"Device {self.name!r} is reached by {self.reach!r}, not Ray")
        return match["resource"] or f"device:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict that ``from_dict`` turns back into this device."""
        return {
            "name": self.name,
            "kind": self.kind,
            "runtimes": list(self.runtimes),
            "reach": self.reach,
            "energy_meter": self.energy_meter,
            "specs": json.loads(json.dumps(self.specs)),
            "python": self.python,
            "ssh_options": list(self.ssh_options),
            "attribution": self.attribution,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "device description") -> Device:
        """Build a device from a mapping, rejecting unknown or missing keys.

        Args:
            data: Keys as in ``to_dict``; all but ``name`` and ``kind`` are optional.
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
        return cls.from_dict(read_toml(path), source=str(path))

    def to_toml(self) -> str:
        """Return the description as TOML text that ``from_toml`` reads back.

        Fields that hold their default (None, empty) are left out.
        """
        import tomli_w

        data = {k: v for k, v in self.to_dict().items() if v not in (None, [], {})}
        return tomli_w.dumps(data)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Return the table of a TOML file, with errors naming the file and what to do.

    Raises:
        DeviceError: If the file is missing, unreadable or not valid TOML (with its line).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise DeviceError(
            f"{path}: device description not found; check the path or write one "
            "(name, kind, runtimes, ...)"
        ) from exc
    except OSError as exc:
        raise DeviceError(f"{path}: cannot read device description ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DeviceError(f"{path}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DeviceError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); a device description is "
            "a TOML text file"
        ) from exc


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
