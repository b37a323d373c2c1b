"""The fastest file, the fastest within an accuracy drop, and files slower than fp32, on
latencies and drops written out by hand."""

import pytest

from hwnas.core.export.accuracy import choose_precision
from hwnas.core.export.report import MeasuredLatency


def test_fastest_within_drop_skips_a_faster_file_that_loses_too_much():
    latency = {"fp32": 2.15, "fp16": 1.90, "int8": 1.20}
    drops = {"fp32": 0.0, "fp16": 0.1, "int8": 1.8}
    choice = choose_precision(latency, drops, 1.0)
    assert choice.fastest == "int8"
    assert choice.fastest_within_drop == "fp16"
    assert choice.slower_than_fp32 == () and choice.reason is None


def test_int8_slower_than_fp32_is_flagged_with_its_ratio():
    # the measurement: int8 3.33 ms against fp32 2.15 ms
    choice = choose_precision({"fp32": 2.15, "int8": 3.33}, {"fp32": 0.0, "int8": 0.3}, 1.0)
    assert choice.fastest == "fp32" and choice.fastest_within_drop == "fp32"
    (slow,) = choice.slower_than_fp32
    assert slow.precision == "int8" and slow.ratio == pytest.approx(3.33 / 2.15)


def test_drop_at_the_limit_counts_as_within():
    choice = choose_precision({"fp32": 2.0, "int8": 1.0}, {"fp32": 0.0, "int8": 1.0}, 1.0)
    assert choice.fastest_within_drop == "int8"


def test_without_accuracy_only_the_fastest_is_known():
    choice = choose_precision({"fp32": 2.0, "fp16": 2.5}, None, 1.0)
    assert choice.fastest == "fp32" and choice.fastest_within_drop is None
    assert "no accuracy measured" in choice.reason
    assert [s.precision for s in choice.slower_than_fp32] == ["fp16"]


def test_no_file_within_the_drop_says_so():
    choice = choose_precision({"fp32": 2.0, "int8": 1.0}, {"fp32": 1.5, "int8": 3.0}, 1.0)
    assert choice.fastest == "int8" and choice.fastest_within_drop is None
    assert choice.reason == "no file within 1 points of PyTorch"


def test_ties_go_to_the_higher_precision_and_nothing_timed_is_no_choice():
    assert choose_precision({"int8": 1.0, "fp32": 1.0}, None, 1.0).fastest == "fp32"
    empty = choose_precision({}, None, 1.0)
    assert empty.fastest is None and empty.reason == "no file was timed"


def test_measured_latency_reads_by_field_name():
    latency = MeasuredLatency(1.0, 1.5, 2.0, 1.2, 0.1, 20, "time_cap")
    assert latency["median_ms"] == latency.median_ms == 1.0
    with pytest.raises(KeyError):
        latency["median"]
