"""Host fingerprints: what the local machine is, without importing the libraries it names."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devices import fingerprint
from devices.fingerprint import host_fingerprint, package_version, parse_cpu_model

REPO = Path(__file__).resolve().parents[2]

X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz
flags\t\t: fpu vme

processor\t: 1
model name\t: Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz
"""

RPI_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41

Revision\t: d04170
Serial\t\t: 10000000abcdef
Model\t\t: Raspberry Pi 5 Model B Rev 1.0
"""


def test_parse_cpu_model_x86_and_board():
    assert parse_cpu_model(X86_CPUINFO) == "Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz"
    assert parse_cpu_model(RPI_CPUINFO) == "Raspberry Pi 5 Model B Rev 1.0"
    assert parse_cpu_model("processor\t: 0\nflags\t: fpu\n") is None
    assert parse_cpu_model("") is None


def test_fingerprint_reads_cpuinfo_and_governor(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(X86_CPUINFO)
    governor = tmp_path / "scaling_governor"
    governor.write_text("performance\n")
    monkeypatch.setattr(fingerprint, "CPUINFO_PATH", cpuinfo)
    monkeypatch.setattr(fingerprint, "GOVERNOR_PATH", governor)

    fp = host_fingerprint()
    assert fp["cpu_model"] == "Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz"
    assert fp["cpu_governor"] == "performance"
    assert fp["cpu_logical_cores"] == os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert fp["cpu_usable_cores"] == len(os.sched_getaffinity(0))
    assert fp["python"].count(".") == 2


def test_fingerprint_without_governor_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(fingerprint, "GOVERNOR_PATH", tmp_path / "absent")
    assert host_fingerprint()["cpu_governor"] is None


def test_fingerprint_is_json_and_records_package_versions():
    fp = host_fingerprint(run_id="abc", clocks={"cpu_mhz": 2200})
    assert json.loads(json.dumps(fp)) == fp
    assert set(fp["packages"]) == {"numpy", "torch", "onnx", "onnxruntime"}
    import numpy

    assert fp["packages"]["numpy"] == numpy.__version__
    assert fp["run_id"] == "abc" and fp["clocks"] == {"cpu_mhz": 2200}


def test_package_version_of_missing_package_is_none():
    assert package_version("surely_not_installed_pkg_xyz") is None
    assert package_version("onnxruntime", ("not-a-dist", "onnxruntime")) is not None


def test_fingerprint_extra_cannot_replace_measured_keys():
    with pytest.raises(ValueError, match="cpu_model"):
        host_fingerprint(cpu_model="fake")


def test_fingerprint_extra_must_be_json():
    with pytest.raises(TypeError, match="JSON"):
        host_fingerprint(handle=object())


def test_fingerprint_imports_none_of_the_packages_it_reports():
    code = (
        "import sys, devices; devices.host_fingerprint(); "
        "print(' '.join(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == ""
