"""NVML meter and GPU fingerprint against autospec mocks of the real pynvml module."""

import json
from unittest import mock

import pytest

pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")

from devices.fingerprint import gpu_fingerprint  # noqa: E402
from profilers.energy import (  # noqa: E402
    EnergyMeterError,
    MeterUnavailableError,
    create_meter,
    discover_meter,
)
from profilers.energy.nvml import NvmlMeter  # noqa: E402

NVML_CALLS = (
    "nvmlInit",
    "nvmlShutdown",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetName",
    "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlSystemGetDriverVersion",
    "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetMaxClockInfo",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetPowerManagementLimit",
)


@pytest.fixture
def nvml():
    """Patch pynvml's functions with autospec mocks of one A100 whose counter reads 1e6 mJ."""
    patches = {name: mock.patch(f"pynvml.{name}", autospec=True) for name in NVML_CALLS}
    mocks = {name: patch.start() for name, patch in patches.items()}
    mocks["nvmlDeviceGetCount"].return_value = 1
    mocks["nvmlDeviceGetHandleByIndex"].return_value = "handle0"
    mocks["nvmlDeviceGetName"].return_value = "NVIDIA A100-SXM4-40GB"
    mocks["nvmlDeviceGetTotalEnergyConsumption"].return_value = 1_000_000
    mocks["nvmlSystemGetDriverVersion"].return_value = "550.54.15"
    mocks["nvmlDeviceGetClockInfo"].side_effect = lambda handle, kind: {
        pynvml.NVML_CLOCK_SM: 1410,
        pynvml.NVML_CLOCK_MEM: 1215,
    }[kind]
    mocks["nvmlDeviceGetMaxClockInfo"].return_value = 1410
    mocks["nvmlDeviceGetTemperature"].return_value = 41
    mocks["nvmlDeviceGetPowerManagementLimit"].return_value = 400_000
    yield mocks
    mock.patch.stopall()


def nvml_error(code):
    return pynvml.NVMLError(code)  # NVMLError maps the code to its subclass


def test_window_is_the_counter_difference(nvml):
    meter = create_meter("nvml")
    assert isinstance(meter, NvmlMeter) and meter.update_period_s == 0.1
    assert meter.gpu_name == "NVIDIA A100-SXM4-40GB"
    meter.start()
    nvml["nvmlDeviceGetTotalEnergyConsumption"].return_value = 1_000_000 + 250_000
    reading = meter.stop()
    assert reading.energy_mj == 250_000.0 and reading.domains_mj == {"gpu0": 250_000.0}
    nvml["nvmlDeviceGetTotalEnergyConsumption"].assert_called_with("handle0")
    nvml["nvmlDeviceGetHandleByIndex"].assert_called_once_with(0)
    assert json.loads(json.dumps(meter.describe()))["counter"] == (
        "nvmlDeviceGetTotalEnergyConsumption"
    )
    meter.close()
    meter.close()  # idempotent: NVML shut down once
    nvml["nvmlShutdown"].assert_called_once_with()
    with pytest.raises(EnergyMeterError, match="closed"):
        meter.read_counters_mj()


def test_pre_volta_gpu_has_no_counter(nvml):
    nvml["nvmlDeviceGetTotalEnergyConsumption"].side_effect = nvml_error(
        pynvml.NVML_ERROR_NOT_SUPPORTED
    )
    with pytest.raises(MeterUnavailableError, match="Volta"):
        NvmlMeter()
    nvml["nvmlShutdown"].assert_called_once_with()


def test_no_driver_and_no_such_gpu(nvml):
    nvml["nvmlInit"].side_effect = nvml_error(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    with pytest.raises(MeterUnavailableError, match="no NVIDIA driver"):
        NvmlMeter()
    nvml["nvmlInit"].side_effect = None
    with pytest.raises(MeterUnavailableError, match="no GPU 3"):
        NvmlMeter(index=3)


def test_read_failure_mid_window_is_an_energy_error(nvml):
    meter = NvmlMeter()
    meter.start()
    nvml["nvmlDeviceGetTotalEnergyConsumption"].side_effect = nvml_error(
        pynvml.NVML_ERROR_GPU_IS_LOST
    )
    with pytest.raises(EnergyMeterError, match="GPU 0"):
        meter.stop()


def test_discovery_prefers_nvml(nvml):
    meter = discover_meter()
    assert isinstance(meter, NvmlMeter)
    meter.close()


def test_gpu_fingerprint_from_nvml(nvml):
    fp = gpu_fingerprint()
    assert fp["source"] == "nvml" and fp["driver"] == "550.54.15" and fp["reason"] is None
    assert fp["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA A100-SXM4-40GB",
            "sm_clock_mhz": 1410,
            "memory_clock_mhz": 1215,
            "max_sm_clock_mhz": 1410,
            "temperature_c": 41,
            "power_limit_w": 400.0,
        }
    ]
    nvml["nvmlShutdown"].assert_called_once_with()


def test_gpu_fingerprint_unreadable_values_are_none(nvml):
    nvml["nvmlDeviceGetTemperature"].side_effect = nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
    nvml["nvmlDeviceGetPowerManagementLimit"].side_effect = nvml_error(
        pynvml.NVML_ERROR_NO_PERMISSION
    )
    (gpu,) = gpu_fingerprint()["gpus"]
    assert gpu["temperature_c"] is None and gpu["power_limit_w"] is None
    assert gpu["sm_clock_mhz"] == 1410


def test_gpu_fingerprint_without_driver_says_why(nvml, monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "torch", raising=False)  # no torch.cuda fallback
    nvml["nvmlInit"].side_effect = nvml_error(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    fp = gpu_fingerprint()
    assert fp["gpus"] is None and "no NVIDIA driver" in fp["reason"]


def test_gpu_fingerprint_without_pynvml(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    fp = gpu_fingerprint()
    assert fp["gpus"] is None and "pip install nvidia-ml-py" in fp["reason"]
    with pytest.raises(MeterUnavailableError, match="nvidia-ml-py"):
        NvmlMeter()


def test_gpu_fingerprint_falls_back_to_an_imported_torch(nvml, monkeypatch):
    import sys
    from types import SimpleNamespace

    cuda = SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 1, get_device_name=lambda i: "Orin"
    )
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="2.9", cuda=cuda))
    nvml["nvmlInit"].side_effect = nvml_error(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    fp = gpu_fingerprint()
    assert fp["source"] == "torch.cuda" and fp["gpus"][0]["name"] == "Orin"
    assert fp["gpus"][0]["temperature_c"] is None and "need NVML" in fp["reason"]
