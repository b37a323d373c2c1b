"""What the export pipeline exports: a model source gives its graphs and how to feed them.

A source (`ModelSource`) says, for each of its graphs, how to export it, how to compare an
ONNX file of it with the PyTorch model, which inputs time it where the profiler's random
inputs do not fit (token ids must stay within a vocabulary), and what calibrates it at int8.
`ImageSource` covers every network with one float image input (B, C, H, W); other kinds
(`hwnas.methods.lrnn.export.LRNNSource`) subclass `ModelSource`. Sources are opened by kind
through the registry of `hwnas.jobs.export_sources`.
"""

from __future__ import annotations

import abc
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.export.onnx import FP32_ATOL
from hwnas.core.export.report import ExportReport
from hwnas.errors import InputError

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def split_dataset(spec: str):
    """`hwnas.core.datasets.load_split_dataset(spec)`, read once per process and spec."""
    from hwnas.core.datasets import load_split_dataset

    return load_split_dataset(spec)


class ExportSourceError(InputError):
    """What was named for export is not a model hwnas can build or load."""


@dataclass(frozen=True)
class ExportedGraph:
    """One ONNX file a source wrote (fp32), and which exporter wrote it."""

    role: str
    path: Path
    exporter: str
    opset: int
    fallback_reason: str | None = None


@dataclass(frozen=True)
class GraphCheck:
    """An ONNX file compared with PyTorch: the largest |difference| and the largest |output|.

    `reference_scale` (max |PyTorch output| over the checked outputs) turns the relative
    tolerances of reduced precision (and of TensorRT engines) into absolute ones.
    `row_sum_max_error` is the largest |row sum - 1| of a file whose outputs are probabilities.
    """

    max_abs_error: float
    reference_scale: float
    inputs: str
    row_sum_max_error: float | None = None


class ModelSource(abc.ABC):
    """A model to export: its kind, canonical name, and how to export and check its graphs.

    Attributes:
        kind: The registered source kind (``nb201``, ``fbnet``, ``darts``, ``nes``, ``lrnn``,
            ``model``).
        name: The canonical string of the model (architecture, genotype, folder).
        stem: File name stem of its ONNX files.
        details: Extra report fields (parameters, MACs, members...).
        precisions: The precisions its ONNX files can be converted to and checked at.
        own_inputs: Whether its graphs are timed on `timing_inputs` rather than on the
            profiler's random inputs (so only here, not on a remote worker).
        trained: Whether the weights are trained; False: random weights, for timing only.
        weights: Where the weights came from, in words.
        data_spec: The data the model was trained on (a `load_split_dataset` spec): its
            training images calibrate int8, its test split scores accuracy; None if unknown.
        num_classes: Classifier outputs, where the model is a classifier.
        fp32_atol: Largest |ONNX Runtime - PyTorch| accepted of the fp32 files.
        report_type: The `ExportReport` class of its report (a subclass adds named views
            of the same fields, such as an LRNN's per-token latency).
    """

    kind: str
    name: str
    stem: str
    details: dict[str, Any]
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")
    own_inputs: bool = False
    trained: bool = False
    weights: str = "not stated"
    data_spec: str | None = None
    num_classes: int | None = None
    fp32_atol: float = FP32_ATOL
    report_type: type[ExportReport] = ExportReport

    @abc.abstractmethod
    def export(self, out_dir: Path, config) -> list[ExportedGraph]:
        """Writes the fp32 ONNX graphs to `out_dir` with `config` (an `OnnxExport`)."""

    @abc.abstractmethod
    def check(self, graph: ExportedGraph, onnx_path: Path, runtime, batch: int) -> GraphCheck:
        """Compares `onnx_path` (`graph` or a converted copy) with PyTorch through `runtime`."""

    def timing_inputs(self, graph: ExportedGraph, batch_size: int) -> dict[str, np.ndarray] | None:
        """Inputs to time `graph` with, or None where the profiler's random inputs fit."""
        return None

    def calibration_samples(self, count: int, seed: int) -> tuple[np.ndarray, str]:
        """Inputs for int8 calibration when no file is given, and where they came from."""
        raise ExportSourceError(f"{self.kind} models cannot be quantized to int8 here")

    def scoring_module(self):
        """The PyTorch classifier whose top-1 the files are compared with; None if none."""
        return None


@dataclass
class ImageSource(ModelSource):
    """A network with one float input of shape (B, *input_shape) and one output.

    Args:
        kind, name, stem, details, trained, weights, data_spec, num_classes: See `ModelSource`.
        module: The PyTorch network, in eval mode.
        input_shape: (C, H, W).
        probabilities: The output is class probabilities (rows sum to 1): checked as well.
        check_inputs: The inputs of the check against PyTorch; default `check_batch`
            standard normal images (seeded with `check_seed`).
    """

    kind: str
    name: str
    stem: str
    module: Any
    input_shape: tuple[int, ...]
    details: dict[str, Any] = field(default_factory=dict)
    trained: bool = False
    weights: str = "not stated"
    data_spec: str | None = None
    num_classes: int | None = None
    probabilities: bool = False
    check_inputs: np.ndarray | None = None
    check_seed: int = 1

    def export(self, out_dir: Path, config) -> list[ExportedGraph]:
        from hwnas.core.export import export_onnx

        result = export_onnx(self.module, self.input_shape, out_dir / f"{self.stem}.onnx", config)
        return [
            ExportedGraph(
                "network", result.path, result.exporter, result.opset, result.fallback_reason
            )
        ]

    def check(self, graph: ExportedGraph, onnx_path: Path, runtime, batch: int) -> GraphCheck:
        import torch

        if self.check_inputs is not None:
            inputs = np.ascontiguousarray(self.check_inputs, dtype=np.float32)
            text = f"{len(inputs)} given inputs of shape {list(self.input_shape)}"
        else:
            rng = np.random.default_rng(self.check_seed)  # not the calibration draw (seed 0)
            inputs = rng.standard_normal((batch, *self.input_shape), dtype=np.float32)
            text = (
                f"{batch} standard normal inputs of shape {list(self.input_shape)} "
                f"(seed {self.check_seed})"
            )
        with torch.no_grad():
            expected = self.module(torch.from_numpy(inputs)).numpy().astype(np.float64)
        with runtime.load(onnx_path) as session:
            actual = session.run({session.input_specs[0].name: inputs})[0].astype(np.float64)
        if actual.shape != expected.shape:
            raise ExportSourceError(
                f"{onnx_path} returns shape {actual.shape}, PyTorch returns {expected.shape}"
            )
        row_sum = None
        if self.probabilities:
            row_sum = float(np.max(np.abs(actual.sum(axis=-1) - 1.0)))
        return GraphCheck(
            max_abs_error=float(np.max(np.abs(actual - expected))),
            reference_scale=float(np.max(np.abs(expected))),
            inputs=text,
            row_sum_max_error=row_sum,
        )

    def calibration_samples(self, count: int, seed: int) -> tuple[np.ndarray, str]:
        """Training images of `data_spec` (seeded subset); random normal inputs without data."""
        if self.data_spec is not None:
            train = split_dataset(self.data_spec).train
            if tuple(train.x.shape[1:]) != tuple(self.input_shape):
                raise ExportSourceError(
                    f"the model's data {self.data_spec} holds images of shape "
                    f"{tuple(train.x.shape[1:])}, the model takes {tuple(self.input_shape)}: "
                    "pass --calibration-data"
                )
            chosen = train.subset(count, seed)
            return chosen.x, f"{len(chosen)} training images of {self.data_spec} (seed {seed})"
        log.warning(
            "int8 calibration on %d random normal inputs: pass calibration data (a .npy of real "
            "inputs) for a trained network",
            count,
        )
        samples = np.random.default_rng(seed).standard_normal(
            (count, *self.input_shape), dtype=np.float32
        )
        return samples, f"{count} random normal inputs (seed {seed})"

    def scoring_module(self):
        return self.module
