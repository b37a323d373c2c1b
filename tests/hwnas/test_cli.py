"""The `hwnas` command line: each job end to end on this CPU, and bad input reported plainly."""

import importlib.util
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from devices import local_device
from hwnas.cli import main
from hwnas.core.spaces import NB201Arch

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


def test_input_errors_of_the_jobs(capsys, tmp_path):
    few = tmp_path / "few.csv"
    few.write_text(f"arch,latency_ms\n{ARCH},1.0\n")
    code, _, err = run_cli(
        capsys, "generate", "--device-latencies", few, "--latency-budget-ms", "1"
    )
    assert code == 2 and "lack 10 of the 10 NAS-Bench-201 reference cells" in err
    code, _, err = run_cli(
        capsys,
        "generate",
        "--device-latencies",
        few,
        "--latency-budget-ms",
        "1",
        "--method",
        "regression",
    )
    assert code == 2 and "at least 10 measured cells" in err

    missing = tmp_path / "sub" / "typo.sqlite"
    code, _, err = run_cli(capsys, "generate", "--store", missing, "--latency-budget-ms", "1")
    assert code == 2 and "no measurement store" in err
    assert not missing.parent.exists()  # a mistyped path creates nothing

    out = tmp_path / "afile"
    out.write_text("")
    code, _, err = run_cli(capsys, "export", "--arch", ARCH, "--out", out)
    assert code == 2 and "is an existing file" in err  # checked before any work (hwnas.cli.outputs)


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "--samples", "-1"],
        ["profile", "--threads", "0"],
        ["run", "--batch-size", "0"],
        ["run", "--latency-budget-ms", "-1"],
        ["run", "--latency-budget-ms", "nan"],
        ["run", "--confidence", "1.0"],
        [
            "generate",
            "--table-device",
            "gold_6240",
            "--latency-budget-ms",
            "1",
            "--confidence",
            "0",
        ],
    ],
)
def test_bad_numbers_are_refused_before_any_work(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "must" in capsys.readouterr().err


def test_the_main_job_runs_on_the_local_machine_only(capsys, tmp_path):
    board = tmp_path / "jetson.toml"
    board.write_text(
        'name = "jetson-orin"\nkind = "sbc"\nruntimes = ["tensorrt"]\nreach = "ssh://jetson.lan"\n'
    )
    code, _, err = run_cli(capsys, "run", "--device-file", board, "--out", tmp_path / "o")
    assert code == 2 and "ssh://jetson.lan" in err and "local machine only" in err
    assert not (tmp_path / "o").exists()


def test_latency_csv_with_a_spreadsheet_bom(tmp_path):
    from hwnas.jobs import read_latency_csv

    path = tmp_path / "excel.csv"
    path.write_bytes(f"arch,latency_ms\r\n{ARCH},1.5\r\n".encode("utf-8-sig"))
    assert read_latency_csv(path) == {ARCH: 1.5}


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

    # Other runtime settings must not be mixed into the same store.
    code, _, err = run_cli(
        capsys, "profile", "--samples", "4", "--out", out, *FAST[:4], "--threads", "2"
    )
    assert code == 2 and "intra_op_threads" in err

    code, text, _ = run_cli(
        capsys, "generate", "--store", out / "measurements.sqlite", "--latency-budget-ms", "1000"
    )
    assert code == 0
    chosen = text.splitlines()[0]
    NB201Arch.from_string(chosen)

    code, text, _ = run_cli(
        capsys,
        "export",
        "--arch",
        chosen,
        "--out",
        tmp_path / "exp",
        "--batch-size",
        "2",
        *FAST[:2],
    )
    assert code == 0 and "tolerance 0.0001: ok" in text
    report = json.loads((tmp_path / "exp" / "report.json").read_text())
    assert report["arch"] == chosen and report["passed"]
    assert report["exporter"] == "legacy" and report["batch_size"] == 2
    assert report["measurement"]["host"]["cpu_model"]
    assert report["measured_latency"]["median_ms"] > 0 and report["measured_latency"]["n"] >= 20
    assert len(report["sha256"]) == 64
    markdown = (tmp_path / "exp" / "report.md").read_text()
    assert report["sha256"] in markdown and "absolute 0.0001: ok" in markdown
    assert f"| ONNX Runtime median | {report['measured_latency']['median_ms']:.4g} |" in markdown


@pytest.mark.slow
def test_main_job_end_to_end(capsys, tmp_path):
    out = tmp_path / "main"
    code, text, _ = run_cli(capsys, "run", "--samples", "5", "--epochs", "2", "--out", out, *FAST)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["predicted_latency_ms"] > 0 and f"chosen: {summary['arch']}" in text
    # the profile's campaign summary: rounds, the speed anchor it set, unstable cells
    assert "\n  rounds: " in text and "\n  speed: anchor set now" in text
    assert "\n  unstable: " in text
    files = {row["precision"]: row for row in summary["files"]}
    assert set(files) == {"fp32", "int8"}  # the main job ships a trained fp32 and int8 file
    for row in files.values():
        assert row["latency_ms"] > 0 and 0 <= row["top1_percent"] <= 100
        assert row["path"].endswith(".onnx") and Path(row["path"]).is_file()
    assert files["fp32"]["top1_percent"] > 50  # trained, not at chance (10 classes)


def test_entry_point_help():
    out = subprocess.run(
        [sys.executable, "-m", "hwnas.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("run", "profile", "generate", "export"):
        assert command in out.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None,
    reason="TensorRT is installed here: the engine path is tested with the tensorrt marker",
)
def test_tensorrt_export_without_tensorrt_says_what_to_install(capsys, tmp_path):
    code, _, err = run_cli(capsys, "export", "--arch", ARCH, "--format", "tensorrt",
                           "--out", tmp_path / "e")  # fmt: skip
    # A missing optional dependency is the "unavailable" family: exit code 4, not bad input.
    assert code == 4 and "pip install hwnas[tensorrt]" in err and "Traceback" not in err
    assert err.startswith("hwnas export: unavailable:")
    assert not (tmp_path / "e").exists()  # refused before exporting anything


@pytest.mark.slow
def test_profile_fbnet_and_nb201_share_a_store(capsys, tmp_path):
    """Both spaces in one store: each profile's CSVs hold its own space, generate reads NB201."""
    from hwnas.core.spaces import FBNetArch, FBNetSpace

    store = tmp_path / "m.sqlite"
    args = ["--store", store, *FAST]
    code, text, _ = run_cli(capsys, "profile", "--space", "fbnet", "--samples", "0",
                            "--out", tmp_path / "fb", *args)  # fmt: skip
    assert code == 0 and "measured 10 networks, resumed 0" in text, text
    assert f"latencies (fbnet_index,arch,{local_device().name})" in text
    code, text, _ = run_cli(capsys, "profile", "--samples", "0", "--out", tmp_path / "nb", *args)
    assert code == 0 and "measured 10 cells, resumed 0" in text

    wide = (tmp_path / "fb" / "latency_ms_wide.csv").read_text().splitlines()
    assert wide[0] == f"fbnet_index,arch,{local_device().name}" and len(wide) == 11
    space = FBNetSpace()
    for line in wide[1:]:
        index, arch, latency = line.split(",")
        assert space.table_index(FBNetArch.from_string(arch)) == int(index) and float(latency) > 0
    assert {FBNetArch.from_string(a) for a in _csv_archs(tmp_path / "fb")} == set(
        space.reference_archs()
    )
    assert all(a.startswith("|") for a in _csv_archs(tmp_path / "nb"))  # NB201 cells only
    with sqlite3.connect(store) as db:
        assert db.execute("select count(*) from measurements").fetchone()[0] == 20

    code, text, _ = run_cli(capsys, "generate", "--store", store, "--latency-budget-ms", "1000")
    assert code == 0
    NB201Arch.from_string(text.splitlines()[0])


def _csv_archs(out):
    return [line.split(",")[0] for line in (out / "latency_ms.csv").read_text().splitlines()[1:]]
