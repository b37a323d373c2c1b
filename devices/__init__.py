"""What a target is: device descriptions (TOML), local detection and host fingerprints."""

from devices.catalog import (
    DeviceCatalog,
    UnknownDeviceError,
    builtin_devices,
    find_device,
    load_catalog,
    read_device_file,
    user_devices_dir,
)
from devices.description import (
    DEVICE_KINDS,
    REACH_KINDS,
    Device,
    DeviceError,
    is_label,
    local_device,
    sanitize_name,
)
from devices.fingerprint import cpu_governor, cpu_model, host_fingerprint, usable_cores

__all__ = [
    "DEVICE_KINDS",
    "REACH_KINDS",
    "Device",
    "DeviceCatalog",
    "DeviceError",
    "UnknownDeviceError",
    "builtin_devices",
    "find_device",
    "load_catalog",
    "read_device_file",
    "user_devices_dir",
    "cpu_governor",
    "cpu_model",
    "host_fingerprint",
    "is_label",
    "local_device",
    "sanitize_name",
    "usable_cores",
]
