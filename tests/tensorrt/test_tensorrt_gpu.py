"""Real TensorRT on a real GPU: build engines of a small NB201 network, run, compare.

Skipped where TensorRT or a CUDA GPU is missing; run them with ``pytest -m tensorrt``.
"""

import numpy as np
import pytest
from conftest import real_tensorrt_reason

from hwnas.core.export.precision import RELATIVE_TOLERANCE
from hwnas.core.export.tensorrt import TensorRTBuild, build_engine
from profilers import OnnxRuntime, TimingConfig, profile_onnx
from profilers.runtimes.tensorrt import TensorRTRuntime
from profilers.runtimes.tensorrt_engine import EngineMismatchError

pytestmark = [
    pytest.mark.tensorrt,
    pytest.mark.gpu,
    pytest.mark.skipif(real_tensorrt_reason() is not None, reason=str(real_tensorrt_reason())),
]


def _relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_matches_onnxruntime(nb201_onnx, tmp_path, precision):
    _, onnx_path = nb201_onnx
    config = TensorRTBuild(precision=precision, batch_max=8, timing_cache=tmp_path / "timing.cache")
    artifact = build_engine(onnx_path, tmp_path, config)
    assert artifact.metadata["tensorrt_version"]
    assert (tmp_path / "timing.cache").stat().st_size > 0
    x = np.random.default_rng(3).standard_normal((4, 3, 32, 32)).astype(np.float32)
    with OnnxRuntime(intra_op_threads=1).load(onnx_path) as ort:
        (expected,) = ort.run({ort.input_specs[0].name: x})
    with TensorRTRuntime().load(artifact.engine_path) as session:
        (actual,) = session.run({session.input_specs[0].name: x})
    error = _relative_error(actual, expected)
    print(f"TensorRT {precision}: relative error vs ONNX Runtime {error:.2e}")
    assert error < RELATIVE_TOLERANCE[precision]


def test_engine_is_timed_with_cuda_events(nb201_onnx, tmp_path):
    artifact = build_engine(nb201_onnx[1], tmp_path, TensorRTBuild(batch_max=8))
    timing = TimingConfig(warmup_runs=5, warmup_s=0.0, min_runs=20, max_time_s=1.0)
    stats, info = profile_onnx(artifact.engine_path, TensorRTRuntime(), timing, batch_size=4)
    assert stats.median > 0 and info["timer"] == "cuda_events"


def test_engine_from_another_version_is_refused(nb201_onnx, tmp_path):
    import json

    artifact = build_engine(nb201_onnx[1], tmp_path, TensorRTBuild())
    meta = json.loads(artifact.sidecar_path.read_text())
    meta["tensorrt_version"] = "0.0.0"
    artifact.sidecar_path.write_text(json.dumps(meta))
    with pytest.raises(EngineMismatchError, match="TensorRT 0.0.0 built it"):
        TensorRTRuntime().load(artifact.engine_path)
