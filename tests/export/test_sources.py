"""The registry of model sources: every kind passes the same contract, the old spellings are
aliases of the one pipeline, and a network with fresh weights is labelled for timing only."""

import json

import numpy as np
import pytest
import torch

from hwnas.cli import main
from hwnas.core.export import OnnxExport
from hwnas.core.export.checks import check_file
from hwnas.core.export.report import UNTRAINED_LABEL
from hwnas.core.export.sources import ModelSource
from hwnas.errors import InputError
from hwnas.jobs.export_sources import create_source, list_sources
from profilers import create_runtime

FAST = ["--exporter", "legacy", "--max-time-s", "0.05", "--threads", "1"]
NB201 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
FBNET = (
    "k3_e1_g2-skip-k5_e3-k5_e3-skip-k3_e1-k3_e6-k5_e1-k3_e6-k5_e6-skip-k5_e6-k5_e1-k3_e6-k3_e3-"
    "k5_e1_g2-k5_e6-k3_e6-k3_e1-k3_e1_g2-k3_e6-k5_e6"
)
NORMAL = (
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_5x5", 2),
    ("dil_conv_3x3", 1), ("max_pool_3x3", 3), ("avg_pool_3x3", 0), ("dil_conv_5x5", 4),
)  # fmt: skip
KINDS = {  # kind: (the source's own kind, trained?, precisions)
    "model": ("model", True, ("fp32", "fp16", "int8")),
    "arch": ("nb201", False, ("fp32", "fp16", "int8")),
    "nb201": ("nb201", False, ("fp32", "fp16", "int8")),
    "fbnet": ("fbnet", False, ("fp32", "fp16", "int8")),
    "darts": ("darts", False, ("fp32", "fp16", "int8")),
    "nes": ("nes", True, ("fp32", "fp16", "int8")),
    "lrnn": ("lrnn", True, ("fp32",)),
}


@pytest.fixture(scope="module")
def targets(tmp_path_factory, digits_model):
    """Something to open for every registered kind."""
    from hwnas.core.spaces.darts_genotype import Genotype
    from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel
    from hwnas.methods.lrnn.train import save_model
    from hwnas.methods.nes.pool import MemberSpec, build_member, save_member

    root = tmp_path_factory.mktemp("targets")
    reduce = tuple((op, src) for (_, src), op in zip(NORMAL, ("max_pool_3x3",) * 8))
    Genotype("darts", NORMAL, reduce).save(root / "genotype.json")
    torch.manual_seed(0)
    save_model(LRNNModel(LRNNConfig("lrnn:diag-01-L1-W16-S4", 2, 2)), root / "lrnn")
    spec = MemberSpec("nb201", NB201, 0, 10, (1, 8, 8), channels=4, cells=1)
    save_member(root / "nes" / "pool" / spec.id, spec, build_member(spec), {})
    manifest = {"space": "nb201", "num_classes": 10, "input_shape": [1, 8, 8],
                "members": [f"pool/{spec.id}"]}  # fmt: skip
    (root / "nes" / "ensemble.json").write_text(json.dumps(manifest))
    return {
        "model": digits_model,
        "arch": NB201,
        "nb201": NB201,
        "fbnet": FBNET,
        "darts": root / "genotype.json",
        "nes": root / "nes",
        "lrnn": root / "lrnn",
    }


def test_every_registered_kind_is_covered():
    assert list_sources() == sorted(KINDS)
    with pytest.raises(InputError, match="unknown model source 'onnx'; registered: arch, darts"):
        create_source("onnx", "x")


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=[pytest.mark.slow] if k == "fbnet" else []) for k in KINDS]
)
def test_source_contract(kind, targets, tmp_path):
    own_kind, trained, precisions = KINDS[kind]
    source = create_source(kind, targets[kind])
    assert isinstance(source, ModelSource)
    assert source.kind == own_kind and source.trained is trained
    assert tuple(source.precisions) == precisions and source.name
    graphs = source.export(tmp_path, OnnxExport(exporter="legacy"))
    assert graphs and all(g.path.is_file() and g.path.parent == tmp_path for g in graphs)
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    for graph in graphs:
        check = check_file(source, graph, graph.path, runtime, 2, "fp32")
        assert check.passed and check.max_abs_error <= check.tolerance == source.fp32_atol
        inputs = source.timing_inputs(graph, 1)
        assert inputs is None or all(isinstance(v, np.ndarray) for v in inputs.values())
    if "int8" in precisions:
        samples, origin = source.calibration_samples(16, seed=0)
        assert samples.shape == (16, *source.input_shape) and np.isfinite(samples).all()
        assert samples.std() > 0 and origin
        assert source.scoring_module() is source.module
    else:
        assert source.scoring_module() is None and source.own_inputs


def test_fresh_weights_are_labelled_for_timing_only(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["export", "--arch", NB201, "--out", str(out), *FAST]) == 0
    text = capsys.readouterr().out
    assert f"{UNTRAINED_LABEL}" in text and "top-1" not in text and "% " not in text
    assert "accuracy: not measured (untrained (random weights): for timing only" in text
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["trained"] is False and report["model_label"] == UNTRAINED_LABEL
    assert report["accuracy"] is None and UNTRAINED_LABEL in report["accuracy_reason"]
    assert f"- Model: {UNTRAINED_LABEL}" in (out / "report.md").read_text()


def test_lrnn_export_is_an_alias_of_export_lrnn(targets, tmp_path, capsys):
    lrnn = str(targets["lrnn"])
    alias = ["lrnn", "export", "--model", lrnn, "--out", str(tmp_path / "a"), "--exporter",
             "legacy", "--threads", "1", "--max-time-s", "0.05", "--check-length", "8"]  # fmt: skip
    assert main(alias) == 0
    text = capsys.readouterr().out
    for line in ("step graph: ", "unrolled graph (T=32): ", "max abs error vs PyTorch: step loop "
                 "over 8 tokens", "latency per token: step graph ", "report: "):  # fmt: skip
        assert line in text
    assert main(["export", "--lrnn", lrnn, "--out", str(tmp_path / "b"), *FAST]) == 0
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    assert set(b) == set(a)  # one report, with the LRNN's views
    assert a["kind"] == b["kind"] == "lrnn" and a["arch"] == b["arch"]
    assert [g["role"] for g in a["graphs"]] == [g["role"] for g in b["graphs"]]
    assert a["check_length"] == 8 and a["step_latency"]["median_ms"] > 0


def test_precision_spellings(tmp_path):
    from hwnas.core.export.pipeline import ExportSettings

    assert ExportSettings(precisions=("int8",)).written_precisions == ("fp32", "int8")
    assert ExportSettings(precisions=("int8", "fp32", "int8")).precisions == ("fp32", "int8")
    assert ExportSettings(precisions=("all",)).precisions == ("fp32", "fp16", "int8")
    assert ExportSettings(precisions="fp16").primary_precision == "fp16"
    with pytest.raises(InputError, match="precision must be among"):
        ExportSettings(precisions=("int4",))
    with pytest.raises(InputError, match="int8 only"):
        ExportSettings(precisions=("fp16",), calibration_data=tmp_path / "c.npy")
