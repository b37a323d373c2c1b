"""The device catalog: built-in literature devices, 'local', user devices; reach kinds; CLI."""

import csv
from pathlib import Path

import pytest

from devices import (
    Device,
    DeviceError,
    UnknownDeviceError,
    builtin_devices,
    find_device,
    load_catalog,
    read_device_file,
)
from hwnas.cli import main

REPO = Path(__file__).resolve().parents[2]
# Facts the shipped tables' READMEs state; anything else would be invented.
STATED_SPECS = {"vendor", "cpu_model", "batch_size", "tables", "latency_resolution_ms"}


def table_columns() -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    for space in ("nb201", "fbnet"):
        with (REPO / "hwnas" / "data" / space / "latency_ms.csv").open() as handle:
            for name in next(csv.reader(handle))[2:]:
                columns.setdefault(name, set()).add(space)
    return columns


def test_builtin_catalog_is_the_device_columns_of_the_shipped_tables():
    columns = table_columns()
    devices = builtin_devices()
    assert set(devices) == set(columns)
    assert len(devices) == 15  # 13 NB201 columns + FBNet's 1080ti_64 and titanx_64
    for name, device in devices.items():
        assert device.reach == "table" and not device.runnable and device.runtimes == ()
        assert set(device.specs) <= STATED_SPECS
        assert set(device.specs["tables"]) == columns[name]
        assert "HayeonLee/HELP" in device.attribution


@pytest.mark.parametrize(
    ("name", "kind", "batch_size"),
    [("1080ti_256", "gpu", 256), ("titanx_64", "gpu", 64), ("gold_6240", "cpu", None),
     ("pixel3", "phone", None), ("samsung_s7", "phone", None)],
)  # fmt: skip
def test_builtin_kinds_and_batch_sizes(name, kind, batch_size):
    device = builtin_devices()[name]
    assert device.kind == kind and device.specs.get("batch_size") == batch_size


def test_local_is_this_machine_and_unknown_names_get_suggestions(tmp_path):
    catalog = load_catalog(user_dir=tmp_path)
    assert catalog.names()[0] == "local" and "local" in catalog
    local = catalog.get("local")
    assert local.reach == "local" and local.name.startswith("local")
    with pytest.raises(UnknownDeviceError, match="did you mean gold_6240") as info:
        catalog.get("gold6240")
    assert str(tmp_path) in str(info.value)


def test_user_folder_and_files_add_devices(tmp_path):
    folder = tmp_path / "devices"
    folder.mkdir()
    (folder / "rpi.toml").write_text('name = "rpi5"\nkind = "sbc"\nreach = "ssh://pi@rpi5.lan"\n')
    farm = tmp_path / "farm.toml"
    farm.write_text(
        '[[devices]]\nname = "orin-a"\nkind = "sbc"\nreach = "ray"\n'
        '[[devices]]\nname = "orin-b"\nkind = "sbc"\nreach = "ray:device:orin"\n'
    )
    catalog = load_catalog([farm], user_dir=folder)
    assert catalog.entry("rpi5").origin == str(folder / "rpi.toml")
    assert catalog.get("orin-a").ray_resource == "device:orin-a"
    assert catalog.get("orin-b").ray_resource == "device:orin"
    assert find_device("orin-b", [farm], user_dir=folder).reach == "ray:device:orin"


def test_clashing_and_reserved_names_are_refused(tmp_path):
    clash = tmp_path / "clash.toml"
    clash.write_text('name = "pixel3"\nkind = "phone"\n')
    with pytest.raises(DeviceError, match="already described by built-in"):
        load_catalog([clash], user_dir=tmp_path / "none")
    local = tmp_path / "local.toml"
    local.write_text('name = "local"\nkind = "cpu"\n')
    with pytest.raises(DeviceError, match="means this machine"):
        load_catalog([local], user_dir=tmp_path / "none")


def test_find_device_without_a_name(tmp_path):
    assert find_device(None).reach == "local"
    one = tmp_path / "one.toml"
    one.write_text('name = "rpi5"\nkind = "sbc"\n')
    assert find_device(None, [one]).name == "rpi5"
    two = tmp_path / "two.toml"
    two.write_text('[[devices]]\nname = "a"\nkind = "sbc"\n[[devices]]\nname = "b"\nkind = "sbc"\n')
    with pytest.raises(DeviceError, match="choose one with --device"):
        find_device(None, [two])


def test_bad_multi_device_file_names_the_table(tmp_path):
    path = tmp_path / "farm.toml"
    path.write_text('[[devices]]\nname = "a"\nkind = "sbc"\n[[devices]]\nname = "b"\nkind = "x"\n')
    with pytest.raises(DeviceError, match=r"farm.toml \[\[devices\]\] #2.*'x'"):
        read_device_file(path)


@pytest.mark.parametrize(
    ("reach", "kind", "destination"),
    [
        ("ssh://pi@rpi5.lan:2222", "ssh", ("pi@rpi5.lan", 2222)),
        ("ssh://rpi5.lan", "ssh", ("rpi5.lan", None)),
        ("ray", "ray", None),
        ("table", "table", None),
        ("local", "local", None),
    ],
)
def test_reach_kinds(reach, kind, destination):
    device = Device(name="d", kind="sbc", reach=reach)
    assert device.reach_kind == kind
    if destination:
        assert device.ssh_destination() == destination
    else:
        with pytest.raises(DeviceError, match="not ssh"):
            device.ssh_destination()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reach": "ssh://pi@host:70000"}, "1..65535"),
        ({"reach": "adb://phone"}, "'adb://phone'"),
        (
            {"reach": "local", "python": "/usr/bin/python3"},
            "only apply to devices reached over ssh",
        ),
        ({"reach": "ssh://h", "ssh_options": ["-v"]}, "'-v'"),
        ({"reach": "ssh://h", "ssh_options": "IdentityFile=k"}, "ssh_options must be a list"),
        ({"attribution": ""}, "attribution"),
    ],
)
def test_invalid_remote_fields_are_refused(fields, expected):
    with pytest.raises(DeviceError, match=None) as info:
        Device(name="d", kind="sbc", **fields)
    assert expected in str(info.value)


def test_toml_round_trip_of_an_ssh_device(tmp_path):
    device = Device(
        name="rpi5",
        kind="sbc",
        runtimes=("onnxruntime",),
        reach="ssh://pi@rpi5.lan:22",
        python="/home/pi/venv/bin/python",
        ssh_options=("IdentityFile=/keys/rpi",),
        specs={"memory_mib": 8192, "cpu": {"cores": 4}},
    )
    path = tmp_path / "rpi5.toml"
    path.write_text(device.to_toml())
    assert Device.from_toml(path) == device


# -- hwnas devices ------------------------------------------------------------------------


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    folder = tmp_path / "user-devices"
    monkeypatch.setenv("HWNAS_DEVICES_DIR", str(folder))
    return folder


def test_cli_list_show_detect(capsys, user_dir):
    assert main(["devices", "list"]) == 0
    listing = capsys.readouterr().out
    assert "gold_6240" in listing and "table" in listing and "local (" in listing
    assert main(["devices", "show", "titanx_64"]) == 0
    shown = capsys.readouterr().out
    assert "# from: built-in" in shown and "batch_size = 64" in shown
    assert main(["devices", "detect", "--name", "bench-1", "--save"]) == 0
    assert (user_dir / "bench-1.toml").is_file() and "saved" in capsys.readouterr().out
    assert main(["devices", "show", "bench-1"]) == 0
    assert 'reach = "local"' in capsys.readouterr().out
    assert main(["devices", "detect", "--name", "bench-1", "--save"]) == 2
    assert "--force" in capsys.readouterr().err


def test_cli_unknown_device_is_one_line(capsys, user_dir):
    assert main(["devices", "show", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwnas devices: error: unknown device 'nope'") and err.count("\n") == 1


def test_profiling_a_table_device_is_refused_before_any_work(capsys, user_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["profile", "--device", "gold_6240", "--samples", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "published measurement tables" in err and "--table-device gold_6240" in err
    assert not out.exists()


def test_profiling_an_unknown_device_names_the_known_ones(capsys, user_dir, tmp_path):
    assert main(["profile", "--device", "rpi", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'rpi'" in err and "hwnas devices detect" in err
