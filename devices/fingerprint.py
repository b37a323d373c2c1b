"""Fingerprint of the local machine: what a measurement was taken on.

Every measurement stores the fingerprint of its run, so that a latency can later be traced to
the CPU, core count, frequency governor, kernel and library versions that produced it. Nothing
here imports the libraries it reports on: versions come from installed package metadata.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

# Files read for the fingerprint; module constants so tests can point them elsewhere.
CPUINFO_PATH = Path("/proc/cpuinfo")
GOVERNOR_PATH = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")

# Import name -> distribution names that provide it, tried in order (GPU builds ship under
# another distribution name but the same import name).
TRACKED_PACKAGES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "torch": ("torch",),
    "onnx": ("onnx",),
    "onnxruntime": (
        "onnxruntime",
        "onnxruntime-gpu",
        "onnxruntime-directml",
        "onnxruntime-openvino",
        "onnxruntime-silicon",
    ),
}

# /proc/cpuinfo keys that name the CPU, most specific first: x86 ("model name"),
# Raspberry Pi and other boards ("Model", "Hardware"), MIPS ("cpu model"), older ARM
# ("Processor").
_CPUINFO_MODEL_KEYS = ("model name", "Model", "Hardware", "cpu model", "Processor")


def parse_cpu_model(cpuinfo_text: str) -> str | None:
    """Return the CPU model named in the text of ``/proc/cpuinfo``, or None if none is named."""
    fields: dict[str, str] = {}
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if sep and value and key not in fields:
            fields[key] = value
    for key in _CPUINFO_MODEL_KEYS:
        if key in fields:
            return fields[key]
    return None


def cpu_model() -> str | None:
    """Return the local CPU model, from ``/proc/cpuinfo`` where readable, else ``platform``."""
    text = _read_text(CPUINFO_PATH)
    model = parse_cpu_model(text) if text is not None else None
    return model or platform.processor() or platform.machine() or None


def usable_cores() -> int:
    """Return the number of logical cores this process may run on (its CPU affinity)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_governor() -> str | None:
    """Return the cpufreq scaling governor of cpu0, or None where the kernel does not expose it."""
    return _read_text(GOVERNOR_PATH)


def package_version(import_name: str, distributions: tuple[str, ...] | None = None) -> str | None:
    """Return the installed version of a package without importing it, or None if absent."""
    for dist in distributions or (import_name,):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def host_fingerprint(**extra: Any) -> dict[str, Any]:
    """Describe the local machine as a JSON-serialisable dict.

    Args:
        **extra: Further JSON-serialisable facts to record (clocks, driver, ...). They may not
            replace a key the fingerprint already measures.

    Raises:
        ValueError: If an extra key collides with a measured one.
        TypeError: If an extra value is not JSON-serialisable.
    """
    fingerprint: dict[str, Any] = {
        "hostname": platform.node() or None,
        "cpu_model": cpu_model(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_usable_cores": usable_cores(),
        "cpu_governor": cpu_governor(),
        "machine": platform.machine() or None,
        "os": platform.system() or None,
        "kernel": platform.release() or None,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {
            name: package_version(name, dists) for name, dists in TRACKED_PACKAGES.items()
        },
    }
    clashes = sorted(set(extra) & set(fingerprint))
    if clashes:
        raise ValueError(
            f"host_fingerprint(): extra keys {clashes} would replace measured facts; "
            "pass them under other names"
        )
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"host_fingerprint(): extra values must be JSON-serialisable ({exc}); "
            "convert them to str, int, float, bool, list or dict first"
        ) from exc
    fingerprint.update(extra)
    return fingerprint


def _read_text(path: Path) -> str | None:
    """Return the stripped text of a small system file, or None if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    return text or None
