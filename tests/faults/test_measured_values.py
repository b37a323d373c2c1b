"""Absurd latencies in a user's file are refused with the line to fix, never used silently."""

from __future__ import annotations

import pytest

from hwnas.core.measured import MeasuredValueError, check_measured_value, check_outliers
from hwnas.core.tables import reference_archs
from hwnas.errors import InputError
from hwnas.jobs.generate import read_latency_csv
from hwnas.methods.predictor_data import read_samples_csv

REFS = reference_archs("nb201")


def _csv(tmp_path, values, column="latency_ms"):
    path = tmp_path / "samples.csv"
    rows = [f"{arch},{value}" for arch, value in zip(REFS, values)]
    path.write_text(f"arch,{column}\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("value", [1e300, 1e-300, float("inf"), float("nan"), -1.0, 0.0])
def test_a_value_outside_any_physical_range_is_refused(value):
    with pytest.raises(MeasuredValueError, match="row 3"):
        check_measured_value(value, "latency_ms", "row 3")


def test_values_in_range_pass_unchanged():
    assert check_measured_value(0.42, "latency_ms", "x") == 0.42
    check_outliers({"a": 0.3, "b": 0.5, "c": 3.0}, "latency_ms", "x")  # a 10x spread is real


def test_a_gross_outlier_names_the_cell_and_the_median():
    values = {f"cell{i}": 0.4 + 0.01 * i for i in range(9)} | {"odd": 4000.0}
    with pytest.raises(MeasuredValueError, match=r"odd has latency_ms 4000.*above the median"):
        check_outliers(values, "latency_ms", "file.csv")


@pytest.mark.parametrize("reader", [read_latency_csv, lambda p: read_samples_csv(p, "nb201")])
@pytest.mark.parametrize("bad", [1e300, 5000.0])
def test_both_latency_readers_refuse_an_absurd_reference_latency(tmp_path, reader, bad):
    values = [0.3 + 0.02 * i for i in range(len(REFS))]
    values[4] = bad
    path = _csv(tmp_path, values)
    before = path.read_bytes()
    with pytest.raises(InputError, match="samples.csv"):  # the reader's own error
        reader(path)
    assert path.read_bytes() == before
    values[4] = 0.4
    assert len(reader(_csv(tmp_path, values))) == len(REFS)


def test_generate_cli_refuses_the_file_in_one_line(tmp_path, capsys):
    from hwnas.cli import main

    values = [0.3 + 0.02 * i for i in range(len(REFS))]
    values[0] = 1e300
    code = main(["generate", "--device-latencies", str(_csv(tmp_path, values)),
                 "--latency-budget-ms", "0.7"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "line 2" in err and "physical range" in err
    assert "Traceback" not in err and err.count("\n") == 1
