"""`hwnas export --model DIR`: a trained model folder exported per precision, scored and timed.

The ONNX files take raw images (normalisation and channel repeat inside the graph); each
file's top-1 on the test split is measured as ONNX Runtime runs it and compared with
PyTorch; int8 is calibrated on training images and judged by its accuracy drop.
"""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from hwnas.cli import main
from hwnas.core.datasets import load_split_dataset
from hwnas.core.deployable import load_trained_model

FAST = ["--exporter", "legacy", "--max-time-s", "0.05", "--threads", "1"]


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def int8_export(digits_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "x"
    code = main(["export", "--model", str(digits_model), "--precision", "int8", "--out",
                 str(out), *FAST])  # fmt: skip
    return code, out, json.loads((out / "report.json").read_text())


def test_raw_images_into_onnx_runtime_give_the_pytorch_models_logits(digits_model, int8_export):
    _, _, report = int8_export
    model, spec = load_trained_model(digits_model)
    raw = load_split_dataset("digits").test.x[:32]  # pixels in [0, 1], (N, 1, 8, 8)
    assert raw.shape[1:] == spec.input_shape == (1, 8, 8) and raw.min() >= 0 and raw.max() <= 1
    with torch.no_grad():
        expected = model(torch.from_numpy(raw)).numpy()
        # The searched network alone wants 3 normalised channels: the graph does that itself.
        normalised = (np.repeat(raw, 3, axis=1) - np.array(spec.mean)[None, :, None, None]) / (
            np.array(spec.std)[None, :, None, None]
        )
        inner = model.network(torch.from_numpy(normalised.astype(np.float32))).numpy()
    fp32 = _session(report["graphs"][0]["fp32_onnx_path"])
    (graph_input,) = fp32.get_inputs()
    assert graph_input.shape[1:] == [1, 8, 8]
    actual = fp32.run(None, {graph_input.name: raw})[0]
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(inner, expected, atol=1e-4, rtol=0)


def test_accuracy_of_every_file_is_measured_on_the_test_split(int8_export, capsys):
    code, out, report = int8_export
    assert code == 0
    assert report["precisions"] == ["fp32", "int8"] and report["precision"] == "int8"
    assert report["model"]["trained"] is True and report["model_label"] == "trained"
    accuracy = report["accuracy"]
    test = load_split_dataset("digits").test
    assert accuracy["data"] == "digits" and accuracy["split"] == "test"
    assert accuracy["images"] == len(test.y)
    files = {item["precision"]: item for item in accuracy["files"]}
    assert set(files) == {"fp32", "int8"}
    # Recomputed here, independently: each file fed the raw test images.
    for item in files.values():
        session = _session(item["path"])
        logits = session.run(None, {session.get_inputs()[0].name: test.x})[0]
        top1 = 100.0 * float(np.mean(logits.argmax(1) == test.y))
        assert item["top1_percent"] == pytest.approx(top1)
        assert item["drop_points"] == pytest.approx(accuracy["pytorch_top1_percent"] - top1)
    assert files["fp32"]["drop_points"] == pytest.approx(0.0)
    assert accuracy["pytorch_top1_percent"] > 80
    graph = report["graphs"][0]
    int8 = next(f for f in graph["files"] if f["precision"] == "int8")
    assert int8["path"].endswith("_int8_qdq.onnx") and (out / "calibration.npy").is_file()
    assert int8["conversion"]["calibration"]["origin"].startswith("256 training images of digits")
    check = int8["check"]
    assert check["judged_by"].startswith("accuracy drop:")
    assert check["passed"] == (files["int8"]["drop_points"] <= 1.0)
    # every file is timed on the device
    assert all(f["latency"]["median_ms"] > 0 for f in graph["files"])


def test_fastest_and_slower_than_fp32_follow_the_measured_latencies(int8_export):
    _, _, report = int8_export
    files = {f["precision"]: f for f in report["graphs"][0]["files"]}
    latency = {p: f["latency"]["median_ms"] for p, f in files.items()}
    drops = {f["precision"]: f["drop_points"] for f in report["accuracy"]["files"]}
    choice = report["choice"]
    assert choice["fastest"] == min(latency, key=latency.get)
    within = [p for p in sorted(latency, key=latency.get) if drops[p] <= 1.0]
    assert choice["fastest_within_drop"] == (within[0] if within else None)
    slower = [s["precision"] for s in choice["slower_than_fp32"]]
    assert slower == (["int8"] if latency["int8"] > latency["fp32"] else [])


def test_console_names_the_files_accuracy_and_choice(digits_model, tmp_path, capsys):
    code = main(["export", "--model", str(digits_model), "--precision", "all",
                 "--max-accuracy-drop", "100", "--out", str(tmp_path / "x"), *FAST])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    assert "trained" in text and "untrained" not in text
    assert "top-1 on digits (test split, 359 images): PyTorch" in text
    for precision in ("fp32", "fp16", "int8"):
        assert f"onnx {precision}: " in text
        assert "measured latency (onnxruntime, " in text and f", {precision}): " in text
    assert "fastest file: " in text and "fastest within 100 point(s) of PyTorch top-1: " in text
    report = json.loads((tmp_path / "x" / "report.json").read_text())
    assert report["precisions"] == ["fp32", "fp16", "int8"]
    if report["choice"]["slower_than_fp32"]:
        assert "is SLOWER than fp32" in text
    markdown = (tmp_path / "x" / "report.md").read_text()
    assert "## Accuracy on digits (test split, 359 images)" in markdown


def test_other_accuracy_data_of_the_same_format(digits_model, heldout_npz, tmp_path):
    out = tmp_path / "x"
    code = main(["export", "--model", str(digits_model), "--accuracy-data",
                 f"npz:{heldout_npz}", "--out", str(out), *FAST])  # fmt: skip
    assert code == 0
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    assert accuracy["data"] == f"npz:{heldout_npz}" and accuracy["images"] == 359


def _with_nan():
    samples = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
    samples[3, 0, 2, 2] = np.nan
    return samples


@pytest.mark.parametrize(
    ("samples", "fragment"),
    [
        (np.full((8, 1, 8, 8), 0.5, np.float32), "every calibration value is 0.5"),
        (_with_nan(), "1 NaN or infinite values"),
    ],
)
def test_bad_calibration_data_is_refused(digits_model, tmp_path, capsys, samples, fragment):
    np.save(tmp_path / "cal.npy", samples)
    code = main(["export", "--model", str(digits_model), "--precision", "int8",
                 "--calibration-data", str(tmp_path / "cal.npy"), "--out", str(tmp_path / "x"),
                 *FAST])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "--calibration-data" in err, err
    assert "Traceback" not in err


def test_accuracy_data_of_another_format_is_refused(digits_model, tmp_path, capsys):
    np.savez(tmp_path / "big.npz", x=np.random.default_rng(0).random((40, 1, 9, 9), np.float32),
             y=np.arange(40) % 10)  # fmt: skip
    code = main(["export", "--model", str(digits_model), "--accuracy-data",
                 f"npz:{tmp_path / 'big.npz'}", "--out", str(tmp_path / "x"), *FAST])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "the model takes (1, 8, 8)" in err, err
