"""Runtime registry, the contract every registered runtime meets, and onnxruntime specifics."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from profilers import (
    ConfigError,
    ModelLoadError,
    OnnxRuntime,
    Runtime,
    RuntimeUnavailableError,
    SessionClosedError,
    UnknownRuntimeError,
    create_runtime,
    list_runtimes,
    register_runtime,
)
from profilers import runtimes as registry
from profilers.runtimes import InputSpec, random_inputs

REPO = Path(__file__).resolve().parents[2]
WEIGHT = np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0  # as in conftest.write_tiny_onnx


# -- registry -------------------------------------------------------------------------------


def test_onnxruntime_is_registered():
    assert "onnxruntime" in list_runtimes()
    runtime = create_runtime("onnxruntime", intra_op_threads=1)
    assert isinstance(runtime, OnnxRuntime) and runtime.name == "onnxruntime"
    assert runtime.intra_op_threads == 1


def test_unknown_runtime_lists_known_ones():
    with pytest.raises(UnknownRuntimeError, match="known runtimes: .*onnxruntime"):
        create_runtime("tensorflow-lite")


def test_register_runtime_contract(monkeypatch):
    monkeypatch.setattr(registry, "_RUNTIMES", dict(registry._RUNTIMES))

    @register_runtime("fake")
    class Fake(Runtime):
        def describe(self):
            return {"runtime": "fake"}

        def load(self, model_path):
            raise ModelLoadError(str(model_path))

    assert Fake.name == "fake" and "fake" in list_runtimes()
    assert isinstance(create_runtime("fake"), Fake)

    with pytest.raises(ValueError, match="already registered"):

        @register_runtime("fake")
        class Other(Runtime):
            def describe(self):
                return {}

            def load(self, model_path):
                raise ModelLoadError(str(model_path))

    with pytest.raises(TypeError, match="Runtime subclasses"):
        register_runtime("instance")(Fake())
    with pytest.raises(ValueError, match="lowercase"):
        register_runtime("TensorRT")


# -- contract over every registered runtime ------------------------------------------------


def _unavailable(name: str) -> str | None:
    """Why the registered runtime `name` cannot run here, or None if it can."""
    try:
        create_runtime(name).describe()
    except RuntimeUnavailableError as exc:
        return str(exc)
    return None


@pytest.fixture(
    params=[
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                _unavailable(name) is not None,
                reason=f"{name} unavailable here: {_unavailable(name)}",
            ),
        )
        for name in list_runtimes()
        if create_runtime(name).model_format == "onnx"  # torch runtimes: test_runtime_torch.py
    ]
)
def runtime(request):
    return create_runtime(request.param)


def test_runtime_contract(runtime, tiny_onnx):
    info = runtime.describe()
    assert json.loads(json.dumps(info)) == info
    assert "version" in info
    with runtime.load(tiny_onnx) as session:
        (spec,) = session.input_specs
        assert spec.name == "x" and spec.shape[1] == 4 and spec.dtype == np.float32
        assert not isinstance(spec.shape[0], int)  # dynamic batch axis
        inputs = session.random_inputs(batch_size=3, seed=1)
        assert inputs["x"].shape == (3, 4) and inputs["x"].dtype == np.float32
        (y,) = session.run(inputs)
        np.testing.assert_allclose(y, np.maximum(inputs["x"] @ WEIGHT, 0), rtol=1e-5, atol=1e-5)
        again = session.random_inputs(batch_size=3, seed=1)
        np.testing.assert_array_equal(again["x"], inputs["x"])
    with pytest.raises(SessionClosedError):
        session.run(inputs)
    session.close()  # idempotent


def test_runtime_missing_model(runtime, tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(ModelLoadError, match="missing.onnx"):
        runtime.load(missing)


def test_runtime_corrupt_model(runtime, tmp_path, tiny_onnx):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(ModelLoadError, match="garbage.onnx"):
        runtime.load(garbage)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(tiny_onnx.read_bytes()[: tiny_onnx.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="cut.onnx"):
        runtime.load(cut)


# -- onnxruntime specifics ------------------------------------------------------------------


def test_onnxruntime_describe_records_threads_and_providers(tiny_onnx):
    import onnxruntime

    runtime = OnnxRuntime(intra_op_threads=2, inter_op_threads=1, graph_optimization="basic")
    with runtime.load(tiny_onnx) as session:
        assert session.providers == ("CPUExecutionProvider",)
    info = runtime.describe()
    assert info["version"] == onnxruntime.__version__
    assert info["intra_op_threads"] == 2 and info["inter_op_threads"] == 1
    assert info["execution_mode"] == "sequential"
    assert info["graph_optimization"] == "basic"
    assert info["providers"] == ["CPUExecutionProvider"]


def test_onnxruntime_session_options_are_explicit():
    import onnxruntime

    options = OnnxRuntime(intra_op_threads=3, inter_op_threads=2).session_options()
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 2
    assert options.execution_mode == onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_onnxruntime_default_threads_are_usable_cores():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert OnnxRuntime().intra_op_threads == expected


def test_onnxruntime_missing_provider(tiny_onnx):
    runtime = OnnxRuntime(providers=("NoSuchExecutionProvider",))
    with pytest.raises(RuntimeUnavailableError, match="NoSuchExecutionProvider"):
        runtime.load(tiny_onnx)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"intra_op_threads": 0},
        {"inter_op_threads": 0},
        {"graph_optimization": "max"},
        {"providers": "CPUExecutionProvider"},
        {"providers": ()},
    ],
)
def test_onnxruntime_rejects_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        OnnxRuntime(**kwargs)


def test_onnxruntime_not_installed_says_pip_install(tiny_onnx):
    # A fresh interpreter where `import onnxruntime` fails, as on a machine without it.
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from profilers import OnnxRuntime, RuntimeUnavailableError\n"
        "try:\n"
        f"    OnnxRuntime(intra_op_threads=1).load({str(tiny_onnx)!r})\n"
        "except RuntimeUnavailableError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "pip install onnxruntime" in out.stdout


def test_fixed_batch_model(tiny_onnx_factory):
    path = tiny_onnx_factory("fixed.onnx", batch_dim=2)
    with OnnxRuntime(intra_op_threads=1).load(path) as session:
        assert session.random_inputs(batch_size=2)["x"].shape == (2, 4)
        with pytest.raises(ModelLoadError, match="fixed batch axis of 2"):
            session.random_inputs(batch_size=4)


# -- random inputs (pure) -------------------------------------------------------------------


def test_random_inputs_fill_dynamic_axes_and_dtypes():
    specs = (
        InputSpec("ids", ("batch", "seq"), np.dtype(np.int64)),
        InputSpec("mask", ("batch", "seq"), np.dtype(np.bool_)),
        InputSpec("feat", (None, 3, "batch"), np.dtype(np.float16)),
    )
    inputs = random_inputs(specs, batch_size=2, seed=0, dims={"seq": 5})
    assert inputs["ids"].shape == (2, 5) and inputs["ids"].dtype == np.int64
    assert inputs["ids"].min() >= 0 and inputs["ids"].max() < 8
    assert inputs["mask"].dtype == np.bool_
    assert inputs["feat"].shape == (2, 3, 2) and inputs["feat"].dtype == np.float16
    with pytest.raises(ModelLoadError, match="seq"):
        random_inputs(specs, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        random_inputs(specs, batch_size=0, dims={"seq": 5})
    with pytest.raises(ModelLoadError, match="cannot make random"):
        random_inputs((InputSpec("s", (1,), np.dtype(object)),))
