"""fp16 and int8 (Q/DQ) ONNX conversions of an NB201 network, run for real in ONNX Runtime."""

from collections import Counter

import numpy as np
import pytest

from hwnas.core.export import OnnxExportError
from hwnas.core.export.precision import (
    RELATIVE_TOLERANCE,
    convert_fp16,
    load_calibration,
    quantize_int8_qdq,
)
from profilers import OnnxRuntime


def _run(path, x):
    with OnnxRuntime(intra_op_threads=1).load(path) as session:
        assert session.input_specs[0].dtype == np.float32  # fp32 IO kept
        return session.run({session.input_specs[0].name: x})[0]


@pytest.fixture(scope="module")
def reference(nb201_onnx):
    import torch

    model, path = nb201_onnx
    x = np.random.default_rng(1).standard_normal((8, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    return path, x, expected


def _relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def test_fp32_onnx_matches_pytorch(reference):
    path, x, expected = reference
    assert _relative_error(_run(path, x), expected) < RELATIVE_TOLERANCE["fp32"]


def test_fp16_conversion_within_tolerance(reference, tmp_path):
    import onnx

    path, x, expected = reference
    fp16 = convert_fp16(path, tmp_path / "fp16.onnx")
    model = onnx.load(str(fp16))
    weights = Counter(
        onnx.helper.tensor_dtype_to_np_dtype(i.data_type) for i in model.graph.initializer
    )
    assert weights[np.dtype(np.float16)] > 0 and weights[np.dtype(np.float32)] == 0
    actual = _run(fp16, x)
    error = _relative_error(actual, expected)
    assert 0 < error < RELATIVE_TOLERANCE["fp16"], f"fp16 relative error {error:.2e}"


def test_int8_qdq_within_tolerance(reference, tmp_path):
    import onnx

    path, x, expected = reference
    calibration = np.random.default_rng(2).standard_normal((32, 3, 32, 32)).astype(np.float32)
    int8 = quantize_int8_qdq(path, tmp_path / "int8.onnx", calibration)
    ops = Counter(node.op_type for node in onnx.load(str(int8)).graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["QuantizeLinear"]
    # An untrained network's int8 output error is no deployment check (here 0.41 of the output
    # range with symmetric activations); what int8 must keep is the function: the decisions
    # and the shape of the outputs. A trained model's int8 file is judged by its accuracy drop
    # (tests/export).
    actual = _run(int8, x)
    assert _relative_error(actual, expected) > 0  # it was quantised
    agree = float(np.mean(actual.argmax(1) == expected.argmax(1)))
    correlation = float(np.corrcoef(actual.ravel(), expected.ravel())[0, 1])
    assert agree >= 7 / 8 and correlation > 0.9, (agree, correlation)


def test_int8_needs_fitting_calibration_samples(reference, tmp_path):
    path, _, _ = reference
    with pytest.raises(OnnxExportError, match="do not fit"):
        quantize_int8_qdq(path, tmp_path / "q.onnx", np.zeros((4, 3, 16, 16), np.float32))
    with pytest.raises(OnnxExportError, match="do not fit"):
        quantize_int8_qdq(path, tmp_path / "q.onnx", np.zeros((0, 3, 32, 32), np.float32))


def test_calibration_files_are_read_without_pickle(tmp_path):
    good = tmp_path / "cal.npy"
    np.save(good, np.ones((2, 3), np.float64))
    assert load_calibration(good).dtype == np.float32
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(OnnxExportError, match="cannot read"):
        load_calibration(objects)
