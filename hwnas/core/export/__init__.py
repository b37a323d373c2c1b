"""Export of searched networks to deployable files (ONNX here; TensorRT builds on ONNX)."""

from hwnas.core.export.onnx import (
    OnnxExport,
    OnnxExportError,
    OnnxExportResult,
    export_onnx,
    max_abs_error_vs_torch,
)

__all__ = [
    "OnnxExport",
    "OnnxExportError",
    "OnnxExportResult",
    "export_onnx",
    "max_abs_error_vs_torch",
]
