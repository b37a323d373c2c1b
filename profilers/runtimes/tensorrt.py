"""TensorRT: runs engines (10.x and 11.x API) on a CUDA GPU, timed with CUDA events.

``load`` takes an engine built by ``hwnas export --format tensorrt`` (checked against its JSON
sidecar before deserialising: same TensorRT version, same GPU) or an ONNX file, which is built
into an engine in memory with the runtime's ``EngineBuildSettings`` (so campaigns of ONNX files
can be timed with TensorRT as trtexec would). Inputs and outputs live in torch CUDA tensors
whose addresses are bound with ``set_tensor_address``; inference is ``execute_async_v3`` on the
session's own CUDA stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from profilers.errors import ConfigError, ModelLoadError, SessionClosedError
from profilers.runtimes import register_runtime
from profilers.runtimes.base import InputSpec, Runtime, Session
from profilers.runtimes.tensorrt_engine import (
    EngineBuildSettings,
    EngineMismatchError,
    GpuInfo,
    api_major,
    build_serialized_engine,
    cuda_gpu,
    engine_mismatch,
    file_sha256,
    import_tensorrt,
    make_logger,
    read_sidecar,
)
from profilers.timing import Timer

# TensorRT DataType name -> (numpy dtype, torch dtype name)
_DTYPES = {
    "FLOAT": (np.float32, "float32"),
    "HALF": (np.float16, "float16"),
    "INT8": (np.int8, "int8"),
    "INT32": (np.int32, "int32"),
    "INT64": (np.int64, "int64"),
    "BOOL": (np.bool_, "bool"),
    "UINT8": (np.uint8, "uint8"),
}


def cuda_stream(gpu: GpuInfo) -> tuple[Any, Any]:
    """A new torch CUDA stream on ``gpu`` and the torch device it belongs to."""
    import torch

    device = torch.device("cuda", gpu.index)
    return torch.cuda.Stream(device=device), device


class _StreamTimer:
    """``CudaEventTimer`` with its events and the timed run on the session's stream."""

    def __init__(self, stream: Any, device: Any) -> None:
        import torch

        from profilers.runtimes.cuda import CudaEventTimer

        self._torch = torch
        self._stream = stream
        self._timer = CudaEventTimer(str(device))
        self.kind = CudaEventTimer.kind

    def time_ns(self, fn: Callable[[], object]) -> int:
        with self._torch.cuda.stream(self._stream):
            return self._timer.time_ns(fn)

    def synchronize(self) -> None:
        self._stream.synchronize()


class TensorRTSession(Session):
    """A deserialised engine with one execution context and device buffers.

    Args:
        model_path: The engine or ONNX file the engine came from.
        engine: A ``trt.ICudaEngine``.
        stream: A torch CUDA stream (anything with ``cuda_stream`` and ``synchronize()``).
        device: The torch device of the buffers.
        trt_runtime: The ``trt.Runtime`` that deserialised ``engine``, kept alive with it.
    """

    def __init__(
        self, model_path: Path, engine: Any, stream: Any, device: Any, trt_runtime: Any = None
    ) -> None:
        self.model_path = model_path
        self._trt_runtime = trt_runtime
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise ModelLoadError(f"TensorRT cannot create an execution context for {model_path}")
        self._stream = stream
        self._device = device
        self._buffers: list[Any] = []
        inputs, outputs = [], []
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            dtype = engine.get_tensor_dtype(name).name
            if dtype not in _DTYPES:
                raise ModelLoadError(
                    f"{model_path}: tensor {name!r} has TensorRT type {dtype}; hwnas feeds "
                    f"{sorted(_DTYPES)}"
                )
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            is_input = engine.get_tensor_mode(name).name == "INPUT"
            (inputs if is_input else outputs).append((name, dtype, shape))
        self._inputs = tuple(
            InputSpec(
                name,
                tuple(
                    "batch" if d < 0 and i == 0 else (None if d < 0 else d)
                    for i, d in enumerate(shape)
                ),
                np.dtype(_DTYPES[dtype][0]),
            )
            for name, dtype, shape in inputs
        )
        self._outputs = tuple(outputs)

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        """Return the engine's inputs in binding order."""
        return self._inputs

    def _check_open(self) -> Any:
        if self._context is None:
            raise SessionClosedError(f"session for {self.model_path} is closed; load it again")
        return self._context

    def _bind(self, inputs: Mapping[str, np.ndarray]) -> list[Any]:
        """Copy inputs to the device, set shapes and addresses; return the output tensors."""
        import torch

        context = self._check_open()
        missing = [spec.name for spec in self._inputs if spec.name not in inputs]
        if missing:
            raise ModelLoadError(
                f"{self.model_path}: inputs {missing} are missing; the engine takes "
                f"{[spec.name for spec in self._inputs]}"
            )
        with self._on_stream():  # copies and allocations ordered with the inference
            outputs = self._bind_on_stream(torch, context, inputs)
        return outputs

    def _on_stream(self) -> Any:
        import torch

        if torch.device(self._device).type != "cuda":
            return contextlib.nullcontext()
        return torch.cuda.stream(self._stream)

    def _bind_on_stream(self, torch: ModuleType, context: Any, inputs: Mapping) -> list[Any]:
        buffers = []
        for spec in self._inputs:
            array = np.ascontiguousarray(inputs[spec.name], dtype=spec.dtype)
            tensor = torch.from_numpy(array).to(self._device)
            if not context.set_input_shape(spec.name, tuple(array.shape)):
                raise ModelLoadError(
                    f"{self.model_path}: input {spec.name!r} of shape {array.shape} is outside "
                    "the engine's optimisation profile; rebuild it with a batch range that "
                    "covers it (batch_min/batch_max)"
                )
            context.set_tensor_address(spec.name, tensor.data_ptr())
            buffers.append(tensor)
        outputs = []
        for name, dtype, _ in self._outputs:
            shape = tuple(int(d) for d in context.get_tensor_shape(name))
            tensor = torch.empty(
                shape, dtype=getattr(torch, _DTYPES[dtype][1]), device=self._device
            )
            context.set_tensor_address(name, tensor.data_ptr())
            outputs.append(tensor)
        self._buffers = buffers + outputs  # keep the memory alive while bound
        return outputs

    def _execute(self) -> None:
        if not self._check_open().execute_async_v3(self._stream.cuda_stream):
            raise ModelLoadError(f"TensorRT failed to enqueue {self.model_path} (execute_async_v3)")

    def run(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference and return the outputs in binding order."""
        outputs = self._bind(inputs)
        self._execute()
        self._stream.synchronize()
        return [tensor.cpu().numpy() for tensor in outputs]

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Callable[[], object]:
        """Copy the inputs to the GPU and bind the buffers once; return the enqueue call."""
        self._bind(inputs)
        self._stream.synchronize()
        return self._execute

    def timer(self) -> Timer:
        """CUDA events recorded on this session's stream."""
        return _StreamTimer(self._stream, self._device)

    def close(self) -> None:
        """Drop context, engine and buffers (freed with the last reference). Idempotent."""
        self._context = None
        self._engine = None
        self._trt_runtime = None
        self._buffers = []


@register_runtime("tensorrt")
class TensorRTRuntime(Runtime):
    """NVIDIA TensorRT on one CUDA GPU.

    Args:
        device_index: The CUDA GPU to build for and run on.
        build: How an ONNX file handed to ``load`` is built; engine files keep the settings
            they were built with.
    """

    def __init__(self, device_index: int = 0, build: EngineBuildSettings | None = None) -> None:
        if isinstance(device_index, bool) or not isinstance(device_index, int) or device_index < 0:
            raise ConfigError(f"TensorRTRuntime: device_index must be >= 0, got {device_index!r}")
        if build is not None and not isinstance(build, EngineBuildSettings):
            raise ConfigError(f"TensorRTRuntime: build must be EngineBuildSettings, got {build!r}")
        self.device_index = device_index
        self.build = build or EngineBuildSettings()

    def __repr__(self) -> str:
        return f"TensorRTRuntime(device_index={self.device_index}, build={self.build!r})"

    def _environment(self) -> tuple[ModuleType, GpuInfo]:
        return import_tensorrt(), cuda_gpu(self.device_index)

    def describe(self) -> dict[str, Any]:
        """Return TensorRT version, API generation, GPU and build settings as JSON data.

        Raises:
            RuntimeUnavailableError: If TensorRT or a CUDA GPU is missing.
        """
        trt, gpu = self._environment()
        return {
            "runtime": self.name,
            "version": str(trt.__version__),
            "api_major": api_major(trt),
            "gpu_name": gpu.name,
            "compute_capability": gpu.compute_capability,
            "device_index": gpu.index,
            "build": self.build.to_dict(),
            "timer": "cuda_events",
        }

    def engine_bytes(self, trt: ModuleType, gpu: GpuInfo, path: Path) -> bytes:
        """The serialised engine of ``path``: built from an ONNX file, or read and checked.

        Raises:
            EngineMismatchError: If the engine's sidecar names another TensorRT or GPU.
            ModelLoadError: If the sidecar is missing or the engine file was altered.
        """
        if path.suffix.lower() == ".onnx":
            return build_serialized_engine(trt, path, self.build).data
        sidecar = read_sidecar(path)
        problem = engine_mismatch(sidecar, str(trt.__version__), gpu)
        if problem:
            raise EngineMismatchError(
                f"engine {path} cannot run here: {problem}. TensorRT engines are specific to "
                "the GPU model and TensorRT version: rebuild it on this machine with "
                "`hwnas export --format tensorrt`"
            )
        expected = (sidecar.get("engine") or {}).get("sha256")
        if expected != file_sha256(path):
            raise ModelLoadError(
                f"engine {path} does not match the sha256 in its sidecar: the file was changed "
                "or cut short; rebuild it"
            )
        return path.read_bytes()

    def load(self, model_path: str | Path) -> TensorRTSession:
        """Load an engine file (with its sidecar) or build an ONNX file, into a session.

        Raises:
            ModelLoadError: If the file is missing, cannot be parsed or built, or the engine
                does not fit this GPU and TensorRT version (``EngineMismatchError``).
            RuntimeUnavailableError: If TensorRT or a CUDA GPU is missing.
        """
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}; export or build it first")
        trt, gpu = self._environment()
        data = self.engine_bytes(trt, gpu, path)
        runtime = trt.Runtime(make_logger(trt))
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise ModelLoadError(
                f"TensorRT {trt.__version__} cannot deserialise the engine of {path}; rebuild it"
            )
        stream, device = cuda_stream(gpu)
        return TensorRTSession(path, engine, stream, device, trt_runtime=runtime)
