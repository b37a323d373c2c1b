"""TensorRT engines: built from ONNX with the 10.x or 11.x API, and checked against this GPU.

TensorRT 10 networks are explicit-batch (the default of ``create_network``) and take reduced
precision from builder flags (``BuilderFlag.FP16``, ``BuilderFlag.INT8`` with Q/DQ nodes in the
ONNX). TensorRT 11 networks are always strongly typed and have neither flag: precision comes
from the ONNX file itself (an fp16 ONNX, or Q/DQ nodes for int8). Engines are not portable: an
engine runs only under the TensorRT version and on the GPU model it was built with, which its
JSON sidecar records and ``engine_mismatch`` checks before an engine is deserialised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from profilers.errors import ConfigError, ModelLoadError, RuntimeUnavailableError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with `pip install hwnas[tensorrt]` on a machine with an NVIDIA GPU, its driver "
    "and NVIDIA's TensorRT runtime (https://developer.nvidia.com/tensorrt)"
)
SIDECAR_FORMAT = "hwnas-tensorrt-engine/1"
API_MAJORS = (10, 11)


class EngineBuildError(ModelLoadError):
    """TensorRT could not parse an ONNX file or build an engine from it."""


class EngineMismatchError(ModelLoadError):
    """An engine was built for another GPU or TensorRT version than the ones here."""


@dataclass(frozen=True)
class GpuInfo:
    """The CUDA GPU an engine is built for or runs on."""

    name: str
    compute_capability: str  # "8.9"
    index: int = 0


def import_tensorrt() -> ModuleType:
    """Import ``tensorrt`` (10.x or 11.x).

    Raises:
        RuntimeUnavailableError: If it is missing, fails to load its libraries, or is of an
            API generation hwnas does not drive; the message says what to install.
    """
    try:
        import tensorrt
    except (ImportError, OSError) as exc:
        raise RuntimeUnavailableError(
            f"TensorRT is not usable here ({type(exc).__name__}: {exc}); {INSTALL_HINT}"
        ) from exc
    major = api_major(tensorrt)
    if major not in API_MAJORS:
        raise RuntimeUnavailableError(
            f"TensorRT {tensorrt.__version__} is installed; hwnas drives the 10.x and 11.x APIs. "
            f"Install one of them: {INSTALL_HINT}"
        )
    return tensorrt


def api_major(trt: ModuleType) -> int:
    """The major version of an imported ``tensorrt`` module (10, 11, ...)."""
    return int(str(trt.__version__).split(".")[0])


def cuda_gpu(index: int = 0) -> GpuInfo:
    """Name and compute capability of CUDA GPU ``index``, read through ``torch.cuda``.

    Raises:
        RuntimeUnavailableError: If torch has no CUDA or sees no GPU ``index``.
    """
    import torch

    if not torch.cuda.is_available():
        raise RuntimeUnavailableError(
            f"TensorRT needs a CUDA GPU and torch {torch.__version__} sees none here: use a "
            f"machine with an NVIDIA GPU and a CUDA build of torch, and there {INSTALL_HINT}"
        )
    if not 0 <= index < torch.cuda.device_count():
        raise RuntimeUnavailableError(
            f"CUDA GPU {index} does not exist; this machine has {torch.cuda.device_count()}"
        )
    major, minor = torch.cuda.get_device_capability(index)
    return GpuInfo(torch.cuda.get_device_name(index), f"{major}.{minor}", index)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class EngineBuildSettings:
    """How TensorRT builds one engine from an ONNX file.

    Attributes:
        batch_min, batch_opt, batch_max: The optimisation profile of a dynamic batch axis
            (axis 0 of every input whose axis 0 is dynamic).
        workspace_mib: Limit of the builder's workspace memory pool; None keeps TensorRT's
            default (the GPU's memory).
        optimization_level: Builder optimisation level, 0 (fastest build) to 5 (most tactics).
        fp16_flag, int8_flag: TensorRT 10 builder flags letting layers run in fp16 / int8 (int8
            needs Q/DQ nodes in the ONNX). TensorRT 11 has no such flags: leave them off there.
        timing_cache: File of the builder's timing cache: read if it exists, written after
            each build, so that later builds on the same GPU skip tactic timing.
        tf32: Let fp32 layers use TF32 tensor cores (TensorRT's default, about 1e-3 relative
            error); off by default so that an fp32 engine computes in fp32.
    """

    batch_min: int = 1
    batch_opt: int = 1
    batch_max: int = 32
    workspace_mib: int | None = None
    optimization_level: int = 3
    fp16_flag: bool = False
    int8_flag: bool = False
    timing_cache: Path | None = None
    tf32: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.batch_min <= self.batch_opt <= self.batch_max:
            raise ConfigError(
                "batch profile must satisfy 1 <= batch_min <= batch_opt <= batch_max, got "
                f"{self.batch_min}, {self.batch_opt}, {self.batch_max}"
            )
        if self.workspace_mib is not None and self.workspace_mib < 1:
            raise ConfigError(f"workspace_mib must be >= 1 or None, got {self.workspace_mib}")
        if not 0 <= self.optimization_level <= 5:
            raise ConfigError(
                f"optimization_level must be within 0..5, got {self.optimization_level}"
            )
        if self.timing_cache is not None:
            object.__setattr__(self, "timing_cache", Path(self.timing_cache))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timing_cache"] = None if self.timing_cache is None else str(self.timing_cache)
        return data


@dataclass(frozen=True)
class TensorInfo:
    """Name, dtype (TensorRT ``DataType`` name) and shape (-1: dynamic) of a network tensor."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    profile: dict[str, list[int]] | None = None  # {"min": ..., "opt": ..., "max": ...}

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.profile is not None:
            data["profile"] = self.profile
        return data


@dataclass(frozen=True)
class BuiltEngine:
    """A serialised engine and the network's inputs and outputs."""

    data: bytes = field(repr=False)
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    tensorrt_version: str


def make_logger(trt: ModuleType) -> Any:
    """A ``trt.ILogger`` forwarding to ``logging`` and keeping errors for error messages."""

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            level = int(severity)  # pybind11 enums compare by value only through int()
            if level <= int(trt.ILogger.Severity.ERROR):
                self.errors.append(msg)
                log.error("TensorRT: %s", msg)
            elif level == int(trt.ILogger.Severity.WARNING):
                log.warning("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return Logger()


def _parser_errors(parser: Any) -> str:
    messages = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        messages.append(
            f"node {error.node()} ({error.node_name() or '?'}, {error.node_operator() or '?'}): "
            f"{error.desc()} [{error.code().name}]"
        )
    return "; ".join(messages) or "no error reported by the parser"


def _profile(tensor: Any, settings: EngineBuildSettings, onnx_path: Path) -> dict | None:
    shape = [int(d) for d in tensor.shape]
    if all(d >= 0 for d in shape):
        return None
    if any(d < 0 for d in shape[1:]):
        raise EngineBuildError(
            f"{onnx_path}: input {tensor.name!r} has shape {shape} with a dynamic axis other than "
            "the batch axis 0; export it with static sizes there"
        )
    rest = shape[1:]
    return {
        "min": [settings.batch_min, *rest],
        "opt": [settings.batch_opt, *rest],
        "max": [settings.batch_max, *rest],
    }


def build_serialized_engine(
    trt: ModuleType, onnx_path: str | Path, settings: EngineBuildSettings
) -> BuiltEngine:
    """Parse ``onnx_path`` with TensorRT's ONNX parser and build a serialised engine.

    Raises:
        EngineBuildError: With the parser's messages if the ONNX cannot be parsed, with
            TensorRT's logged errors if the build fails, or if a builder flag is asked of
            TensorRT 11, which has none.
    """
    onnx_path = Path(onnx_path)
    major = api_major(trt)
    if major >= 11 and (settings.fp16_flag or settings.int8_flag):
        raise EngineBuildError(
            f"TensorRT {trt.__version__} has no fp16/int8 builder flags: its networks are "
            "strongly typed, so convert the ONNX to the precision wanted "
            "(hwnas.core.export.precision)"
        )
    logger = make_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # 10.x: explicit batch; 11.x: strongly typed
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        raise EngineBuildError(
            f"TensorRT {trt.__version__} cannot parse {onnx_path}: {_parser_errors(parser)}"
        )
    config = builder.create_builder_config()
    if settings.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mib << 20)
    config.builder_optimization_level = settings.optimization_level
    if settings.fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    if settings.int8_flag:
        config.set_flag(trt.BuilderFlag.INT8)
    if not settings.tf32:
        config.clear_flag(trt.BuilderFlag.TF32)

    inputs = []
    profile = builder.create_optimization_profile()
    dynamic = False
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        shapes = _profile(tensor, settings, onnx_path)
        if shapes is not None:
            profile.set_shape(
                tensor.name, tuple(shapes["min"]), tuple(shapes["opt"]), tuple(shapes["max"])
            )
            dynamic = True
        inputs.append(
            TensorInfo(tensor.name, tensor.dtype.name, tuple(int(d) for d in tensor.shape), shapes)
        )
    if dynamic:
        config.add_optimization_profile(profile)
    outputs = tuple(
        TensorInfo(t.name, t.dtype.name, tuple(int(d) for d in t.shape))
        for t in (network.get_output(i) for i in range(network.num_outputs))
    )

    cache_path = settings.timing_cache
    cache_bytes = (
        cache_path.read_bytes() if cache_path is not None and cache_path.is_file() else b""
    )
    cache = config.create_timing_cache(cache_bytes)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log.warning(
            "timing cache %s does not fit this GPU or TensorRT; starting afresh", cache_path
        )
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT {trt.__version__} failed to build an engine from {onnx_path}: "
            + ("; ".join(logger.errors) or "no error was logged")
        )
    if cache_path is not None:
        _write_atomic(cache_path, bytes(config.get_timing_cache().serialize()))
    return BuiltEngine(bytes(serialized), tuple(inputs), outputs, str(trt.__version__))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def sidecar_path(engine_path: str | Path) -> Path:
    """The JSON metadata file next to an engine: ``model.engine`` -> ``model.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """The metadata of an engine file.

    Raises:
        ModelLoadError: If the sidecar is missing, not JSON, or not an hwnas engine sidecar.
    """
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ModelLoadError(
            f"{engine_path} has no metadata file {path.name}: hwnas loads only engines built "
            "with `hwnas export --format tensorrt` (which records GPU and TensorRT version)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON ({exc}); rebuild the engine") from exc
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise ModelLoadError(f"{path} is not an hwnas engine sidecar ({SIDECAR_FORMAT})")
    return data


def engine_mismatch(sidecar: Mapping[str, Any], tensorrt_version: str, gpu: GpuInfo) -> str | None:
    """Why an engine cannot run under ``tensorrt_version`` on ``gpu``, or None if it can."""
    problems = []
    built_version = sidecar.get("tensorrt_version")
    if built_version != tensorrt_version:
        problems.append(f"TensorRT {built_version} built it, TensorRT {tensorrt_version} is here")
    built_gpu = sidecar.get("gpu") or {}
    if built_gpu.get("compute_capability") != gpu.compute_capability:
        problems.append(
            f"built for compute capability {built_gpu.get('compute_capability')}, "
            f"GPU {gpu.index} here has {gpu.compute_capability}"
        )
    if built_gpu.get("name") != gpu.name:
        problems.append(f"built on {built_gpu.get('name')!r}, GPU {gpu.index} here is {gpu.name!r}")
    return "; ".join(problems) or None
