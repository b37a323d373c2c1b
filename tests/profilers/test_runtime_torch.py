"""PyTorch runtimes: the runtime contract over every torch-format runtime, and torch specifics."""

import json
from unittest import mock

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed")

from profilers import (  # noqa: E402
    ConfigError,
    ModelLoadError,
    RuntimeUnavailableError,
    SessionClosedError,
    TimingConfig,
    create_runtime,
    list_runtimes,
    time_callable,
)
from profilers.runtimes import InputSpec  # noqa: E402
from profilers.runtimes.cuda import CudaEventTimer  # noqa: E402
from profilers.runtimes.torch import TorchModel, TorchRuntime  # noqa: E402

WEIGHT = np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0  # as in conftest.write_tiny_onnx
SPECS = (InputSpec("x", ("N", 4), np.dtype(np.float32)),)


class TinyNet(torch.nn.Module):
    """``y = relu(x @ W)``, the model of the ONNX contract test."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.from_numpy(WEIGHT.copy()))

    def forward(self, x):
        return torch.relu(x @ self.weight)


def tiny_model(**kwargs):
    return TorchModel(build=TinyNet, inputs=SPECS, name="tiny", **kwargs)


def _unavailable(name):
    try:
        create_runtime(name).describe()
    except RuntimeUnavailableError as exc:
        return str(exc)
    return None


TORCH_RUNTIMES = [n for n in list_runtimes() if create_runtime(n).model_format == "torch"]


@pytest.fixture(
    params=[
        pytest.param(
            name,
            marks=[
                pytest.mark.skipif(
                    _unavailable(name) is not None,
                    reason=f"{name} unavailable: {_unavailable(name)}",
                )
            ]
            + ([pytest.mark.gpu] if name != "torch" else []),
        )
        for name in TORCH_RUNTIMES
    ]
)
def runtime(request):
    if request.param == "torch":
        return create_runtime("torch", threads=1)
    return create_runtime(request.param)


def test_torch_runtimes_are_registered():
    assert {"torch", "torch-cudagraph"} <= set(TORCH_RUNTIMES)


def test_torch_runtime_contract(runtime):
    info = runtime.describe()
    assert json.loads(json.dumps(info)) == info
    assert info["version"] == torch.__version__ and info["precision"] == "fp32"
    with runtime.load(tiny_model()) as session:
        (spec,) = session.input_specs
        assert spec.name == "x" and not isinstance(spec.shape[0], int)
        inputs = session.random_inputs(batch_size=3, seed=1)
        (y,) = session.run(inputs)
        np.testing.assert_allclose(y, np.maximum(inputs["x"] @ WEIGHT, 0), rtol=1e-5, atol=1e-5)
        stats = time_callable(
            session.prepare(inputs),
            TimingConfig(warmup_runs=2, warmup_s=0, min_runs=6, max_runs=20),
            timer=session.timer(),
        )
        assert stats.n >= 6 and stats.median_ms > 0
    with pytest.raises(SessionClosedError):
        session.run(inputs)
    session.close()  # idempotent


def test_torch_runtime_refuses_files_and_bad_builds(runtime, tiny_onnx):
    with pytest.raises(ModelLoadError, match="onnxruntime"):
        runtime.load(tiny_onnx)
    with pytest.raises(ModelLoadError, match="ZeroDivisionError"):
        runtime.load(TorchModel(build=lambda: 1 / 0, inputs=SPECS))
    with pytest.raises(ModelLoadError, match="must return a torch.nn.Module"):
        runtime.load(TorchModel(build=lambda: "net", inputs=SPECS))


def test_weights_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    trained = TinyNet()
    with torch.no_grad():
        trained.weight.mul_(2.0)
    path = tmp_path / "tiny.safetensors"
    save_file(trained.state_dict(), str(path))
    runtime = TorchRuntime(threads=1)
    with runtime.load(tiny_model(weights=path)) as session:
        x = session.random_inputs(2)
        np.testing.assert_allclose(
            session.run(x)[0], np.maximum(x["x"] @ (2 * WEIGHT), 0), rtol=1e-5, atol=1e-5
        )
        assert session.model_path == path

    with pytest.raises(ModelLoadError, match="not found"):
        runtime.load(tiny_model(weights=tmp_path / "missing.safetensors"))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="garbage.safetensors"):
        runtime.load(tiny_model(weights=garbage))
    other = tmp_path / "other.safetensors"
    save_file({"bias": torch.zeros(3)}, str(other))
    with pytest.raises(ModelLoadError, match="do not fit 'tiny'"):
        runtime.load(tiny_model(weights=other))


def test_threads_precision_and_outputs():
    runtime = TorchRuntime(threads=1, precision="bf16")
    assert (
        runtime.describe()["threads"] == 1 and runtime.describe()["timer"] == "host_perf_counter_ns"
    )

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return {"double": 2 * x, "sum": x.sum(dim=1)}

    model = TorchModel(build=TwoHeads, inputs=SPECS)
    with runtime.load(model) as session:
        assert torch.get_num_threads() == 1
        x = session.random_inputs(2)
        double, total = session.run(x)
        assert double.dtype == np.float32 and total.shape == (2,)  # bf16 comes back as fp32
        np.testing.assert_allclose(double, 2 * x["x"], rtol=1e-2)
        with pytest.raises(ModelLoadError, match="missing"):
            session.run({"y": x["x"]})


@pytest.mark.parametrize(
    "kwargs",
    [{"device": "gpu"}, {"device": "cuda:x"}, {"threads": 0}, {"precision": "int8"}],
)
def test_torch_runtime_rejects_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        TorchRuntime(**kwargs)


def test_torch_model_is_validated():
    with pytest.raises(ConfigError, match="callable"):
        TorchModel(build=None, inputs=SPECS)
    with pytest.raises(ConfigError, match="InputSpec"):
        TorchModel(build=TinyNet, inputs=())


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_cuda_runtimes_say_why_they_cannot_run():
    with pytest.raises(RuntimeUnavailableError, match="CUDA"):
        create_runtime("torch-cudagraph").describe()
    with pytest.raises(RuntimeUnavailableError, match="CUDA"):
        TorchRuntime(device="cuda").load(tiny_model())
    with pytest.raises(ConfigError, match="CUDA graphs need a CUDA device"):
        create_runtime("torch-cudagraph", device="cpu")


def test_cuda_event_timer_records_around_the_call_and_synchronises():
    calls = []
    with (
        mock.patch("torch.cuda.Event", autospec=True) as event_cls,
        mock.patch("torch.cuda.current_stream", autospec=True) as current_stream,
        mock.patch("torch.cuda.synchronize", autospec=True) as synchronize,
    ):
        start, end = mock.MagicMock(name="start"), mock.MagicMock(name="end")
        event_cls.side_effect = [start, end]
        start.record.side_effect = lambda stream: calls.append("start")
        end.record.side_effect = lambda stream: calls.append("end")
        end.synchronize.side_effect = lambda: calls.append("sync")
        start.elapsed_time.return_value = 1.25  # ms
        timer = CudaEventTimer("cuda:0")
        assert timer.time_ns(lambda: calls.append("run")) == 1_250_000
        assert calls == ["start", "run", "end", "sync"]
        start.elapsed_time.assert_called_once_with(end)
        start.record.assert_called_once_with(current_stream.return_value)
        event_cls.assert_called_with(enable_timing=True)
        timer.synchronize()
        synchronize.assert_called_once_with(torch.device("cuda:0"))


def test_cuda_graph_session_captures_once_per_shape_and_replays():
    """The capture/replay logic on the CPU, with torch's CUDA graph API mocked by autospec."""
    from profilers.runtimes.torch import CUDA_GRAPH_WARMUP_RUNS, CudaGraphSession

    net = TinyNet()
    forward_calls = []
    net.register_forward_hook(lambda module, args, out: forward_calls.append(args[0].shape))
    runtime = TorchRuntime(threads=1)  # a CPU runtime stands in for the GPU one
    with (
        mock.patch("torch.cuda.Stream", autospec=True),
        mock.patch("torch.cuda.current_stream", autospec=True),
        mock.patch("torch.cuda.stream", autospec=True),
        mock.patch("torch.cuda.graph", autospec=True),
        mock.patch("torch.cuda.CUDAGraph", autospec=True) as graph_cls,
    ):
        session = CudaGraphSession(runtime, tiny_model(), net.eval())
        x2 = session.random_inputs(2, seed=0)
        replay = session.prepare(x2)
        assert len(forward_calls) == CUDA_GRAPH_WARMUP_RUNS + 1  # warm-up, then capture
        assert replay == graph_cls.return_value.replay
        # A run with new values of the same shape reuses the graph: the values are copied into
        # its static input and the static output (computed here eagerly) is returned.
        (y,) = session.run(session.random_inputs(2, seed=1))
        assert len(forward_calls) == CUDA_GRAPH_WARMUP_RUNS + 1 and graph_cls.call_count == 1
        graph_cls.return_value.replay.assert_called_once_with()
        static_in = session._graphs[(((2, 4), torch.float32),)][1][0]
        np.testing.assert_array_equal(static_in.numpy(), session.random_inputs(2, seed=1)["x"])
        assert y.shape == (2, 3)
        session.run(session.random_inputs(5))  # a new shape: a second capture
        assert graph_cls.call_count == 2
        session.close()
        assert session._graphs == {}
