"""Device descriptions: validation, TOML loading with actionable errors, local detection."""

import json
import socket

import pytest

from devices import DEVICE_KINDS, Device, DeviceError, local_device, sanitize_name

JETSON_TOML = """\
name = "jetson-orin-nano"
kind = "sbc"
runtimes = ["onnxruntime", "tensorrt"]
reach = "ssh://nvidia@jetson.lan"
energy_meter = "jetson"

[specs]
memory_mib = 8192
gpu = "Ampere, 1024 CUDA cores"
"""


def write(tmp_path, text, name="device.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_from_toml_reads_every_field(tmp_path):
    device = Device.from_toml(write(tmp_path, JETSON_TOML))
    assert device == Device(
        name="jetson-orin-nano",
        kind="sbc",
        runtimes=("onnxruntime", "tensorrt"),
        reach="ssh://nvidia@jetson.lan",
        energy_meter="jetson",
        specs={"memory_mib": 8192, "gpu": "Ampere, 1024 CUDA cores"},
    )
    assert isinstance(device.runtimes, tuple)


def test_optional_fields_default(tmp_path):
    device = Device.from_toml(write(tmp_path, 'name = "rpi5"\nkind = "sbc"\n'))
    assert (device.runtimes, device.reach, device.energy_meter, device.specs) == (
        (),
        "local",
        None,
        {},
    )


def test_to_dict_from_dict_round_trip_through_json(tmp_path):
    device = Device.from_toml(write(tmp_path, JETSON_TOML))
    data = json.loads(json.dumps(device.to_dict()))
    assert Device.from_dict(data) == device
    assert hash(Device.from_dict(data)) == hash(device)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "Jetson"\nkind = "sbc"\n', "'Jetson'"),
        ('name = "a b"\nkind = "sbc"\n', "'a b'"),
        ('name = "x"\nkind = "fpga"\n', "'fpga'"),
        ('name = "x"\nkind = "cpu"\nruntimes = "onnxruntime"\n', "runtimes"),
        ('name = "x"\nkind = "cpu"\nruntimes = ["ONNX"]\n', "'ONNX'"),
        ('name = "x"\nkind = "cpu"\nreach = "jetson.lan"\n', "'jetson.lan'"),
        ('name = "x"\nkind = "cpu"\nenergy_meter = 3\n', "energy_meter"),
        ('name = "x"\nkind = "cpu"\nspecs = 4\n', "specs"),
        ('name = "x"\nkind = "cpu"\ncolour = "red"\n', "['colour']"),
        ('kind = "cpu"\n', "['name']"),
        ('name = "x"\nkind = "cpu"\n[specs]\nbuilt = 1979-05-27T07:32:00Z\n', "specs"),
    ],
)
def test_bad_description_names_file_and_value(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(DeviceError) as info:
        Device.from_toml(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


def test_invalid_toml_names_file_and_line(tmp_path):
    path = write(tmp_path, 'name = "x"\nkind = \n')
    with pytest.raises(DeviceError, match="not valid TOML") as info:
        Device.from_toml(path)
    assert str(path) in str(info.value) and "line 2" in str(info.value)


def test_missing_file_is_a_device_error(tmp_path):
    with pytest.raises(DeviceError, match="not found"):
        Device.from_toml(tmp_path / "absent.toml")


def test_kinds_and_list_runtimes_are_accepted():
    for kind in DEVICE_KINDS:
        assert Device(name="d", kind=kind, runtimes=["onnxruntime"]).runtimes == ("onnxruntime",)


def test_specs_are_copied_not_shared():
    specs = {"cores": 4}
    device = Device(name="d", kind="cpu", specs=specs)
    specs["cores"] = 8
    assert device.specs == {"cores": 4}


def test_sanitize_name():
    assert sanitize_name("My_Laptop.local") == "my_laptop.local"
    assert sanitize_name("box #1 (lab)") == "box-1-lab"
    assert sanitize_name("---") == ""


def test_local_device_describes_this_cpu(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "Lab Box#7")
    device = local_device()
    assert device.name == "local-lab-box-7"
    assert device.kind == "cpu"
    assert device.runtimes == ("onnxruntime",)
    assert device.reach == "local" and device.energy_meter is None
    assert device.specs["cpu_usable_cores"] >= 1
    assert "cpu_model" in device.specs
    assert local_device("bench-1").name == "bench-1"


def test_local_device_with_unusable_hostname(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "###")
    assert local_device().name == "local"
