"""The device checks every job uses (`Device.require_*`): each refuses with the device's name."""

import pytest

from devices import Device, DeviceError


def test_a_table_device_is_not_runnable():
    table = Device(name="pixel3", kind="phone", runtimes=("onnxruntime",), reach="table")
    with pytest.raises(DeviceError, match=r"'pixel3' is known only from .*'table'\): no way"):
        table.require_runnable("no way")
    Device(name="here", kind="cpu", runtimes=("onnxruntime",)).require_runnable("unused")


def test_a_missing_runtime_is_named():
    device = Device(name="pi", kind="sbc", runtimes=("torch",))
    with pytest.raises(DeviceError, match=r"runtimes \['torch'\], not 'onnxruntime', add it"):
        device.require_runtime("onnxruntime", "add it")
    device.require_runtime("torch", "unused")


def test_a_remote_device_is_not_local():
    board = Device(name="pi", kind="sbc", runtimes=("onnxruntime",), reach="ssh://pi@board")
    with pytest.raises(DeviceError, match=r"'pi' is reached at ssh://pi@board; run it there"):
        board.require_local("run it there")
    Device(name="here", kind="cpu", runtimes=("onnxruntime",)).require_local("unused")
