"""TensorRT engines from ONNX files, built on the target GPU, with a JSON metadata sidecar.

``build_engine(onnx_path, out_dir, TensorRTBuild(precision="fp16"))`` writes
``<stem>_<precision>.engine`` and ``<stem>_<precision>.engine.json``. Precision reaches the
engine as each TensorRT generation takes it:

- TensorRT 10: fp16 through ``BuilderFlag.FP16`` on the fp32 ONNX; int8 through Q/DQ nodes
  (``hwnas.core.export.precision.quantize_int8_qdq``) with ``BuilderFlag.INT8`` and ``FP16``.
- TensorRT 11 (strongly typed, no precision flags or calibrators): fp16 from an fp16 copy of
  the ONNX (``convert_fp16``), int8 from the same Q/DQ ONNX.

The sidecar records the TensorRT version, GPU name and compute capability, precision, the
inputs' and outputs' names, dtypes, shapes and batch profile, and the sha256 of the ONNX
file built and of the engine; ``profilers`` refuses an engine whose sidecar names another
GPU or TensorRT version.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.export.precision import (
    PRECISIONS,
    convert_fp16,
    load_calibration,
    quantize_int8_qdq,
)
from profilers.errors import ConfigError
from profilers.runtimes.tensorrt_engine import (
    SIDECAR_FORMAT,
    EngineBuildSettings,
    api_major,
    build_serialized_engine,
    cuda_gpu,
    file_sha256,
    import_tensorrt,
    sidecar_path,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorRTBuild:
    """What engine to build.

    Attributes:
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        batch_min, batch_opt, batch_max: Optimisation profile of the dynamic batch axis.
        workspace_mib: Builder workspace limit; None: TensorRT's default (the GPU's memory).
        optimization_level: Builder optimisation level 0..5 (TensorRT's default is 3).
        timing_cache: Timing cache file, read if present and updated after the build.
        calibration_data: int8 only: a ``.npy`` file of (N, *input_shape) float32 inputs
            representative of deployment data. Without it, ``calibration_samples`` standard
            normal inputs are drawn (seeded), which suits only networks fed such inputs.
        calibration_samples: Number of random calibration inputs when no file is given.
        device_index: The CUDA GPU to build on (engines run only on that GPU model).
        tf32: Let fp32 layers use TF32 tensor cores (faster, about 1e-3 relative error).
    """

    precision: str = "fp32"
    batch_min: int = 1
    batch_opt: int = 1
    batch_max: int = 32
    workspace_mib: int | None = None
    optimization_level: int = 3
    timing_cache: Path | None = None
    calibration_data: Path | None = None
    calibration_samples: int = 64
    device_index: int = 0
    tf32: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.calibration_samples < 1:
            raise ConfigError(f"calibration_samples must be >= 1, got {self.calibration_samples}")
        if self.calibration_data is not None and self.precision != "int8":
            raise ConfigError("calibration_data is used by int8 builds only")
        for name in ("timing_cache", "calibration_data"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        self.settings(api=10)  # validates the batch profile, workspace and level

    def settings(self, api: int) -> EngineBuildSettings:
        """The builder settings for TensorRT generation ``api`` (flags only on 10.x)."""
        return EngineBuildSettings(
            batch_min=self.batch_min,
            batch_opt=self.batch_opt,
            batch_max=self.batch_max,
            workspace_mib=self.workspace_mib,
            optimization_level=self.optimization_level,
            fp16_flag=api < 11 and self.precision in ("fp16", "int8"),
            int8_flag=api < 11 and self.precision == "int8",
            timing_cache=self.timing_cache,
            tf32=self.tf32,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("timing_cache", "calibration_data"):
            data[name] = None if data[name] is None else str(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorRTBuild:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"TensorRTBuild: unknown keys {unknown}; allowed: {sorted(names)}")
        return cls(**data)


@dataclass(frozen=True)
class EngineArtifact:
    """The files ``build_engine`` wrote and what its sidecar records."""

    engine_path: Path
    sidecar_path: Path
    onnx_path: Path  # the ONNX file TensorRT parsed (fp16 or Q/DQ copy where converted)
    precision: str
    metadata: dict[str, Any]


def _calibration(config: TensorRTBuild, onnx_path: Path) -> tuple[np.ndarray, int, dict]:
    """Calibration inputs, the batch size to feed them in, and where they came from."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    batch = dims[0] if dims and dims[0] > 0 else 8  # a static batch axis takes its own size
    if config.calibration_data is not None:
        samples = load_calibration(config.calibration_data)
        source = {
            "file": str(config.calibration_data),
            "sha256": file_sha256(config.calibration_data),
        }
    else:
        rng = np.random.default_rng(0)
        samples = rng.standard_normal((config.calibration_samples, *dims[1:])).astype(np.float32)
        source = {"random_normal": config.calibration_samples, "seed": 0}
        log.warning(
            "int8 calibration on %d random normal inputs: pass calibration_data (a .npy of real "
            "inputs) for a trained network",
            config.calibration_samples,
        )
    return samples, batch, {**source, "samples": int(len(samples))}


def prepare_onnx(
    onnx_path: Path, out_dir: Path, config: TensorRTBuild, api: int
) -> tuple[Path, dict]:
    """The ONNX file TensorRT ``api`` (10, 11) builds at ``config.precision``, and its origin."""
    stem = onnx_path.stem
    if config.precision == "fp32" or (config.precision == "fp16" and api < 11):
        return onnx_path, {"conversion": None}
    if config.precision == "fp16":
        path = convert_fp16(onnx_path, out_dir / f"{stem}_fp16.onnx")
        return path, {"conversion": "onnxconverter_common float16, fp32 inputs/outputs kept"}
    samples, batch, calibration = _calibration(config, onnx_path)
    path = quantize_int8_qdq(onnx_path, out_dir / f"{stem}_int8_qdq.onnx", samples, batch)
    return path, {
        "conversion": "onnxruntime quantize_static QDQ, symmetric int8",
        "calibration": calibration,
    }


_PRECISION_FROM = {
    (False, "fp32"): "onnx",
    (False, "fp16"): "builder flag FP16",
    (False, "int8"): "Q/DQ nodes in the onnx, builder flags INT8 and FP16",
    (True, "fp32"): "onnx",
    (True, "fp16"): "onnx (converted to fp16)",
    (True, "int8"): "Q/DQ nodes in the onnx",
}


def build_engine(
    onnx_path: str | Path, out_dir: str | Path, config: TensorRTBuild | None = None
) -> EngineArtifact:
    """Build a TensorRT engine for this machine's GPU from an ONNX file.

    Raises:
        RuntimeUnavailableError: If TensorRT or a CUDA GPU is missing (says what to install).
        EngineBuildError: If TensorRT cannot parse the ONNX (with the parser's messages) or
            the build fails.
        OnnxExportError: If the fp16 or int8 conversion of the ONNX fails.
    """
    config = config or TensorRTBuild()
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    trt = import_tensorrt()
    gpu = cuda_gpu(config.device_index)
    api = api_major(trt)
    out_dir.mkdir(parents=True, exist_ok=True)
    built_onnx, conversion = prepare_onnx(onnx_path, out_dir, config, api)
    settings = config.settings(api)
    built = build_serialized_engine(trt, built_onnx, settings)
    engine_path = out_dir / f"{onnx_path.stem}_{config.precision}.engine"
    engine_path.write_bytes(built.data)
    metadata = {
        "format": SIDECAR_FORMAT,
        "tensorrt_version": built.tensorrt_version,
        "tensorrt_api_major": api,
        "gpu": {"name": gpu.name, "compute_capability": gpu.compute_capability},
        "precision": config.precision,
        "precision_from": _PRECISION_FROM[(api >= 11, config.precision)],
        "inputs": [t.to_dict() for t in built.inputs],
        "outputs": [t.to_dict() for t in built.outputs],
        "onnx": {"path": str(built_onnx), "sha256": file_sha256(built_onnx), **conversion},
        "source_onnx": {"path": str(onnx_path), "sha256": file_sha256(onnx_path)},
        "engine": {
            "file": engine_path.name,
            "sha256": file_sha256(engine_path),
            "bytes": len(built.data),
        },
        "build": {**config.to_dict(), "settings": settings.to_dict()},
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    sidecar = sidecar_path(engine_path)
    sidecar.write_text(json.dumps(metadata, indent=2) + "\n")
    return EngineArtifact(engine_path, sidecar, built_onnx, config.precision, metadata)
