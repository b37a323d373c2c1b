"""Broken device descriptions: a clear error for a file the user names, and one broken file
in the user's folder never blocks the other devices (issue 21)."""

from __future__ import annotations

import pytest

from devices import DeviceError
from devices.catalog import UnknownDeviceError, find_device, load_catalog

BINARY = bytes(range(256)) * 4


def test_a_binary_device_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "dev.toml"
    path.write_bytes(BINARY)
    with pytest.raises(DeviceError, match=r"dev.toml: not a text file"):
        find_device(None, [path])


def test_one_broken_file_in_the_user_folder_leaves_the_others_usable(tmp_path):
    (tmp_path / "broken.toml").write_bytes(BINARY)
    (tmp_path / "half.toml").write_text('name = "half"\nkind = ')
    (tmp_path / "good.toml").write_text(
        'name = "board1"\nkind = "cpu"\nruntimes = ["onnxruntime"]\n'
    )
    with pytest.warns(UserWarning, match="left out") as caught:
        catalog = load_catalog(user_dir=tmp_path)
    assert len(caught) == 2
    assert "board1" in catalog and catalog.get("local").name
    with pytest.raises(UnknownDeviceError, match=r"Left out as unreadable: .*broken.toml"):
        catalog.get("half")


def test_a_named_broken_file_is_still_an_error_not_skipped(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("name = [")
    with pytest.raises(DeviceError, match="not valid TOML"):
        load_catalog([path], user_dir=tmp_path / "none")


def test_cli_prints_the_warning_and_the_error_in_one_line_each(tmp_path):
    import os
    import subprocess
    import sys

    folder = tmp_path / "hwnas" / "devices"
    folder.mkdir(parents=True)
    (folder / "bad.toml").write_bytes(BINARY)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("HWNAS_DEVICES_DIR", None)
    done = subprocess.run([sys.executable, "-m", "hwnas", "devices", "list"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and "local" in done.stdout
    assert done.stderr.startswith("hwnas: warning: device description left out")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
