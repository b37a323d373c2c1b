"""`hwnas profile --precision`: int8 and fp32 profiles of one store keep their own rows and files."""

from __future__ import annotations

import pytest

from hwnas.cli import main
from hwnas.errors import InputError
from hwnas.jobs import profile as profile_job
from hwnas.jobs.profile import ProfileConfig, profile_device, timed_onnx_path
from hwnas.jobs.profile_setting import NetworkSetting
from profilers.rounds import RoundsConfig
from profilers.timing import TimingConfig

QUICK = {
    "samples": 0,
    "exporter": "legacy",
    "timing": TimingConfig(warmup_runs=1, warmup_s=0.0, min_runs=3, max_runs=10, max_time_s=0.02),
    "rounds": RoundsConfig(rounds=1, max_rounds=1, probe=None),
    # the digits network (8x8 grey images, 8 channels, one cell per stage) quantises in a blink
    "network": NetworkSetting((1, 8, 8), 10, {"channels": 8, "cells_per_stage": 1}),
}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """Two cells profiled at int8, then fp32, then int8 again, in one store."""
    folder = tmp_path_factory.mktemp("precision")
    store = folder / "measurements.sqlite"
    archs = profile_job.profile_archs(ProfileConfig(samples=0))[:2]
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile_job, "profile_archs", lambda config: archs)
        for run, precision in (("int8", "int8"), ("fp32", "fp32"), ("int8 again", "int8")):
            config = ProfileConfig(precision=precision, **QUICK)
            csv = folder / f"{precision}.csv"
            results[run] = profile_device(store, config, csv_path=csv, wide_csv_path=None)
    return folder, store, archs, results


def test_each_precision_keeps_its_own_rows(profiles):
    from profilers import MeasurementStore

    folder, store, archs, results = profiles
    keys = sorted(QUICK["network"].store_key(a) for a in archs)
    with MeasurementStore(store) as opened:
        for precision in ("int8", "fp32"):
            rows = opened.measurements(precision=precision)
            assert sorted(m.key for m in rows) == keys
            assert {m.precision for m in rows} == {precision}
            csv = (folder / f"{precision}.csv").read_text().splitlines()[1:]
            assert len(csv) == len(archs)
    assert results["int8"].precision == "int8" and results["fp32"].precision == "fp32"
    assert len(results["int8"].measured) == len(results["fp32"].measured) == len(archs)


def test_a_second_int8_run_times_nothing(profiles):
    _, _, archs, results = profiles
    again = results["int8 again"]
    assert again.measured == () and len(again.resumed) == len(archs)
    assert again.latency_ms == results["int8"].latency_ms


def test_the_int8_file_is_quantised_and_apart_from_the_fp32_file(profiles):
    import onnx

    _, _, archs, results = profiles
    paths = {
        precision: timed_onnx_path(
            results[precision].workdir, ProfileConfig(precision=precision, **QUICK), archs[0]
        )
        for precision in ("int8", "fp32")
    }
    assert paths["int8"].name.endswith(".int8.onnx") and paths["fp32"].name.endswith(".fp32.onnx")
    ops = {node.op_type for node in onnx.load(str(paths["int8"])).graph.node}
    quantised = {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert quantised or any(op.startswith("QLinear") for op in ops), ops
    fp32_ops = {node.op_type for node in onnx.load(str(paths["fp32"])).graph.node}
    assert not any("Quantize" in o or o.startswith("QLinear") for o in fp32_ops)
    leftovers = [p.name for p in paths["int8"].parent.iterdir() if ".int8." not in p.name]
    assert sorted(leftovers) == sorted(p.name for p in paths["fp32"].parent.glob("*.fp32.onnx"))


def test_an_unknown_precision_is_refused_by_the_config():
    with pytest.raises(InputError, match="fp32.*fp16.*int8.*'int4'"):
        ProfileConfig(precision="int4")


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "--precision", "int4", "--samples", "0", "--out", "{out}"],
        ["generate", "--store", "{store}", "--precision", "int4", "--latency-budget-ms", "1"],
    ],
    ids=["profile", "generate"],
)
def test_an_unknown_precision_is_one_line_from_the_cli(tmp_path, capsys, argv):
    places = {"out": str(tmp_path / "out"), "store": str(tmp_path / "measurements.sqlite")}
    code = main([a.format(**places) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"hwnas {argv[0]}: error: ") and "'int4'" in err and "int8" in err
    assert list(tmp_path.iterdir()) == []


def test_the_summary_and_the_csv_files_name_the_precision(tmp_path, capsys, monkeypatch):
    archs = profile_job.profile_archs(ProfileConfig(samples=0))[:1]
    monkeypatch.setattr(profile_job, "profile_archs", lambda config: archs)
    argv = ["profile", "--precision", "int8", "--samples", "0", "--exporter", "legacy"]
    argv += ["--rounds", "1", "--max-time-s", "0.02", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "int8: measured 1 cells, resumed 0 from the store" in capsys.readouterr().out
    csv_files = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert csv_files == ["latency_ms_int8.csv", "latency_ms_int8_wide.csv"]
