"""ONNX export of PyTorch networks, checked by the ONNX checker and against PyTorch.

The torch.export-based exporter (`dynamo=True`) is the default; where it fails, the legacy
TorchScript exporter is used instead and the result says so. The batch dimension is dynamic.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hwnas.errors import InputError

EXPORTERS = ("auto", "dynamo", "legacy")
_SINGLE_FILE_LIMIT_BYTES = 1_800_000_000  # protobuf's hard limit is 2 GiB

log = logging.getLogger(__name__)

FP32_ATOL = 1e-4
"""Largest absolute output difference accepted between ONNX Runtime and PyTorch at fp32."""


class OnnxExportError(InputError, RuntimeError):
    """The network could not be exported to a valid ONNX file."""


@dataclass(frozen=True)
class OnnxExport:
    """How to export: opset, exporter, batch handling and tensor names."""

    opset: int = 18
    exporter: str = "auto"
    dynamic_batch: bool = True
    example_batch: int = 2
    input_name: str = "input"
    output_name: str = "logits"

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            raise ValueError(f"exporter must be one of {EXPORTERS}, got {self.exporter!r}")
        if not 13 <= self.opset <= 23:
            raise ValueError(f"opset must be within 13..23, got {self.opset}")
        if self.dynamic_batch and self.example_batch < 2:
            raise ValueError("a dynamic batch is exported with example_batch >= 2")
        if self.example_batch < 1:
            raise ValueError(f"example_batch must be positive, got {self.example_batch}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> OnnxExport:
        return cls(**data)


@dataclass(frozen=True)
class OnnxExportResult:
    """What `export_onnx` wrote and how."""

    path: Path
    exporter: str
    opset: int
    input_name: str
    output_name: str
    fallback_reason: str | None = None


def _export_dynamo(model, example, path: Path, config: OnnxExport) -> None:
    import torch

    dynamic = ({0: torch.export.Dim("batch", min=1, max=4096)},) if config.dynamic_batch else None
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            input_names=[config.input_name],
            output_names=[config.output_name],
            opset_version=config.opset,
            dynamic_shapes=dynamic,
            external_data=param_bytes > _SINGLE_FILE_LIMIT_BYTES,
            optimize=True,
            verbose=False,
        )


def _export_legacy(model, example, path: Path, config: OnnxExport) -> None:
    import torch

    axes = None
    if config.dynamic_batch:
        axes = {config.input_name: {0: "batch"}, config.output_name: {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            input_names=[config.input_name],
            output_names=[config.output_name],
            opset_version=config.opset,
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def export_onnx(
    model, input_shape: tuple[int, ...], path: str | Path, config: OnnxExport | None = None
) -> OnnxExportResult:
    """Exports `model` (in eval mode) for inputs of shape (B, *input_shape) and checks the file.

    Raises:
        OnnxExportError: when no exporter produced a file that passes `onnx.checker`.
    """
    import onnx
    import torch

    config = config or OnnxExport()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(config.example_batch, *input_shape, generator=generator)
    order = {"auto": ("dynamo", "legacy"), "dynamo": ("dynamo",), "legacy": ("legacy",)}
    fallback_reason = None
    for exporter in order[config.exporter]:
        run = _export_dynamo if exporter == "dynamo" else _export_legacy
        try:
            run(model, example, path, config)
            break
        except Exception as err:  # noqa: BLE001 - any exporter failure moves on to the fallback
            fallback_reason = f"{exporter} exporter failed: {type(err).__name__}: {err}"
            if exporter == order[config.exporter][-1]:
                raise OnnxExportError(
                    f"cannot export {type(model).__name__} to {path}: {fallback_reason}"
                ) from err
            log.warning("%s; falling back to the legacy exporter", fallback_reason)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as err:
        raise OnnxExportError(f"{path} fails the ONNX checker: {err}") from err
    return OnnxExportResult(
        path=path,
        exporter=exporter,
        opset=config.opset,
        input_name=config.input_name,
        output_name=config.output_name,
        fallback_reason=fallback_reason,
    )


def max_abs_error_vs_torch(model, onnx_path: str | Path, inputs: np.ndarray, runtime=None) -> float:
    """The largest absolute difference between PyTorch's and ONNX Runtime's outputs on `inputs`.

    Args:
        model: The PyTorch network that was exported (run in eval mode, on the CPU).
        onnx_path: The exported file.
        inputs: One input batch, (B, *input_shape) float32.
        runtime: A `profilers` runtime to run the ONNX file; ONNX Runtime on the CPU by default.
    """
    import torch

    from profilers.runtimes import create_runtime

    runtime = runtime or create_runtime("onnxruntime")
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))).numpy()
    with runtime.load(onnx_path) as session:
        name = session.input_specs[0].name
        actual = session.run({name: np.ascontiguousarray(inputs, dtype=np.float32)})[0]
    if actual.shape != expected.shape:
        raise OnnxExportError(
            f"{onnx_path} returns shape {actual.shape}, PyTorch returns {expected.shape}"
        )
    return float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))
