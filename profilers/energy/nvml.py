"""NVIDIA GPUs: NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``).

The counter gives the energy in mJ the GPU consumed since the driver was loaded; it exists on
Volta and newer GPUs and is refreshed about every 100 ms, so windows last at least 1 s (the
method of Zeus, ``zeus/device/gpu/nvidia.py``). NVML comes from ``nvidia-ml-py``
(``import pynvml``), imported when a meter is made.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from profilers.energy import register_meter
from profilers.energy.base import CounterMeter, EnergyMeterError, MeterUnavailableError

NVML_UPDATE_PERIOD_S = 0.1


def _import_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError as exc:
        raise MeterUnavailableError(
            f"NVML energy needs pynvml ({exc}); install it with `pip install nvidia-ml-py`"
        ) from exc
    return pynvml


def _decode(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


@register_meter("nvml")
class NvmlMeter(CounterMeter):
    """Energy of one NVIDIA GPU from NVML's total-energy counter.

    Args:
        index: NVML index of the GPU (``nvidia-smi`` order, which may differ from CUDA's
            unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``).

    Raises:
        MeterUnavailableError: If pynvml or the driver is missing, there is no GPU ``index``,
            or the GPU has no energy counter (older than Volta).
    """

    discoverable = True
    update_period_s = NVML_UPDATE_PERIOD_S

    def __init__(self, index: int = 0) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"NvmlMeter: index must be an integer >= 0, got {index!r}")
        self.index = index
        self._pynvml = pynvml = _import_pynvml()
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise MeterUnavailableError(
                f"NVML cannot start ({exc}): no NVIDIA driver here (check `nvidia-smi`)"
            ) from exc
        self._open = True
        try:
            count = pynvml.nvmlDeviceGetCount()
            if index >= count:
                raise MeterUnavailableError(f"NVML sees {count} GPU(s), there is no GPU {index}")
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.gpu_name = _decode(pynvml.nvmlDeviceGetName(self._handle))
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except pynvml.NVMLError_NotSupported as exc:
            self.close()
            raise MeterUnavailableError(
                f"GPU {index} has no NVML energy counter ({exc}); it needs Volta or newer"
            ) from exc
        except pynvml.NVMLError as exc:
            self.close()
            raise MeterUnavailableError(f"NVML cannot read GPU {index} ({exc})") from exc
        except MeterUnavailableError:
            self.close()
            raise

    def read_counters_mj(self) -> dict[str, float]:
        """Return the GPU's total energy since the driver loaded, in mJ."""
        if not self._open:
            raise EnergyMeterError("NvmlMeter is closed; make a new one")
        try:
            value = self._pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except self._pynvml.NVMLError as exc:
            raise EnergyMeterError(
                f"NVML failed to read GPU {self.index}'s energy ({exc})"
            ) from exc
        return {f"gpu{self.index}": float(value)}

    def describe(self) -> dict[str, Any]:
        """Return the meter, GPU index and name, and the counter's update period."""
        return {
            "meter": self.name,
            "gpu_index": self.index,
            "gpu_name": self.gpu_name,
            "counter": "nvmlDeviceGetTotalEnergyConsumption",
            "update_period_s": self.update_period_s,
        }

    def close(self) -> None:
        """Shut NVML down (it counts its users). Idempotent."""
        if getattr(self, "_open", False):
            self._open = False
            self._pynvml.nvmlShutdown()

    def __repr__(self) -> str:
        return f"NvmlMeter(index={self.index})"
