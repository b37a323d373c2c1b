"""`hwnas run` end to end on tiny settings: profile, generate, train on digits, export, resume."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from hwnas.jobs import profile as profile_job
from hwnas.jobs.pipeline import TrainingPlan, run_pipeline
from hwnas.jobs.profile import ProfileConfig, profile_device
from hwnas.jobs.profile_setting import NetworkSetting
from profilers.rounds import RoundsConfig
from profilers.timing import TimingConfig

pytestmark = pytest.mark.slow

QUICK = {
    "exporter": "legacy",
    "intra_op_threads": 1,
    "timing": TimingConfig(warmup_runs=2, warmup_s=0.0, min_runs=3, max_runs=20, max_time_s=0.05),
    "rounds": RoundsConfig(rounds=1, max_rounds=1, probe=None),
}


def _graph(path):
    """What makes two exports the same network: input, output, convolutions and linears."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: tuple(t.dims) for t in graph.initializer}

    def dims(value):
        return tuple(d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim)[1:]

    convs = Counter(
        inits.get(node.input[1]) for node in graph.node if node.op_type in ("Conv", "Gemm")
    )
    return dims(graph.input[0]), dims(graph.output[0]), convs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The pipeline run twice in one folder: the second run resumes the first."""
    out = tmp_path_factory.mktemp("run")
    plan = TrainingPlan(epochs=2, channels=8, cells=1)
    config = ProfileConfig(samples=0, **QUICK)
    first = run_pipeline(out, config=config, plan=plan, confidence=None)
    # the second run writes summary.json again: keep the first run's, to compare with its report
    first_summary = json.loads(first.summary_path.read_text())
    second = run_pipeline(out, config=config, plan=plan, confidence=None)
    return out, first, second, first_summary


def test_shipped_file_is_the_profiled_network(runs, tmp_path):
    """The chosen cell, built and exported as the profile times cells, is the shipped file."""
    from hwnas.core.export import OnnxExport, export_onnx

    out, first, _, _ = runs
    setting = first.setting
    assert setting == NetworkSetting((1, 8, 8), 10, {"channels": 8, "cells_per_stage": 1})
    network, shape = setting.build("nb201", first.generate.chosen.arch)
    export_onnx(network, shape, tmp_path / "as_profiled.onnx", OnnxExport(exporter="legacy"))
    timed = _graph(tmp_path / "as_profiled.onnx")
    shipped = _graph(first.export.file("fp32").path)
    assert timed[0] == shipped[0] == (1, 8, 8)  # the data's own images, batch dimension aside
    assert timed == shipped
    assert sum(timed[2].values()) >= 4  # stem, convolutions of the cell and blocks, classifier
    # Every cell the profile timed (the predictor's data) is a network of the same setting.
    profiled = sorted((out / "onnx" / setting.label).glob("*.onnx"))
    assert len(profiled) == 10
    assert {_graph(path)[:2] for path in profiled} == {shipped[:2]}


def test_report_has_both_precisions_measured_accuracy(runs):
    from hwnas.core.datasets import load_split_dataset

    _, first, _, summary = runs
    report = first.export
    assert report.model.trained
    assert [f.precision for f in report.accuracy.files] == ["fp32", "int8"]
    for precision in ("fp32", "int8"):
        assert 10.0 < report.accuracy_of(precision) <= 100.0
        assert report.latency_ms(precision) > 0
    # The fp32 file, fed the raw digits test images here, scores what the report says.
    import onnxruntime as ort

    test = load_split_dataset("digits").test
    session = ort.InferenceSession(report.file("fp32").path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = np.concatenate(
        [session.run(None, {name: test.x[i : i + 1]})[0] for i in range(len(test.y))]
    )
    measured = 100.0 * float(np.mean(logits.argmax(1) == test.y))
    assert measured == pytest.approx(report.accuracy_of("fp32"), abs=1e-6)
    files = {row["precision"]: row for row in summary["files"]}
    assert files["int8"]["top1_percent"] == pytest.approx(report.accuracy_of("int8"))
    slower = {s.precision for s in report.choice.slower_than_fp32}
    assert (files["int8"]["slower_than_fp32"] is not None) == ("int8" in slower)
    assert summary["rank_by_table"] == "cifar10" and summary["data"] == "digits"


def test_second_run_reuses_the_store_and_the_training(runs):
    _, first, second, _ = runs
    assert first.train.epochs_run == 2
    assert second.train.epochs_run == 0 and second.train.resumed_from == 2
    assert second.profile.measured == () and len(second.profile.resumed) == 10
    assert second.generate.chosen.arch == first.generate.chosen.arch
    assert second.train.test_accuracy == first.train.test_accuracy


def test_profile_keeps_network_settings_apart_in_one_store(tmp_path, monkeypatch):
    from profilers import MeasurementStore

    archs = profile_job.profile_archs(ProfileConfig(samples=0))[:2]
    monkeypatch.setattr(profile_job, "profile_archs", lambda config: archs)
    store = tmp_path / "measurements.sqlite"
    digits = NetworkSetting((1, 8, 8), 10, {"channels": 8, "cells_per_stage": 1})
    results = {}
    for name, setting in (("table", None), ("digits", digits)):
        config = ProfileConfig(samples=0, network=setting, **QUICK)
        results[name] = profile_device(store, config, csv_path=tmp_path / f"{name}.csv")
    with MeasurementStore(store) as opened:
        keys = sorted(m.key for m in opened.measurements())
    assert keys == sorted([str(a) for a in archs] + [digits.store_key(a) for a in archs])
    for name in ("table", "digits"):
        assert set(results[name].latency_ms) == {str(a) for a in archs}
        rows = (tmp_path / f"{name}.csv").read_text().splitlines()[1:]
        assert sorted(row.split(",")[0].strip('"') for row in rows) == sorted(map(str, archs))
    assert results["table"].latency_ms != results["digits"].latency_ms
    config = ProfileConfig(samples=0, network=digits, **QUICK)
    timed = profile_job.timed_onnx_path(results["digits"].workdir, config, archs[0])
    assert _graph(timed)[0] == (1, 8, 8)
    table = ProfileConfig(samples=0, **QUICK)
    assert _graph(profile_job.timed_onnx_path(results["table"].workdir, table, archs[0]))[0] == (
        3,
        32,
        32,
    )
