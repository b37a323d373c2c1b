"""Shared fixtures of the profilers tests: a tiny ONNX model built with ``onnx.helper``."""

from pathlib import Path

import pytest

from profilers import TimingConfig

IN_FEATURES, OUT_FEATURES = 4, 3


def write_tiny_onnx(path: Path, batch_dim="N") -> Path:
    """Write ``y = relu(x @ W)`` with ``x: (batch_dim, 4)`` float32 and a fixed ``W``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.arange(IN_FEATURES * OUT_FEATURES, dtype=np.float32).reshape(4, 3) - 5.0
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["h"]),
            helper.make_node("Relu", ["h"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_dim, IN_FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch_dim, OUT_FEATURES])],
        initializer=[numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_onnx(tmp_path):
    """Path of a tiny MatMul+Relu ONNX model with a dynamic batch axis."""
    return write_tiny_onnx(tmp_path / "tiny.onnx")


@pytest.fixture
def tiny_onnx_factory(tmp_path):
    """Function writing tiny ONNX models under ``tmp_path`` (``name``, ``batch_dim``)."""

    def make(name="tiny.onnx", batch_dim="N"):
        return write_tiny_onnx(tmp_path / name, batch_dim)

    return make


@pytest.fixture
def fast_timing():
    """A TimingConfig that keeps each timed model to a few milliseconds."""
    return TimingConfig(
        warmup_runs=2, warmup_s=0.0, min_runs=6, max_runs=30, max_time_s=0.2, target_rel_ci=0.5
    )
