"""The ``tensorrt`` runtime against autospec mocks of the 10.x and 11.x bindings.

The mocked engine computes for real: ``execute_async_v3`` reads the input from the address
the session bound with ``set_tensor_address``, runs the ONNX file with ONNX Runtime and
writes the result to the bound output address, so shapes, dtypes, addresses and the copy back
are all checked against ONNX Runtime's output.
"""

import ctypes
import json

import numpy as np
import pytest
from conftest import GPU
from test_builder import ENGINE, wire_network

from hwnas.core.export import tensorrt as export_trt
from hwnas.core.export.tensorrt import TensorRTBuild, build_engine
from profilers import OnnxRuntime, create_runtime, list_runtimes
from profilers.errors import ModelLoadError, RuntimeUnavailableError, SessionClosedError
from profilers.runtimes import tensorrt as runtime_trt
from profilers.runtimes.tensorrt import TensorRTRuntime, TensorRTSession
from profilers.runtimes.tensorrt_engine import EngineMismatchError, GpuInfo


class HostStream:
    """Stands in for a torch CUDA stream: a handle and a synchronize()."""

    cuda_stream = 0x5EED

    def __init__(self):
        self.synchronized = 0

    def synchronize(self):
        self.synchronized += 1


def wire_engine(fake, onnx_path, num_classes=10):
    """An ICudaEngine mock with input ``input`` and output ``logits`` that runs ``onnx_path``."""
    trt = fake.module
    engine = fake.instance("ICudaEngine")
    context = fake.instance("IExecutionContext")
    names = ["input", "logits"]
    engine.num_io_tensors = 2
    engine.get_tensor_name.side_effect = lambda index: names[index]
    engine.get_tensor_mode.side_effect = lambda name: (
        trt.TensorIOMode.INPUT if name == "input" else trt.TensorIOMode.OUTPUT
    )
    engine.get_tensor_dtype.side_effect = lambda name: trt.DataType.FLOAT
    engine.get_tensor_shape.side_effect = lambda name: (
        (-1, 3, 32, 32) if name == "input" else (-1, num_classes)
    )
    shapes, addresses = {}, {}

    def set_input_shape(name, shape):
        shapes[name] = tuple(shape)
        return True

    def set_tensor_address(name, memory):
        addresses[name] = memory
        return True

    ort = OnnxRuntime(intra_op_threads=1).load(onnx_path)

    def execute_async_v3(stream_handle):
        assert stream_handle == HostStream.cuda_stream
        shape = shapes["input"]
        count = int(np.prod(shape))
        x = np.ctypeslib.as_array((ctypes.c_float * count).from_address(addresses["input"]))
        (y,) = ort.run({ort.input_specs[0].name: x.reshape(shape).copy()})
        out = (ctypes.c_float * y.size).from_address(addresses["logits"])
        np.ctypeslib.as_array(out)[:] = y.ravel()
        return True

    context.set_input_shape.side_effect = set_input_shape
    context.set_tensor_address.side_effect = set_tensor_address
    context.get_tensor_shape.side_effect = lambda name: (shapes["input"][0], num_classes)
    context.execute_async_v3.side_effect = execute_async_v3
    fake.instance("Runtime").deserialize_cuda_engine.side_effect = None
    fake.instance("Runtime").deserialize_cuda_engine.return_value = engine
    return engine, context


@pytest.fixture
def on_fake_gpu(fake_trt, monkeypatch):
    """TensorRT replaced by the mock of one generation, a GPU by ``GPU``, CUDA by the host."""
    for module in (export_trt, runtime_trt):
        monkeypatch.setattr(module, "import_tensorrt", lambda: fake_trt.module)
        monkeypatch.setattr(module, "cuda_gpu", lambda index=0: GPU)
    monkeypatch.setattr(runtime_trt, "cuda_stream", lambda gpu: (HostStream(), "cpu"))
    wire_network(fake_trt)
    return fake_trt


@pytest.fixture
def engine_file(on_fake_gpu, nb201_onnx, tmp_path):
    return build_engine(nb201_onnx[1], tmp_path, TensorRTBuild(batch_max=8)).engine_path


def test_tensorrt_is_registered_and_says_what_to_install():
    assert "tensorrt" in list_runtimes()
    runtime = create_runtime("tensorrt")
    assert isinstance(runtime, TensorRTRuntime)
    with pytest.raises(RuntimeUnavailableError, match=r"pip install hwnas\[tensorrt\].*NVIDIA"):
        runtime.describe()


def test_describe(on_fake_gpu):
    info = TensorRTRuntime().describe()
    assert json.loads(json.dumps(info)) == info
    assert info["version"] == on_fake_gpu.version and info["api_major"] == on_fake_gpu.major
    assert info["gpu_name"] == GPU.name and info["compute_capability"] == "9.0"
    assert info["timer"] == "cuda_events"


def test_engine_runs_and_matches_onnxruntime(on_fake_gpu, nb201_onnx, engine_file):
    fake = on_fake_gpu
    _, onnx_path = nb201_onnx
    engine, context = wire_engine(fake, onnx_path)
    with TensorRTRuntime().load(engine_file) as session:
        fake.module.Runtime.assert_called_once()
        fake.instance("Runtime").deserialize_cuda_engine.assert_called_once_with(ENGINE)
        engine.create_execution_context.assert_called_once_with()
        (spec,) = session.input_specs
        assert spec.name == "input" and spec.shape == ("batch", 3, 32, 32)
        inputs = session.random_inputs(batch_size=3, seed=2)
        (y,) = session.run(inputs)
        with OnnxRuntime(intra_op_threads=1).load(onnx_path) as ort:
            (expected,) = ort.run({ort.input_specs[0].name: inputs["input"]})
        assert y.shape == (3, 10) and y.dtype == np.float32
        np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
        assert context.set_input_shape.call_args.args == ("input", (3, 3, 32, 32))

        run_once = session.prepare(session.random_inputs(batch_size=2))
        calls = context.set_tensor_address.call_count
        run_once()
        run_once()
        assert context.set_tensor_address.call_count == calls  # bound once, not per run
        assert context.execute_async_v3.call_count == 3
    with pytest.raises(SessionClosedError):
        session.run(inputs)


def test_shape_outside_the_profile_is_an_error(on_fake_gpu, nb201_onnx, engine_file):
    _, context = wire_engine(on_fake_gpu, nb201_onnx[1])
    context.set_input_shape.side_effect = lambda name, shape: False
    with (
        TensorRTRuntime().load(engine_file) as session,
        pytest.raises(ModelLoadError, match="optimisation profile"),
    ):
        session.run(session.random_inputs(batch_size=64))


def test_onnx_files_are_built_then_run(on_fake_gpu, nb201_onnx):
    fake = on_fake_gpu
    wire_engine(fake, nb201_onnx[1])
    with TensorRTRuntime().load(nb201_onnx[1]) as session:
        assert session.run(session.random_inputs(batch_size=1))[0].shape == (1, 10)
    fake.instance("Builder").build_serialized_network.assert_called_once()
    fake.instance("Runtime").deserialize_cuda_engine.assert_called_once_with(ENGINE)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("tensorrt_version", "9.9.9.9", "TensorRT 9.9.9.9 built it"),
        ("gpu", {"name": GPU.name, "compute_capability": "8.6"}, "compute capability 8.6"),
        ("gpu", {"name": "NVIDIA A10", "compute_capability": "9.0"}, "'NVIDIA A10'"),
    ],
)
def test_mismatched_engine_is_refused_before_deserialising(
    on_fake_gpu, engine_file, field, value, named
):
    sidecar = engine_file.with_name(engine_file.name + ".json")
    meta = json.loads(sidecar.read_text())
    meta[field] = value
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(EngineMismatchError, match="cannot run here") as info:
        TensorRTRuntime().load(engine_file)
    message = str(info.value)
    assert named in message
    here = on_fake_gpu.version if field == "tensorrt_version" else GPU.name
    if field == "gpu" and value["compute_capability"] != GPU.compute_capability:
        here = GPU.compute_capability
    assert here in message  # names what is here as well as what the engine was built for
    on_fake_gpu.instance("Runtime").deserialize_cuda_engine.assert_not_called()


def test_altered_or_unlabelled_engines_are_refused(on_fake_gpu, engine_file, tmp_path):
    engine_file.write_bytes(ENGINE + b"x")
    with pytest.raises(ModelLoadError, match="sha256"):
        TensorRTRuntime().load(engine_file)
    bare = tmp_path / "bare.engine"
    bare.write_bytes(ENGINE)
    with pytest.raises(ModelLoadError, match="no metadata file bare.engine.json"):
        TensorRTRuntime().load(bare)
    with pytest.raises(ModelLoadError, match="not found"):
        TensorRTRuntime().load(tmp_path / "missing.engine")
    on_fake_gpu.instance("Runtime").deserialize_cuda_engine.assert_not_called()


def test_undeserialisable_engine(on_fake_gpu, engine_file):
    deserialize = on_fake_gpu.instance("Runtime").deserialize_cuda_engine
    deserialize.side_effect, deserialize.return_value = None, None
    with pytest.raises(ModelLoadError, match="cannot deserialise"):
        TensorRTRuntime().load(engine_file)


def test_session_rejects_unfeedable_dtypes(on_fake_gpu, nb201_onnx):
    fake = on_fake_gpu
    engine, _ = wire_engine(fake, nb201_onnx[1])
    engine.get_tensor_dtype.side_effect = lambda name: fake.module.DataType.FP8
    with pytest.raises(ModelLoadError, match="FP8"):
        TensorRTSession(nb201_onnx[1], engine, HostStream(), "cpu")


def test_mismatch_check_is_pure():
    from profilers.runtimes.tensorrt_engine import engine_mismatch

    meta = {
        "tensorrt_version": "10.16.1.11",
        "gpu": {"name": GPU.name, "compute_capability": "9.0"},
    }
    assert engine_mismatch(meta, "10.16.1.11", GPU) is None
    other = GpuInfo("NVIDIA GeForce RTX 4090", "8.9", 1)
    problem = engine_mismatch(meta, "11.4.0.106", other)
    assert "TensorRT 10.16.1.11 built it, TensorRT 11.4.0.106 is here" in problem
    assert "compute capability 9.0, GPU 1 here has 8.9" in problem
    assert "'NVIDIA GeForce RTX 4090'" in problem


def test_unsupported_tensorrt_generation_is_refused(monkeypatch):
    import sys
    import types

    from profilers.runtimes.tensorrt_engine import import_tensorrt

    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="8.6.1"))
    with pytest.raises(RuntimeUnavailableError, match="TensorRT 8.6.1 is installed.*10.x and 11.x"):
        import_tensorrt()


def test_missing_gpu_says_what_is_needed(fake_trt, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    monkeypatch.setattr(runtime_trt, "import_tensorrt", lambda: fake_trt.module)
    with pytest.raises(RuntimeUnavailableError, match="needs a CUDA GPU.*CUDA build of torch"):
        TensorRTRuntime().describe()
