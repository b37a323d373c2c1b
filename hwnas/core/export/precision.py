"""Reduced-precision ONNX files: fp16 by conversion, int8 by Q/DQ nodes with calibration data.

TensorRT 11 networks are strongly typed: an engine computes in the precision its ONNX file
declares. These conversions make that file; TensorRT 10 can build them as well.

- fp16: ``onnxconverter_common.float16.convert_float_to_float16`` with fp32 inputs and
  outputs kept (``keep_io_types``), so callers feed and read float32 as before.
- int8: ``onnxruntime.quantization.quantize_static`` in QDQ format, symmetric int8
  activations and per-channel symmetric int8 weights (what TensorRT's explicit quantization
  takes), biases left in float, scales from min/max calibration on sample inputs
  (`DEFAULT_INT8`); the file ONNX Runtime runs takes asymmetric uint8 activations instead
  (`ONNXRUNTIME_INT8`, faster there). `Int8Quantization` names the other settings measured
  by `benchmarks/export_int8.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwnas.core.export.onnx import OnnxExportError

PRECISIONS = ("fp32", "fp16", "int8")

# Largest error allowed against the fp32 PyTorch model, as max |difference| of the outputs over
# max |fp32 output|. Measured on NB201 networks with re-estimated BatchNorm statistics (8
# random inputs, int8 calibrated on 32): fp16 5.9e-4 (8 channels, 1 cell per stage) and 2.2e-3
# (16 channels, 5 cells); int8 Q/DQ 1.9e-2 and 1.3e-1. Untrained networks whose activations
# outgrow fp16's range (65504), e.g. many skip connections summed, fail the fp16 check.
RELATIVE_TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "int8": 0.25}

log = logging.getLogger(__name__)


def convert_fp16(onnx_path: str | Path, out_path: str | Path) -> Path:
    """Write an fp16 copy of an fp32 ONNX file, keeping fp32 inputs and outputs.

    Raises:
        OnnxExportError: If the converted file fails the ONNX checker.
    """
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(onnx_path))
    converted = float16.convert_float_to_float16(model, keep_io_types=True)
    return _save_checked(converted, Path(out_path))


class _Calibration:
    """``CalibrationDataReader`` over an (N, *input_shape) array, ``batch_size`` at a time."""

    def __init__(self, input_name: str, samples: np.ndarray, batch_size: int) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
        )
        self._input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._input_name: batch}

    def rewind(self) -> None:  # onnxruntime calls it between calibration passes
        raise OnnxExportError("int8 calibration takes one pass over the samples")


INT8_FORMATS = ("qdq", "qoperator")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class Int8Quantization:
    """How ONNX Runtime's static quantisation makes an int8 file.

    Attributes:
        format: ``qdq`` (QuantizeLinear/DequantizeLinear pairs: what TensorRT takes, and what
            ONNX Runtime fuses into int8 kernels) or ``qoperator`` (QLinearConv, QLinearMatMul).
        per_channel: One weight scale per output channel instead of one per tensor.
        activation_symmetric: Symmetric int8 activations (zero point 0); else asymmetric uint8.
        calibration: ``minmax``, ``entropy`` or ``percentile`` (99.999 %) activation ranges.
        op_types: Operator types quantised; None: every type ONNX Runtime quantises.
        exclude_first_conv: Keep the first convolution (on the raw image) in float.
        exclude_classifier: Keep the last Gemm/MatMul (the classifier) in float.
    """

    format: str = "qdq"
    per_channel: bool = True
    activation_symmetric: bool = True
    calibration: str = "minmax"
    op_types: tuple[str, ...] | None = None
    exclude_first_conv: bool = False
    exclude_classifier: bool = False

    def __post_init__(self) -> None:
        if self.format not in INT8_FORMATS:
            raise OnnxExportError(f"int8 format must be one of {INT8_FORMATS}, got {self.format!r}")
        if self.calibration not in CALIBRATION_METHODS:
            raise OnnxExportError(
                f"calibration must be one of {CALIBRATION_METHODS}, got {self.calibration!r}"
            )
        if self.op_types is not None:
            object.__setattr__(self, "op_types", tuple(self.op_types))

    def describe(self) -> str:
        """One line for reports: format, weights, activations, calibration, exclusions."""
        parts = [
            f"onnxruntime quantize_static {self.format.upper()}",
            f"{'per-channel' if self.per_channel else 'per-tensor'} int8 weights",
            f"{'symmetric int8' if self.activation_symmetric else 'asymmetric uint8'} activations",
            f"{self.calibration} calibration",
            "float biases",
        ]
        if self.op_types is not None:
            parts.append(f"ops {'/'.join(self.op_types)} only")
        excluded = [
            name
            for name, flag in (
                ("first conv", self.exclude_first_conv),
                ("classifier", self.exclude_classifier),
            )
            if flag
        ]
        if excluded:
            parts.append(f"{' and '.join(excluded)} kept in float")
        return ", ".join(parts)


DEFAULT_INT8 = Int8Quantization()
"""Q/DQ, per-channel symmetric int8 weights, symmetric int8 activations, min/max calibration:
what TensorRT's explicit quantisation takes (zero points 0); the TensorRT path's setting."""
ONNXRUNTIME_INT8 = Int8Quantization(activation_symmetric=False)
"""The int8 file ONNX Runtime runs: as `DEFAULT_INT8` but asymmetric uint8 activations, which
ONNX Runtime's x86 int8 kernels (U8S8) run fastest. Chosen by `benchmarks/export_int8.py` on a
30-epoch digits model (NB201 cell, 16 channels): every Q/DQ setting kept top-1 within 0.3
points of fp32 on 360 held-out images, uint8 activations ran 1.9x faster than symmetric int8
activations (1.03 against 1.96 ms, one thread, batch 1); QOperator lost 18 points."""


def _excluded_nodes(model, settings: Int8Quantization) -> list[str]:
    """Names of the first Conv and the last Gemm/MatMul where `settings` keeps them in float."""
    nodes = list(model.graph.node)
    excluded = []
    if settings.exclude_first_conv:
        first = next((n for n in nodes if n.op_type == "Conv"), None)
        excluded += [first.name] if first is not None else []
    if settings.exclude_classifier:
        last = next((n for n in reversed(nodes) if n.op_type in ("Gemm", "MatMul")), None)
        excluded += [last.name] if last is not None else []
    return excluded


def quantize_int8(
    onnx_path: str | Path,
    out_path: str | Path,
    samples: np.ndarray,
    settings: Int8Quantization = DEFAULT_INT8,
    batch_size: int = 8,
) -> Path:
    """Write an int8 copy of an fp32 ONNX file, calibrated on ``samples``.

    Args:
        onnx_path: The fp32 model, with one float input.
        out_path: Where the quantized model goes.
        samples: Calibration inputs, (N, *input_shape) float32, drawn like the data the
            engine will see (training images for a trained network).
        settings: The quantisation method.
        batch_size: Samples per calibration run (the model's batch axis must allow it).

    Raises:
        OnnxExportError: If the model has not exactly one input, the samples are empty or of
            the wrong shape, or the result fails the ONNX checker.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    model = onnx.load(str(onnx_path))
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise OnnxExportError(
            f"{onnx_path}: int8 calibration feeds models with one input; this one has "
            f"{[i.name for i in inputs]}"
        )
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    dims = [d.dim_value or None for d in inputs[0].type.tensor_type.shape.dim]
    if (
        samples.ndim != len(dims)
        or len(samples) == 0
        or any(d is not None and d != s for d, s in zip(dims[1:], samples.shape[1:]))
    ):
        raise OnnxExportError(
            f"calibration samples of shape {samples.shape} do not fit input "
            f"{inputs[0].name!r} of {onnx_path} (dims {dims}); give (N, *input_shape) with N >= 1"
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    prepared = out_path.with_name(out_path.stem + ".pre.onnx")
    quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    symmetric = settings.activation_symmetric
    try:
        quantize_static(
            str(prepared),
            str(out_path),
            _Calibration(inputs[0].name, samples, batch_size),
            quant_format=QuantFormat.QDQ if settings.format == "qdq" else QuantFormat.QOperator,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=settings.per_channel,
            op_types_to_quantize=list(settings.op_types) if settings.op_types else None,
            nodes_to_exclude=_excluded_nodes(onnx.load(str(prepared)), settings),
            calibrate_method=methods[settings.calibration],
            extra_options={
                "ActivationSymmetric": symmetric,
                "WeightSymmetric": True,
                "QuantizeBias": False,
            },
        )
    finally:
        prepared.unlink(missing_ok=True)
    return _save_checked(onnx.load(str(out_path)), out_path)


def quantize_int8_qdq(
    onnx_path: str | Path,
    out_path: str | Path,
    samples: np.ndarray,
    batch_size: int = 8,
) -> Path:
    """Write a Q/DQ int8 copy of an fp32 ONNX file (`DEFAULT_INT8`), calibrated on ``samples``.

    The TensorRT path's conversion (explicit quantisation); see `quantize_int8`.
    """
    return quantize_int8(onnx_path, out_path, samples, DEFAULT_INT8, batch_size)


TIMING_CALIBRATION_SAMPLES = 32


def timing_copy(
    fp32_path: str | Path,
    out_path: str | Path,
    precision: str,
    input_shape: tuple[int, ...],
    seed: int = 0,
) -> Path:
    """Write the `precision` copy of an fp32 ONNX file that ONNX Runtime times.

    fp16 by `convert_fp16`; int8 by `quantize_int8` with `ONNXRUNTIME_INT8`, calibrated on
    ``TIMING_CALIBRATION_SAMPLES`` seeded random inputs of shape (N, *input_shape): a file's
    latency does not depend on its scales and zero points, only on its operators and shapes,
    so random calibration times what a file calibrated on real data runs. fp32: the file as is.
    """
    if precision == "fp32":
        return Path(fp32_path)
    if precision == "fp16":
        return convert_fp16(fp32_path, out_path)
    if precision != "int8":
        raise OnnxExportError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    rng = np.random.default_rng(seed)
    shape = (TIMING_CALIBRATION_SAMPLES, *input_shape)
    samples = rng.standard_normal(shape).astype(np.float32)
    return quantize_int8(fp32_path, out_path, samples, ONNXRUNTIME_INT8)


def check_calibration(samples: np.ndarray, origin: str) -> np.ndarray:
    """`samples` as float32 if they can calibrate int8 ranges: finite and not all one value.

    Raises:
        OnnxExportError: naming `origin` (a file or the data spec) and what is wrong.
    """
    samples = np.asarray(samples)
    if samples.dtype.kind != "f":
        raise OnnxExportError(f"{origin} holds {samples.dtype} samples; give float32 inputs")
    if samples.size == 0:
        raise OnnxExportError(f"{origin} holds no calibration samples")
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        raise OnnxExportError(
            f"{origin}: {bad} NaN or infinite values in the calibration samples; int8 ranges "
            "need finite inputs like the deployment data"
        )
    if float(samples.max()) == float(samples.min()):
        raise OnnxExportError(
            f"{origin}: every calibration value is {float(samples.min()):g}; constant inputs "
            "give no activation ranges: give real inputs like the deployment data"
        )
    return samples.astype(np.float32)


def load_calibration(path: str | Path) -> np.ndarray:
    """Calibration inputs from a ``.npy`` file (no pickled objects are read).

    Raises:
        OnnxExportError: If the file is missing or not a float array.
    """
    path = Path(path)
    try:
        samples = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise OnnxExportError(f"cannot read calibration samples {path}: {exc}") from exc
    if samples.dtype.kind != "f":
        raise OnnxExportError(f"{path} holds {samples.dtype} samples; save float32 inputs")
    return samples.astype(np.float32)


def _save_checked(model, path: Path) -> Path:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise OnnxExportError(f"{path} fails the ONNX checker after conversion: {exc}") from exc
    return path
