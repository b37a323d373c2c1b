"""`hwnas lrnn train` writes a loadable model and metrics; the ONNX graphs match PyTorch."""

import json

import numpy as np
import pytest
import torch

from hwnas.cli import main
from hwnas.core.spaces.lrnn import LRNNArch, encode
from hwnas.core.spaces.lrnn_layers import LRNNConfig, LRNNModel
from hwnas.errors import InputError
from hwnas.methods.lrnn.export import LRNNExport, export_lrnn, time_lrnn_archs
from hwnas.methods.lrnn.train import TrainConfig, evaluate, load_model, save_model, train_lrnn


def test_train_command_writes_model_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "lrnn", "train", "--task", "modarith", "--recurrence", "deltanet", "--range", "11",
            "--layers", "1", "--width", "16", "--state", "8", "--steps", "20",
            "--batch-size", "16", "--test-lengths", "9", "20", "--test-samples", "40",
            "--threads", "1", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    assert "accuracy at length 20" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["arch"] == "lrnn:deltanet-11-L1-W16-S8"
    assert set(metrics["accuracy"]) == {"9", "20"}
    assert metrics["tested_length"] == {"9": 9, "20": 19}  # modarith lengths are odd
    assert metrics["chance_accuracy"] == 0.2 and metrics["steps_run"] == 20
    model = load_model(out)
    again = evaluate(model, "modarith", (9, 20), 40, seed=1)
    assert again == {int(k): v for k, v in metrics["accuracy"].items()}


def test_training_is_deterministic_and_learns():
    config = TrainConfig(steps=150, batch_size=32, test_lengths=(20,), test_samples=64, threads=1)
    first = train_lrnn("lrnn:diag-11-L1-W16-S8", config)
    second = train_lrnn("lrnn:diag-11-L1-W16-S8", config)
    assert first.loss_curve == second.loss_curve and first.accuracy == second.accuracy
    assert len(first.loss_curve) == 3 and first.loss_curve[-1][1] < first.loss_curve[0][1]


def test_train_config_rejects_bad_input():
    with pytest.raises(InputError, match="unknown task"):
        TrainConfig(task="dyck")
    with pytest.raises(InputError, match="labels only whole sequences"):
        TrainConfig(task="modarith_brackets", supervision="prefixes")


@pytest.mark.parametrize("arch", ["lrnn:diag-11-L2-W16-S8", "lrnn:deltanet-11-L1-W16-S4"])
def test_onnx_step_loop_reproduces_256_pytorch_steps(tmp_path, arch):
    torch.manual_seed(0)
    model = LRNNModel(LRNNConfig(LRNNArch.from_string(arch), vocab_size=3, num_classes=2))
    save_model(model, tmp_path / "model")
    config = LRNNExport(
        exporter="legacy", unrolled_length=8, check_length=256, intra_op_threads=1, max_time_s=0.05
    )
    report = export_lrnn(tmp_path / "model", tmp_path / "onnx", config)
    assert report.passed
    assert report.step_max_abs_error <= 1e-4 and report.unrolled_max_abs_error <= 1e-4
    assert report.step_latency["median_ms"] > 0 and report.unrolled_latency_per_token_ms > 0
    saved = json.loads((tmp_path / "onnx" / "report.json").read_text())
    assert saved["arch"] == arch and saved["check_length"] == 256

    # The step graph, driven by a Python loop, keeps its states between calls.
    import onnxruntime as ort

    session = ort.InferenceSession(report.step_onnx, providers=["CPUExecutionProvider"])
    tokens = np.random.default_rng(5).integers(0, 3, size=(3, 256))
    states = [s.numpy() for s in model.init_states(3)]
    names = [f"state_{i}" for i in range(len(states))]
    for t in range(256):
        logits, *states = session.run(None, {"token": tokens[:, t], **dict(zip(names, states))})
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(tokens))[:, -1].numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_archs_are_timed_per_token(tmp_path):
    archs = [
        LRNNArch.from_string(a) for a in ("lrnn:diag-01-L1-W16-S4", "lrnn:deltanet-11-L2-W32-S8")
    ]
    config = LRNNExport(
        exporter="legacy", unrolled_length=4, check_length=8, intra_op_threads=1, max_time_s=0.05
    )
    reports = time_lrnn_archs(archs, tmp_path, config)
    assert list(reports) == [str(a) for a in archs]
    latency_ms = [reports[str(a)].step_latency["median_ms"] for a in archs]
    assert all(r.passed for r in reports.values()) and min(latency_ms) > 0
    assert encode(archs).shape[0] == len(latency_ms)  # features and targets for a predictor
