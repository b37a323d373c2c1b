"""What a target is: device descriptions (TOML), local detection and host fingerprints."""

from devices.description import (
    DEVICE_KINDS,
    Device,
    DeviceError,
    is_label,
    local_device,
    sanitize_name,
)
from devices.fingerprint import cpu_governor, cpu_model, host_fingerprint, usable_cores

__all__ = [
    "DEVICE_KINDS",
    "Device",
    "DeviceError",
    "cpu_governor",
    "cpu_model",
    "host_fingerprint",
    "is_label",
    "local_device",
    "sanitize_name",
    "usable_cores",
]
