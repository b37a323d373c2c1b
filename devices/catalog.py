"""The device catalog: built-in literature devices, this machine, and the user's own devices.

Three sources, looked up by name:

- **built-in**: one TOML file per device setting of the published latency tables shipped in
  ``hwnas/data`` (``devices/catalog/*.toml``). They are ``reach = "table"``: their latencies
  are known, but nothing can be run on them.
- **local**: the name ``"local"`` is this machine, detected when asked for
  (``local_device()``).
- **user**: every ``*.toml`` in the user's device folder (``$HWNAS_DEVICES_DIR``, else
  ``$XDG_CONFIG_HOME/hwnas/devices``, else ``~/.config/hwnas/devices``), plus files named
  explicitly (``--device-file``). A file holds one device (top-level keys) or several
  (``[[devices]]`` tables).
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devices.description import Device, DeviceError, local_device, read_toml

LOCAL = "local"
USER_DIR_ENV = "HWNAS_DEVICES_DIR"
BUILTIN = "built-in"


class UnknownDeviceError(DeviceError, LookupError):
    """No device of that name is in the catalog."""


@dataclass(frozen=True)
class CatalogEntry:
    """A device and where its description came from (``"built-in"``, ``"local"`` or a path)."""

    device: Device
    origin: str


def user_devices_dir() -> Path:
    """Return the folder of the user's device descriptions (it need not exist)."""
    if os.environ.get(USER_DIR_ENV):
        return Path(os.environ[USER_DIR_ENV]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "hwnas" / "devices"


def read_device_file(path: str | Path) -> list[Device]:
    """Return the devices of a TOML file: one device, or several as ``[[devices]]`` tables.

    Raises:
        DeviceError: Naming the file (and the table) that is missing, invalid or malformed.
    """
    data = read_toml(path)
    if "devices" not in data:
        return [Device.from_dict(data, source=str(path))]
    tables = data["devices"]
    others = sorted(set(data) - {"devices"})
    if others or not isinstance(tables, list) or not tables:
        raise DeviceError(
            f"{path}: a file of several devices holds only [[devices]] tables"
            + (f"; found also {others}" if others else "")
        )
    return [
        Device.from_dict(table, source=f"{path} [[devices]] #{number}")
        for number, table in enumerate(tables, start=1)
    ]


def builtin_devices() -> dict[str, Device]:
    """Return the built-in catalog: the device settings of the shipped latency tables."""
    folder = importlib.resources.files("devices") / "catalog"
    devices: dict[str, Device] = {}
    for resource in sorted(folder.iterdir(), key=lambda r: r.name):
        if resource.name.endswith(".toml"):
            with importlib.resources.as_file(resource) as path:
                device = Device.from_toml(path)
            devices[device.name] = device
    return devices


class DeviceCatalog:
    """Devices by name; ``"local"`` is detected on first use.

    Args:
        entries: The catalog's devices (built-in and user); names must be unique.
        user_dir: The user's device folder, named in errors; default ``user_devices_dir()``.
    """

    def __init__(
        self,
        entries: Iterable[CatalogEntry],
        *,
        user_dir: Path | None = None,
        skipped: Iterable[str] = (),
    ) -> None:
        self.user_dir = user_dir if user_dir is not None else user_devices_dir()
        self.skipped = tuple(skipped)
        """Errors of the user folder's files that could not be read (left out of the catalog)."""
        self._entries: dict[str, CatalogEntry] = {}
        for entry in entries:
            name = entry.device.name
            if name == LOCAL:
                raise DeviceError(
                    f"{entry.origin}: the device name 'local' means this machine; rename it"
                )
            if name in self._entries:
                raise DeviceError(
                    f"{entry.origin}: device {name!r} is already described by "
                    f"{self._entries[name].origin}; give one of them another name"
                )
            self._entries[name] = entry
        self._local: CatalogEntry | None = None

    def names(self) -> list[str]:
        """Return ``"local"`` and the catalog's device names, sorted."""
        return [LOCAL, *sorted(self._entries)]

    def entry(self, name: str) -> CatalogEntry:
        """Return the device called ``name`` and its origin.

        Raises:
            UnknownDeviceError: Naming close matches and how to add a device.
        """
        if name == LOCAL:
            if self._local is None:
                self._local = CatalogEntry(local_device(), LOCAL)
            return self._local
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        skipped = f" Left out as unreadable: {'; '.join(self.skipped)}." if self.skipped else ""
        raise UnknownDeviceError(
            f"unknown device {name!r}; {hint}known: {', '.join(self.names())}. Add one as a TOML "
            f"file in {self.user_dir} or pass --device-file (see `hwnas devices detect`).{skipped}"
        )

    def get(self, name: str) -> Device:
        """Return the device called ``name`` (see ``entry``)."""
        return self.entry(name).device

    def __iter__(self) -> Iterator[CatalogEntry]:
        """Yield every entry, ``"local"`` (detected) first, then by name."""
        for name in self.names():
            yield self.entry(name)

    def __contains__(self, name: object) -> bool:
        return name == LOCAL or name in self._entries


def load_catalog(
    files: Iterable[str | Path] = (), *, user_dir: str | Path | None = None
) -> DeviceCatalog:
    """Return the built-in devices, the user folder's devices and those of ``files``.

    Args:
        files: Further device files (``--device-file``).
        user_dir: The user's device folder; default ``user_devices_dir()``.

    Raises:
        DeviceError: If a file is invalid, or two descriptions share a name.
    """
    entries = [CatalogEntry(device, BUILTIN) for device in builtin_devices().values()]
    folder = Path(user_dir) if user_dir is not None else user_devices_dir()
    paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    explicit = [Path(f) for f in files]
    resolved = {p.resolve() for p in paths}
    paths += [p for p in explicit if p.resolve() not in resolved]
    skipped = []
    for path in paths:
        try:
            entries += [CatalogEntry(device, str(path)) for device in read_device_file(path)]
        except DeviceError as err:
            if path in explicit:
                raise  # a file the user named must be right
            # One broken file in the user's folder must not block every other device.
            warnings.warn(f"device description left out: {err}", stacklevel=2)
            skipped.append(str(err))
    return DeviceCatalog(entries, user_dir=folder, skipped=skipped)


def find_device(
    name: str | None = None,
    files: Iterable[str | Path] = (),
    *,
    user_dir: str | Path | None = None,
) -> Device:
    """Return the device to use: ``name`` from the catalog, or the single device of ``files``.

    Args:
        name: A catalog name, ``"local"`` for this machine; None takes the one device that
            ``files`` describe, or this machine when no file is given.
        files: Device files to add to the catalog.
        user_dir: The user's device folder; default ``user_devices_dir()``.

    Raises:
        UnknownDeviceError: If ``name`` is in no source.
        DeviceError: If ``name`` is None and ``files`` describe several devices.
    """
    files = [Path(f) for f in files]
    if name is None:
        if not files:
            return local_device()
        devices = [device for path in files for device in read_device_file(path)]
        if len(devices) != 1:
            names = [device.name for device in devices]
            raise DeviceError(
                f"{', '.join(map(str, files))} describe {len(devices)} devices {names}; "
                "choose one with --device NAME"
            )
        return devices[0]
    return load_catalog(files, user_dir=user_dir).get(name)
