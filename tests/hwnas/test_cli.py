"""The `hwnas` command line: each job end to end on this CPU, and bad input reported plainly."""

import json
import sqlite3
import subprocess
import sys

import pytest

from hwnas.cli import main
from hwnas.spaces import NB201Arch

FAST = ["--exporter", "legacy", "--max-time-s", "0.05", "--threads", "1"]
ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_from_a_literature_device(capsys):
    code, out, _ = run_cli(
        capsys, "generate", "--table-device", "gold_6240", "--latency-budget-ms", "8"
    )
    assert code == 0
    lines = out.splitlines()
    NB201Arch.from_string(lines[0])  # the first line is the architecture, alone
    assert lines[1].startswith("predicted latency: ")
    assert float(lines[1].split()[2]) <= 8
    assert "cifar10 test accuracy" in lines[2]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["generate", "--table-device", "rpi4", "--latency-budget-ms", "5"], "no column 'rpi4'"),
        (["generate", "--table-device", "pixel3", "--latency-budget-ms", "0.0001"], "fastest is |"),
        (["export", "--arch", "|nor_conv_3x3~0|+|none~0|", "--out", "x"], "found 2 node group(s)"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"hwnas {argv[0]}: error: ") and fragment in err
    assert "Traceback" not in err


def test_generate_from_bad_files(capsys, tmp_path):
    csv_path = tmp_path / "lat.csv"
    csv_path.write_text("arch,latency_ms\n|none~0|+|none~0|none~9|+|none~0|none~1|none~2|,1\n")
    code, _, err = run_cli(
        capsys, "generate", "--device-latencies", csv_path, "--latency-budget-ms", "1"
    )
    assert code == 2 and "line 2" in err and "must read from node 1" in err

    store = tmp_path / "corrupt.sqlite"
    store.write_bytes(b"this is not a database" * 100)
    code, _, err = run_cli(capsys, "generate", "--store", store, "--latency-budget-ms", "1")
    assert code == 2 and str(store) in err


@pytest.mark.slow
def test_profile_resume_generate_export(capsys, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run_cli(capsys, "profile", "--samples", "2", "--out", out, *FAST)
    assert code == 0 and "measured 12 cells, resumed 0" in text
    with sqlite3.connect(out / "measurements.sqlite") as db:
        assert db.execute("select count(*) from measurements").fetchone()[0] == 12

    # A second run with more samples resumes: the 12 finished cells are not timed again.
    code, text, _ = run_cli(capsys, "profile", "--samples", "4", "--out", out, *FAST)
    assert code == 0 and "measured 2 cells, resumed 12" in text
    header = (out / "latency_ms.csv").read_text().splitlines()[0]
    assert header.startswith("arch,latency_ms")

    code, text, _ = run_cli(
        capsys, "generate", "--store", out / "measurements.sqlite", "--latency-budget-ms", "1000"
    )
    assert code == 0
    chosen = text.splitlines()[0]
    NB201Arch.from_string(chosen)

    code, text, _ = run_cli(capsys, "export", "--arch", chosen, "--out", tmp_path / "exp")
    assert code == 0 and "tolerance 0.0001: ok" in text
    report = json.loads((tmp_path / "exp" / "report.json").read_text())
    assert report["arch"] == chosen and report["passed"]
    assert report["measured_latency"]["median_ms"] > 0 and report["measured_latency"]["n"] >= 20
    assert len(report["sha256"]) == 64


@pytest.mark.slow
def test_main_job_end_to_end(capsys, tmp_path):
    out = tmp_path / "main"
    code, text, _ = run_cli(capsys, "run", "--samples", "5", "--out", out, *FAST)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["predicted_latency_ms"] > 0 and summary["measured_latency_ms"] > 0
    assert summary["max_abs_error"] <= 1e-4
    assert f"chosen: {summary['arch']}" in text
    assert (out / "export").is_dir() and summary["onnx"].endswith(".onnx")


def test_entry_point_help():
    out = subprocess.run(
        [sys.executable, "-m", "hwnas.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("run", "profile", "generate", "export"):
        assert command in out.stdout
