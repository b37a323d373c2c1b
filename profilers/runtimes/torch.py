"""PyTorch runtimes: eager execution on a CPU or CUDA GPU, and CUDA graph replay.

They load a ``TorchModel`` (a factory building the ``nn.Module``, its inputs and optionally
safetensors weights) rather than a file: a module is code, and hwnas never unpickles a model
file a user hands in. CPU runs are timed on the host with ``perf_counter_ns``; CUDA runs with
CUDA events (``profilers.runtimes.cuda.CudaEventTimer``) on inputs already on the GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from devices.fingerprint import usable_cores
from profilers.errors import ConfigError, ModelLoadError, SessionClosedError
from profilers.runtimes import register_runtime
from profilers.runtimes.base import InputSpec, Runtime, Session
from profilers.runtimes.cuda import CudaEventTimer, cuda_describe, import_torch, require_cuda
from profilers.timing import HostTimer, Timer

PRECISIONS = ("fp32", "fp16", "bf16")
CUDA_GRAPH_WARMUP_RUNS = 3  # eager runs on a side stream before capture, as torch.cuda.graphs asks


@dataclass(frozen=True)
class TorchModel:
    """A PyTorch network to time: how to build it, what it takes, and optionally its weights.

    Attributes:
        build: Zero-argument callable returning the ``torch.nn.Module``.
        inputs: The forward arguments in order; axis 0 is the batch axis.
        weights: A safetensors file with the module's state dict, loaded strictly; None keeps
            the weights ``build`` made.
        name: Label of the model in errors and descriptions.
    """

    build: Callable[[], Any]
    inputs: tuple[InputSpec, ...]
    weights: Path | None = None
    name: str = "model"

    def __post_init__(self) -> None:
        if not callable(self.build):
            raise ConfigError(f"TorchModel.build must be callable, got {self.build!r}")
        inputs = tuple(self.inputs)
        if not inputs or not all(isinstance(spec, InputSpec) for spec in inputs):
            raise ConfigError(
                f"TorchModel.inputs must be a non-empty sequence of InputSpec, got {self.inputs!r}"
            )
        object.__setattr__(self, "inputs", inputs)
        if self.weights is not None:
            object.__setattr__(self, "weights", Path(self.weights))
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"TorchModel.name must be a non-empty string, got {self.name!r}")


def _torch_dtype(torch: ModuleType, precision: str) -> Any:
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def _to_numpy(tensor: Any) -> np.ndarray:
    tensor = tensor.detach()
    if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16
        tensor = tensor.float()
    return tensor.cpu().numpy()


def _outputs(result: Any) -> list[Any]:
    """Flatten a forward result (tensor, tuple/list, or dict in insertion order) to tensors."""
    if isinstance(result, Mapping):
        return list(result.values())
    if isinstance(result, (tuple, list)):
        return list(result)
    return [result]


class TorchSession(Session):
    """A module in eval mode on its device, run under ``torch.inference_mode``."""

    def __init__(self, runtime: TorchRuntime, model: TorchModel, module: Any) -> None:
        self.model_path = model.weights  # type: ignore[assignment]  # None: no weights file
        self.model = model
        self._runtime = runtime
        self._torch = runtime.torch
        self._module = module

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        """Return the forward arguments in order."""
        return self.model.inputs

    def _check_open(self) -> Any:
        if self._module is None:
            raise SessionClosedError(f"session for {self.model.name!r} is closed; load it again")
        return self._module

    def _tensors(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        """Return the inputs as tensors on the device, floats cast to the runtime's precision."""
        missing = [spec.name for spec in self.input_specs if spec.name not in inputs]
        if missing:
            raise ModelLoadError(
                f"{self.model.name!r}: inputs {missing} are missing; it takes "
                f"{[spec.name for spec in self.input_specs]}"
            )
        torch = self._torch
        dtype = _torch_dtype(torch, self._runtime.precision)
        tensors = []
        for spec in self.input_specs:
            tensor = torch.from_numpy(np.ascontiguousarray(inputs[spec.name]))
            if tensor.is_floating_point():
                tensor = tensor.to(dtype)
            tensors.append(tensor.to(self._runtime.device))
        return tensors

    def _forward(self, tensors: list[Any]) -> Any:
        with self._torch.inference_mode():
            return self._check_open()(*tensors)

    def run(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference and return the outputs (tensor, tuple or dict values) in order."""
        self._check_open()
        self._runtime.apply_threads()
        return [_to_numpy(out) for out in _outputs(self._forward(self._tensors(inputs)))]

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """Place the inputs on the device once; return a call running the forward pass."""
        self._check_open()
        self._runtime.apply_threads()
        tensors = self._tensors(inputs)
        return lambda: self._forward(tensors)

    def timer(self) -> Timer:
        """Return CUDA events on a GPU, host ``perf_counter_ns`` on a CPU."""
        if self._runtime.is_cuda:
            return CudaEventTimer(self._runtime.device)
        return HostTimer()

    def close(self) -> None:
        """Drop the module (and on a GPU its memory, with the last reference). Idempotent."""
        self._module = None


@register_runtime("torch")
class TorchRuntime(Runtime):
    """PyTorch eager execution of a ``TorchModel``.

    Args:
        device: ``"cpu"`` or a CUDA device such as ``"cuda"`` or ``"cuda:1"``.
        threads: Intra-op threads on a CPU (``torch.set_num_threads``, which is process-wide
            and set again before each session runs); default the cores this process may use.
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"``: the module and float inputs are cast.
    """

    model_format = "torch"

    def __init__(
        self, device: str = "cpu", threads: int | None = None, precision: str = "fp32"
    ) -> None:
        if not isinstance(device, str) or not (
            device == "cpu" or device == "cuda" or _is_cuda_index(device)
        ):
            raise ConfigError(
                f"{type(self).__name__}: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}"
            )
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ConfigError(
                f"{type(self).__name__}: threads must be an integer >= 1 or None, got {threads!r}"
            )
        if precision not in PRECISIONS:
            raise ConfigError(
                f"{type(self).__name__}: precision must be one of {list(PRECISIONS)}, "
                f"got {precision!r}"
            )
        self.device = "cuda:0" if device == "cuda" else device
        self.threads = threads or usable_cores()
        self.precision = precision
        self._torch: ModuleType | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(device={self.device!r}, threads={self.threads}, "
            f"precision={self.precision!r})"
        )

    @property
    def is_cuda(self) -> bool:
        """Whether the runtime runs on a CUDA GPU."""
        return self.device.startswith("cuda")

    @property
    def torch(self) -> ModuleType:
        """Return torch, checked to reach the device (imported on first use)."""
        if self._torch is None:
            torch = import_torch(self.name)
            if self.is_cuda:
                require_cuda(torch, self.name, self.device)
            self._torch = torch
        return self._torch

    def apply_threads(self) -> None:
        """Set torch's intra-op threads to this runtime's (CPU only; GPU work ignores it)."""
        if not self.is_cuda and self.torch.get_num_threads() != self.threads:
            self.torch.set_num_threads(self.threads)

    def describe(self) -> dict[str, Any]:
        """Return version, device, precision, threads and timer (plus CUDA facts on a GPU).

        Raises:
            RuntimeUnavailableError: If torch is missing or the CUDA device is not usable.
        """
        torch = self.torch
        info: dict[str, Any] = {
            "runtime": self.name,
            "version": torch.__version__,
            "device": self.device,
            "precision": self.precision,
            "threads": self.threads if not self.is_cuda else None,
            "interop_threads": torch.get_num_interop_threads() if not self.is_cuda else None,
            "execution": "eager",
            "timer": CudaEventTimer.kind if self.is_cuda else HostTimer.kind,
        }
        if self.is_cuda:
            info.update(cuda_describe(torch, self.device))
            info["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
            info["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
        return info

    def _build(self, model: TorchModel) -> Any:
        """Build the module, load its weights, cast and move it; errors become ModelLoadError."""
        if not isinstance(model, TorchModel):
            raise ModelLoadError(
                f"the {self.name!r} runtime loads a TorchModel(build=..., inputs=...), got "
                f"{model!r}; time ONNX files with the 'onnxruntime' runtime"
            )
        torch = self.torch
        try:
            module = model.build()
        except Exception as exc:  # user code: any error is a model that cannot be loaded
            raise ModelLoadError(
                f"building {model.name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(module, torch.nn.Module):
            raise ModelLoadError(
                f"TorchModel {model.name!r}: build() must return a torch.nn.Module, "
                f"got {type(module).__name__}"
            )
        if model.weights is not None:
            try:
                module.load_state_dict(self._load_weights(model))
            except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
                raise ModelLoadError(
                    f"weights {model.weights} do not fit {model.name!r}: {exc}"
                ) from exc
        return module.eval().to(device=self.device, dtype=_torch_dtype(torch, self.precision))

    def _load_weights(self, model: TorchModel) -> dict[str, Any]:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = model.weights
        if path is None or not path.is_file():
            raise ModelLoadError(f"weights file not found: {path}; check the path")
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{path} is not a readable safetensors file ({exc}); save the weights with "
                "safetensors.torch.save_file(module.state_dict(), path)"
            ) from exc

    def load(self, model: TorchModel) -> TorchSession:  # type: ignore[override]
        """Build ``model`` on this runtime's device and precision.

        Raises:
            ModelLoadError: If ``model`` is not a TorchModel, ``build`` fails, or its weights
                file is missing, unreadable or does not match the module.
            RuntimeUnavailableError: If torch or the CUDA device is not usable here.
        """
        module = self._build(model)
        self.apply_threads()
        return TorchSession(self, model, module)


def _is_cuda_index(device: str) -> bool:
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()


class CudaGraphSession(TorchSession):
    """A module whose forward pass is captured once per input shape and replayed."""

    def __init__(self, runtime: TorchRuntime, model: TorchModel, module: Any) -> None:
        super().__init__(runtime, model, module)
        self._graphs: dict[tuple, tuple[Any, list[Any], list[Any]]] = {}

    def _graph(self, tensors: list[Any]) -> tuple[Any, list[Any]]:
        """Copy ``tensors`` into the static inputs of their shape's graph (captured on first use).

        Returns:
            The ``torch.cuda.CUDAGraph`` and its static output tensors.
        """
        torch = self._torch
        key = tuple((tuple(t.shape), t.dtype) for t in tensors)
        if key not in self._graphs:
            module = self._check_open()
            static_in = [t.clone() for t in tensors]
            side = torch.cuda.Stream(self._runtime.device)
            side.wait_stream(torch.cuda.current_stream(self._runtime.device))
            with torch.inference_mode(), torch.cuda.stream(side):
                for _ in range(CUDA_GRAPH_WARMUP_RUNS):
                    module(*static_in)
            torch.cuda.current_stream(self._runtime.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.inference_mode(), torch.cuda.graph(graph):
                static_out = _outputs(module(*static_in))
            self._graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = self._graphs[key]
        for static, tensor in zip(static_in, tensors, strict=True):
            static.copy_(tensor)
        return graph, static_out

    def run(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Copy the inputs in, replay the graph, and return copies of the outputs."""
        self._check_open()
        graph, static_out = self._graph(self._tensors(inputs))
        graph.replay()
        return [_to_numpy(out) for out in static_out]

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """Capture (or reuse) the graph for these inputs; return its ``replay``."""
        self._check_open()
        graph, _ = self._graph(self._tensors(inputs))
        return graph.replay

    def close(self) -> None:
        """Drop the graphs and the module. Idempotent."""
        self._graphs.clear()
        super().close()


@register_runtime("torch-cudagraph")
class TorchCudaGraphRuntime(TorchRuntime):
    """PyTorch with CUDA graphs: the forward pass is captured once and replayed.

    Replay removes the per-kernel launch cost of eager execution, so small networks approach
    their device time. Needs a CUDA GPU; ``device`` defaults to ``"cuda:0"``.
    """

    def __init__(self, device: str = "cuda:0", precision: str = "fp32") -> None:
        if device == "cpu":
            raise ConfigError(
                "TorchCudaGraphRuntime: CUDA graphs need a CUDA device such as 'cuda:0'; "
                "use the 'torch' runtime for the CPU"
            )
        super().__init__(device=device, threads=None, precision=precision)

    def describe(self) -> dict[str, Any]:
        """Return the eager description with ``execution="cuda_graph"``."""
        return {**super().describe(), "execution": "cuda_graph"}

    def load(self, model: TorchModel) -> CudaGraphSession:  # type: ignore[override]
        """Build ``model`` on the GPU; graphs are captured when inputs are first given."""
        return CudaGraphSession(self, model, self._build(model))
