"""What an export is asked to do (`ExportSettings`) and what a device and model allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hwnas.core.export.onnx import OnnxExport
from hwnas.core.export.precision import ONNXRUNTIME_INT8, PRECISIONS, Int8Quantization
from hwnas.core.export.sources import ModelSource
from hwnas.errors import InputError
from profilers.rounds import RoundsConfig
from profilers.timing import TimingConfig, default_timing

FORMATS = ("onnx", "tensorrt")


def ordered_precisions(precisions) -> tuple[str, ...]:
    """`precisions` without repeats in the order fp32, fp16, int8; ``all`` stands for all."""
    wanted = set(PRECISIONS if "all" in precisions else precisions)
    unknown = wanted - set(PRECISIONS)
    if unknown or not wanted:
        raise InputError(
            f"precision must be among {PRECISIONS} or 'all', got {sorted(precisions) or 'none'}"
        )
    return tuple(p for p in PRECISIONS if p in wanted)


@dataclass(frozen=True)
class ExportSettings:
    """How to export, check, score and time.

    Attributes:
        format: ``onnx``, or ``tensorrt`` (an engine per requested precision built here too).
        precisions: The precisions asked for (``fp32``, ``fp16``, ``int8``); the fp32 file is
            always written (the reference). The lowest one asked for is the report's primary.
        onnx: The ONNX exporter's settings.
        timing: The timing method (warm-up, repeated runs, stopping rule).
        intra_op_threads: ONNX Runtime intra-op threads; None uses every usable core.
        batch_size: Batch size of the timed runs.
        check_batch: Inputs per comparison with PyTorch.
        calibration_data: int8: a ``.npy`` of (N, *input_shape) float32 inputs; without it,
            training images of the model's data, or random normal inputs for a model without.
        calibration_samples: int8 calibration inputs drawn when no file is given.
        int8: The int8 quantisation method of the ONNX Runtime file (TensorRT engines take
            symmetric activations: `hwnas.core.export.precision.DEFAULT_INT8`).
        accuracy_data: A data spec to score every file on (its test split); default: the
            model's own data where it has some.
        max_accuracy_drop_points: Largest top-1 drop against PyTorch of a shippable file.
        profile: False skips the timing (latencies None, with the reason).
        rounds: How the budget verdict's file is timed: the profile's rounds, probe and speed
            anchor (`profilers.verify.time_shipped`), so that it is measured as the cells the
            predictor learned from were.
        store: The measurement store the verdict's rounds go to (the profile's, so that its
            speed anchor is the one used); default ``measurements.sqlite`` in the export folder.
        companions: ``(stored key, ONNX file)`` of profiled cells in ``store`` timed again
            beside the verdict's file (`profilers.verify.time_shipped`).
        verdict_precision: The file the budget verdict judges (e.g. ``fp32``, the file that
            ships where int8 is slower); None judges the primary file.
    """

    format: str = "onnx"
    precisions: tuple[str, ...] = ("fp32",)
    onnx: OnnxExport = field(default_factory=OnnxExport)
    timing: TimingConfig = field(default_factory=default_timing)
    intra_op_threads: int | None = None
    batch_size: int = 1
    check_batch: int = 4
    calibration_data: Path | None = None
    calibration_samples: int = 256
    int8: Int8Quantization = ONNXRUNTIME_INT8
    accuracy_data: str | None = None
    max_accuracy_drop_points: float = 1.0
    profile: bool = True
    rounds: RoundsConfig = field(default_factory=RoundsConfig)
    store: Path | None = None
    verdict_precision: str | None = None
    companions: tuple[tuple[str, Path], ...] = ()

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError(f"format must be one of {FORMATS}, got {self.format!r}")
        if isinstance(self.precisions, str):
            object.__setattr__(self, "precisions", (self.precisions,))
        object.__setattr__(self, "precisions", ordered_precisions(self.precisions))
        for name in ("batch_size", "check_batch", "calibration_samples"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.intra_op_threads is not None and self.intra_op_threads < 1:
            raise InputError(f"threads must be >= 1, got {self.intra_op_threads}")
        if not self.max_accuracy_drop_points >= 0:
            raise InputError(
                f"--max-accuracy-drop must be >= 0 points, got {self.max_accuracy_drop_points}"
            )
        if self.calibration_data is not None:
            if "int8" not in self.precisions:
                raise InputError("calibration data is used at --precision int8 only")
            object.__setattr__(self, "calibration_data", Path(self.calibration_data))

    @property
    def primary_precision(self) -> str:
        """The lowest precision asked for: the file the report deploys."""
        return self.precisions[-1]

    @property
    def written_precisions(self) -> tuple[str, ...]:
        """fp32 and every precision asked for."""
        return ordered_precisions(("fp32", *self.precisions))


def check_device(device, source: ModelSource, settings: ExportSettings) -> None:
    """Refuses, before any work, a device or precision this export cannot use."""
    device.require_runnable(
        "nothing can run there, so an export cannot be timed on it. Export for 'local' or a "
        "device you can reach (reach = 'ssh://user@host' or 'ray' in a device file)"
    )
    device.require_runtime(
        "onnxruntime", "which times the exported file: add it if it is installed there"
    )
    remote = device.reach_kind != "local"
    if remote and settings.format == "tensorrt":
        raise InputError(
            f"TensorRT engines are built on the GPU that runs them: run `hwnas export --format "
            f"tensorrt` on {device.name} itself (or export --format onnx to time it there)"
        )
    if remote and source.own_inputs:
        raise InputError(
            f"{source.kind} graphs are timed on token ids within the vocabulary, which the "
            f"remote worker does not draw: run `hwnas export --lrnn` on {device.name} itself"
        )
    refused = [p for p in settings.precisions if p not in source.precisions]
    if refused:
        raise InputError(
            f"{source.kind} models are exported at {', '.join(source.precisions)}, not "
            f"{', '.join(refused)}: their inputs are token ids (no float calibration or fp16 "
            "check for them yet)"
        )
