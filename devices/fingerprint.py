"""Fingerprint of the local machine: what a measurement was taken on.

Every measurement stores the fingerprint of its run, so that a latency can later be traced to
the CPU, core count, frequency governor, kernel and library versions that produced it. Nothing
here imports the libraries it reports on: versions come from installed package metadata. GPUs
are read through NVML (``pynvml``, from ``nvidia-ml-py``), imported only when a fingerprint is
taken, or through ``torch.cuda`` where torch is already imported.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
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
        "gpu": gpu_fingerprint(),
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


def gpu_fingerprint() -> dict[str, Any]:
    """Describe the local NVIDIA GPUs: driver, and per GPU name, clocks, temperature, power limit.

    Returns:
        ``{"source": "nvml" | "torch.cuda" | None, "driver": str | None, "gpus": [...] | None,
        "reason": str | None}``. Each GPU is a dict of ``index``, ``name``, ``sm_clock_mhz``,
        ``memory_clock_mhz``, ``max_sm_clock_mhz``, ``temperature_c`` and ``power_limit_w``;
        a value NVML refuses to give is None. ``gpus`` is None, with ``reason`` saying why,
        where no GPU can be read.
    """
    nvml = _nvml_fingerprint()
    if nvml["gpus"] is not None or "torch" not in sys.modules:
        return nvml
    torch_info = _torch_cuda_fingerprint(sys.modules["torch"])
    if torch_info["gpus"] is None:
        torch_info["reason"] = f"{nvml['reason']}; {torch_info['reason']}"
    return torch_info


def _no_gpu(source: str | None, reason: str) -> dict[str, Any]:
    return {"source": source, "driver": None, "gpus": None, "reason": reason}


def _nvml_fingerprint() -> dict[str, Any]:
    try:
        import pynvml
    except ImportError:
        return _no_gpu(None, "pynvml is not installed (pip install nvidia-ml-py)")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return _no_gpu("nvml", f"NVML cannot start ({exc}): no NVIDIA driver here")
    try:
        driver = _nvml_value(pynvml, pynvml.nvmlSystemGetDriverVersion)
        count = pynvml.nvmlDeviceGetCount()
        gpus = [_nvml_gpu(pynvml, index) for index in range(count)]
    except pynvml.NVMLError as exc:
        return _no_gpu("nvml", f"NVML cannot list the GPUs ({exc})")
    finally:
        pynvml.nvmlShutdown()
    if not gpus:
        return _no_gpu("nvml", "NVML sees no GPU")
    return {"source": "nvml", "driver": driver, "gpus": gpus, "reason": None}


def _nvml_gpu(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    power_limit_mw = _nvml_value(pynvml, pynvml.nvmlDeviceGetPowerManagementLimit, handle)
    return {
        "index": index,
        "name": _nvml_value(pynvml, pynvml.nvmlDeviceGetName, handle),
        "sm_clock_mhz": _nvml_value(
            pynvml, pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM
        ),
        "memory_clock_mhz": _nvml_value(
            pynvml, pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_MEM
        ),
        "max_sm_clock_mhz": _nvml_value(
            pynvml, pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_SM
        ),
        "temperature_c": _nvml_value(
            pynvml, pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU
        ),
        "power_limit_w": None if power_limit_mw is None else power_limit_mw / 1000.0,
    }


def _nvml_value(pynvml: Any, query: Any, *args: Any) -> Any:
    """Return ``query(*args)`` as JSON data (bytes decoded), or None where NVML refuses it."""
    try:
        value = query(*args)
    except pynvml.NVMLError:
        return None
    return value.decode() if isinstance(value, bytes) else value


def _torch_cuda_fingerprint(torch: Any) -> dict[str, Any]:
    try:
        available = bool(torch.cuda.is_available())
    except Exception as exc:  # a broken CUDA install raises its own error types
        return _no_gpu("torch.cuda", f"torch.cuda fails ({type(exc).__name__}: {exc})")
    if not available:
        return _no_gpu("torch.cuda", f"torch {torch.__version__} sees no CUDA GPU")
    gpus = [
        {
            "index": index,
            "name": torch.cuda.get_device_name(index),
            "sm_clock_mhz": None,
            "memory_clock_mhz": None,
            "max_sm_clock_mhz": None,
            "temperature_c": None,
            "power_limit_w": None,
        }
        for index in range(torch.cuda.device_count())
    ]
    return {
        "source": "torch.cuda",
        "driver": None,
        "gpus": gpus,
        "reason": "clocks, temperature and driver need NVML (pip install nvidia-ml-py)",
    }


def _read_text(path: Path) -> str | None:
    """Return the stripped text of a small system file, or None if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    return text or None
