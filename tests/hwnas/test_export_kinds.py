"""`hwnas export --format onnx` for one model of each kind: NB201 and FBNet strings, a DARTS
genotype (bare and trained folder), an LRNN folder and a NES ensemble.

Each export must give files passing the ONNX checker, matching PyTorch within the stated
tolerance (recomputed here, independently of the report), and a report whose latency comes
from the profiler.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hwnas.cli import main
from hwnas.jobs.export_sources import open_source

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
REDUCE = tuple((op, src) for (_, src), op in zip(NORMAL, ("max_pool_3x3",) * 8))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """One saved model of each kind that needs files, keyed by the `hwnas export` flag."""
    from hwnas.core.spaces.darts_genotype import Genotype
    from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel
    from hwnas.methods.darts.network import DartsNetwork, TrainConfig, save_network
    from hwnas.methods.lrnn.train import save_model
    from hwnas.methods.nes.pool import MemberSpec, build_member, save_member

    root = tmp_path_factory.mktemp("models")
    genotype = Genotype("darts", NORMAL, REDUCE)
    genotype.save(root / "genotype.json")
    torch.manual_seed(0)
    save_network(
        DartsNetwork(genotype, 8, 3, 10, 1), TrainConfig(channels=8, layers=3), root / "dt"
    )
    (root / "dt" / "report.json").write_text(json.dumps({"dataset": "digits"}))
    torch.manual_seed(0)
    model = LRNNModel(LRNNConfig("lrnn:deltanet-11-L1-W16-S4", vocab_size=2, num_classes=2))
    save_model(model, root / "lrnn")
    members = []
    for seed, arch in enumerate((NB201, "|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|"
                                        "nor_conv_1x1~0|none~1|nor_conv_3x3~2|")):  # fmt: skip
        spec = MemberSpec("nb201", arch, seed, 10, (1, 8, 8))
        save_member(root / "nes" / "pool" / spec.id, spec, build_member(spec), {})
        members.append(f"pool/{spec.id}")
    manifest = {"space": "nb201", "num_classes": 10, "input_shape": [1, 8, 8],
                "members": members, "weights": [2, 1]}  # fmt: skip
    (root / "nes" / "ensemble.json").write_text(json.dumps(manifest))
    return root


KINDS = [
    ("nb201", "--arch", lambda root: NB201),
    ("fbnet", "--arch", lambda root: FBNET),
    ("darts", "--genotype", lambda root: root / "genotype.json"),
    ("darts", "--genotype", lambda root: root / "dt"),
    ("lrnn", "--lrnn", lambda root: root / "lrnn"),
    ("nes", "--ensemble", lambda root: root / "nes"),
]


def _pytorch_outputs(flag: str, value, graph_role: str, inputs: dict) -> np.ndarray:
    """The PyTorch model's outputs for an ONNX graph's inputs, rebuilt from what was named."""
    key = {"--arch": "arch", "--genotype": "genotype", "--lrnn": "lrnn", "--ensemble": "ensemble"}
    source = open_source(**{key[flag]: value})
    with torch.no_grad():
        if flag != "--lrnn":
            return source.module(torch.from_numpy(inputs["input"])).numpy()
        if graph_role == "step":
            states = tuple(torch.from_numpy(v) for k, v in inputs.items() if k != "token")
            return source.model.step(torch.from_numpy(inputs["token"]), states)[0].numpy()
        return source.model(torch.from_numpy(inputs["tokens"])).numpy()


@pytest.mark.parametrize(("kind", "flag", "value"), KINDS, ids=[f"{k[0]}{k[1]}" for k in KINDS])
def test_each_kind_exports_checks_and_times(models, tmp_path, capsys, kind, flag, value):
    value = value(models)
    out = tmp_path / "export"
    code = main(["export", flag, str(value), "--out", str(out), "--latency-budget-ms", "500",
                 *FAST])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == kind and report["passed"] and report["within_budget"] is True
    assert report["device"].startswith("local") and report["device_reach"] == "local"
    assert len(report["graphs"]) == (2 if kind == "lrnn" else 1)
    for graph in report["graphs"]:
        path = Path(graph["onnx_path"])
        onnx.checker.check_model(str(path), full_check=True)
        # Independent check: ONNX Runtime against the PyTorch model rebuilt from the same input.
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(7)
        inputs = {}
        for spec in session.get_inputs():
            shape = [3 if not isinstance(d, int) else d for d in spec.shape]
            if spec.type == "tensor(int64)":
                inputs[spec.name] = rng.integers(0, 2, size=shape, dtype=np.int64)
            elif spec.name.startswith("state_"):
                inputs[spec.name] = 0.1 * rng.standard_normal(shape).astype(np.float32)
            else:
                inputs[spec.name] = rng.standard_normal(shape).astype(np.float32)
        actual = session.run(None, inputs)[0]
        expected = _pytorch_outputs(flag, value, graph["role"], inputs)
        assert np.max(np.abs(actual - expected)) <= report["tolerance"] == 1e-4
        (check,) = graph["checks"]
        assert check["passed"] and check["max_abs_error"] <= check["tolerance"] == 1e-4
        # The latency is the profiler's: its statistics, its timing method and fingerprint.
        latency, measurement = graph["measured_latency"], graph["measurement"]
        assert latency["median_ms"] > 0 and latency["n"] >= 1 and latency["stop_reason"]
        assert measurement["timer"] == "host_perf_counter_ns"
        if kind == "lrnn":  # token-id graphs are timed here, in one window
            assert measurement["timing"]["max_time_s"] == 0.05
        else:  # with a budget, in the profile's rounds: the cell's time shared among them
            rounds = measurement["rounds"]["rounds"]
            assert measurement["timing"]["max_time_s"] == pytest.approx(0.05 / rounds)
            assert measurement["store_key"].startswith("shipped:")
        assert measurement["runtime"]["runtime"] == "onnxruntime"
        assert measurement["runtime"]["intra_op_threads"] == 1
        assert measurement["model_path"] == graph["onnx_path"] and measurement["host"]
    markdown = (out / "report.md").read_text()
    assert report["sha256"] in markdown and "within budget: yes" in markdown
    assert f"measured latency (onnxruntime, {report['device']})" in text


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_reduced_precision_onnx_is_checked_with_its_tolerance(tmp_path, capsys, precision):
    out = tmp_path / "export"
    argv = ["export", "--arch", NB201, "--precision", precision, "--out", str(out), *FAST]
    if precision == "int8":
        samples = np.random.default_rng(3).standard_normal((16, 3, 32, 32)).astype(np.float32)
        np.save(tmp_path / "calibration.npy", samples)
        argv += ["--calibration-data", str(tmp_path / "calibration.npy")]
    assert main(argv) == 0, capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    graph = report["graphs"][0]
    fp32, reduced = graph["checks"]
    assert fp32["precision"] == "fp32" and fp32["tolerance"] == 1e-4 and fp32["passed"]
    relative = {"fp16": 1e-2, "int8": 0.25}[precision]
    assert reduced["precision"] == precision
    assert reduced["rule"].startswith(f"{relative:g} x max|PyTorch output|")
    if precision == "fp16":
        assert reduced["passed"] and 0 < reduced["max_abs_error"] <= reduced["tolerance"]
    else:
        # An untrained network's int8 output error is measured and shown, but it is no
        # deployment check: a trained model's int8 file is judged by its accuracy drop.
        assert reduced["passed"] is None and reduced["max_abs_error"] > 0
        assert reduced["judged_by"].startswith("not judged: the output error of an untrained")
        assert report["passed"] and report["model"]["trained"] is False
    assert graph["onnx_path"].endswith({"fp16": "_fp16.onnx", "int8": "_int8_qdq.onnx"}[precision])
    assert graph["measurement"]["model_path"] == graph["onnx_path"]  # the deployed file is timed
    model = onnx.load(graph["onnx_path"])
    ops = {node.op_type for node in model.graph.node}
    if precision == "int8":
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
        assert graph["conversion"]["calibration"]["samples"] == 16
    else:
        weights = [init.data_type for init in model.graph.initializer]
        assert onnx.TensorProto.FLOAT16 in weights
    assert f"{precision} file" in (out / "report.md").read_text()


def test_bad_genotype_and_model_folders_are_clear_errors(models, tmp_path, capsys):
    from hwnas.core.spaces.darts_genotype import Genotype

    noisy = tuple(("noise", source) for _, source in NORMAL)  # RobustDARTS S4's random op
    Genotype("s4", noisy, noisy).save(tmp_path / "noisy.json")
    cases = [
        (["--genotype", tmp_path / "noisy.json"], "noise"),
        (["--genotype", tmp_path / "missing.json"], "cannot read genotype file"),
        (["--lrnn", tmp_path], "holds no model.safetensors"),
        (["--ensemble", tmp_path], "ensemble.json does not exist"),
        (["--arch", "k3_e1-skip"], "not an FBNet network"),
        (["--lrnn", models / "lrnn", "--precision", "fp16"], "exported at fp32, not fp16"),
        (["--arch", NB201, "--device", "pixel3"], "nothing can run there"),
        (["--arch", NB201, "--precision", "fp16", "--calibration-data", "x.npy"], "int8 only"),
    ]
    for argv, fragment in cases:
        code = main(["export", *map(str, argv), "--out", str(tmp_path / "never")])
        err = capsys.readouterr().err
        assert code == 2 and fragment in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "never").exists()


def test_one_model_at_a_time(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--arch", NB201, "--lrnn", "x", "--out", "y"])
    assert "not allowed with argument" in capsys.readouterr().err
