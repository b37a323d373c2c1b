"""ONNX Runtime: times ONNX files with explicit threads and providers, sequential execution."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from devices.fingerprint import usable_cores
from profilers.errors import (
    ConfigError,
    ModelLoadError,
    RuntimeUnavailableError,
    SessionClosedError,
)
from profilers.runtimes import register_runtime
from profilers.runtimes.base import InputSpec, Runtime, Session

GRAPH_OPTIMIZATIONS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}

# ONNX Runtime's type strings for tensors that numpy can hold.
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def _import_onnxruntime() -> ModuleType:
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"the 'onnxruntime' runtime needs the onnxruntime package ({exc}); "
            "install it with `pip install onnxruntime` (or onnxruntime-gpu for CUDA)"
        ) from exc
    return onnxruntime


class OnnxSession(Session):
    """An ``onnxruntime.InferenceSession`` behind the ``Session`` interface."""

    def __init__(self, model_path: Path, session: Any) -> None:
        self.model_path = model_path
        self._session = session
        self._output_names = [o.name for o in session.get_outputs()]
        self.providers: tuple[str, ...] = tuple(session.get_providers())
        self._input_specs = tuple(self._spec(node) for node in session.get_inputs())

    def _spec(self, node: Any) -> InputSpec:
        dtype = _ORT_DTYPES.get(node.type)
        if dtype is None:
            raise ModelLoadError(
                f"{self.model_path}: input {node.name!r} has type {node.type}, which hwnas "
                f"cannot feed from numpy; supported: {sorted(_ORT_DTYPES)}"
            )
        shape = tuple(d if isinstance(d, (int, str)) else None for d in node.shape)
        return InputSpec(name=node.name, shape=shape, dtype=np.dtype(dtype))

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        """Return the model's inputs in declaration order."""
        return self._input_specs

    def run(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference and return the outputs in declaration order."""
        if self._session is None:
            raise SessionClosedError(f"session for {self.model_path} is closed; load it again")
        return self._session.run(self._output_names, inputs)

    def close(self) -> None:
        """Drop the inference session (onnxruntime frees it with the last reference)."""
        self._session = None


@register_runtime("onnxruntime")
class OnnxRuntime(Runtime):
    """ONNX Runtime with explicit threading, sequential execution and chosen providers.

    Args:
        intra_op_threads: Threads inside an operator; default the cores this process may use.
        inter_op_threads: Threads across operators (only used by parallel execution; recorded).
        providers: Execution providers in priority order; default ``("CPUExecutionProvider",)``.
        graph_optimization: One of ``"disable"``, ``"basic"``, ``"extended"``, ``"all"``.
    """

    # What is installed is no condition of a measurement; the providers actually used are an
    # outcome of loading a model (``providers_requested`` is the setting).
    not_settings = frozenset({"providers_available", "providers"})

    def __init__(
        self,
        intra_op_threads: int | None = None,
        inter_op_threads: int = 1,
        providers: tuple[str, ...] | None = None,
        graph_optimization: str = "all",
    ) -> None:
        if intra_op_threads is not None and (
            isinstance(intra_op_threads, bool)
            or not isinstance(intra_op_threads, int)
            or intra_op_threads < 1
        ):
            raise ConfigError(
                f"OnnxRuntime: intra_op_threads must be an integer >= 1 or None, "
                f"got {intra_op_threads!r}"
            )
        if (
            isinstance(inter_op_threads, bool)
            or not isinstance(inter_op_threads, int)
            or inter_op_threads < 1
        ):
            raise ConfigError(
                f"OnnxRuntime: inter_op_threads must be an integer >= 1, got {inter_op_threads!r}"
            )
        if graph_optimization not in GRAPH_OPTIMIZATIONS:
            raise ConfigError(
                f"OnnxRuntime: graph_optimization must be one of {list(GRAPH_OPTIMIZATIONS)}, "
                f"got {graph_optimization!r}"
            )
        if providers is not None and (
            isinstance(providers, str)
            or not providers
            or not all(isinstance(p, str) and p for p in providers)
        ):
            raise ConfigError(
                "OnnxRuntime: providers must be a non-empty sequence of provider names such as "
                f"('CUDAExecutionProvider', 'CPUExecutionProvider'), got {providers!r}"
            )
        self.intra_op_threads = intra_op_threads or usable_cores()
        self.inter_op_threads = inter_op_threads
        self.providers = tuple(providers) if providers else ("CPUExecutionProvider",)
        self.graph_optimization = graph_optimization
        self._providers_used: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return (
            f"OnnxRuntime(intra_op_threads={self.intra_op_threads}, "
            f"inter_op_threads={self.inter_op_threads}, providers={self.providers!r}, "
            f"graph_optimization={self.graph_optimization!r})"
        )

    def describe(self) -> dict[str, Any]:
        """Return version, threads, execution mode and providers as JSON data.

        ``providers`` are those the last loaded session actually uses (onnxruntime may drop a
        requested one), or the requested ones before any model is loaded.
        """
        ort = _import_onnxruntime()
        return {
            "runtime": self.name,
            "version": ort.__version__,
            "intra_op_threads": self.intra_op_threads,
            "inter_op_threads": self.inter_op_threads,
            "execution_mode": "sequential",
            "graph_optimization": self.graph_optimization,
            "providers_requested": list(self.providers),
            "providers": list(self._providers_used or self.providers),
            "providers_available": list(ort.get_available_providers()),
        }

    def session_options(self) -> Any:
        """Return the ``onnxruntime.SessionOptions`` every session of this runtime uses."""
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, GRAPH_OPTIMIZATIONS[self.graph_optimization]
        )
        options.log_severity_level = 3  # errors only: warnings would flood campaign logs
        return options

    def load(self, model_path: str | Path) -> OnnxSession:
        """Load an ONNX file into a session.

        Raises:
            ModelLoadError: If the file is missing, unreadable or not a valid ONNX model.
            RuntimeUnavailableError: If onnxruntime or a requested provider is not installed.
        """
        ort = _import_onnxruntime()
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(
                f"ONNX file not found: {path}; export the model first or check the path"
            )
        available = ort.get_available_providers()
        missing = [p for p in self.providers if p not in available]
        if missing:
            raise RuntimeUnavailableError(
                f"onnxruntime {ort.__version__} here lacks provider(s) {missing}; available: "
                f"{available}. Install the matching build (e.g. `pip install onnxruntime-gpu`) "
                "or pass providers=('CPUExecutionProvider',)"
            )
        try:
            session = ort.InferenceSession(
                str(path), sess_options=self.session_options(), providers=list(self.providers)
            )
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelLoadError(
                f"onnxruntime cannot load {path}: {type(exc).__name__}: {exc}. Check that the "
                "file is a complete ONNX model (re-export it if it was cut short)"
            ) from exc
        loaded = OnnxSession(path, session)
        self._providers_used = loaded.providers
        return loaded
