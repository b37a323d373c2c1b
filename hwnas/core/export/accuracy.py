"""Accuracy of what ships and the choice of file: top-1 of the PyTorch model and of each ONNX
file as ONNX Runtime runs it, and the fastest file within an accuracy drop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hwnas.core.export.precision import PRECISIONS
from hwnas.core.export.report import AccuracyReport, FileAccuracy, PrecisionChoice, SlowerFile
from hwnas.errors import InputError

EVAL_BATCH = 256
"""Images per ONNX Runtime / PyTorch call when scoring."""


def choose_precision(
    latency_ms: Mapping[str, float],
    drop_points: Mapping[str, float] | None,
    max_drop_points: float,
) -> PrecisionChoice:
    """The fastest file, the fastest within `max_drop_points` of top-1, and slower-than-fp32 files.

    Args:
        latency_ms: Median latency per precision (files that were timed).
        drop_points: Top-1 drop against PyTorch per precision, in points; None where no
            accuracy was measured.
        max_drop_points: The largest drop a shippable file may have.
    """
    order = {p: i for i, p in enumerate(PRECISIONS)}
    timed = sorted(latency_ms, key=lambda p: (latency_ms[p], order.get(p, len(order))))
    fastest = timed[0] if timed else None
    slower = tuple(
        SlowerFile(p, latency_ms[p], latency_ms["fp32"])
        for p in sorted(latency_ms, key=lambda p: order.get(p, len(order)))
        if p != "fp32" and "fp32" in latency_ms and latency_ms[p] > latency_ms["fp32"]
    )
    if not timed:
        return PrecisionChoice(None, None, max_drop_points, slower, "no file was timed")
    if drop_points is None:
        reason = "no accuracy measured: the fastest file within the drop is not known"
        return PrecisionChoice(fastest, None, max_drop_points, slower, reason)
    within = [p for p in timed if p in drop_points and drop_points[p] <= max_drop_points]
    reason = None if within else f"no file within {max_drop_points:g} points of PyTorch"
    return PrecisionChoice(fastest, within[0] if within else None, max_drop_points, slower, reason)


def torch_top1(module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 (%) of a PyTorch classifier (eval mode, CPU) on images `x` (N, C, H, W)."""
    import torch

    module.eval()
    hits = 0
    with torch.no_grad():
        for i in range(0, len(y), EVAL_BATCH):
            logits = module(torch.from_numpy(np.ascontiguousarray(x[i : i + EVAL_BATCH])))
            hits += int((logits.argmax(1).numpy() == y[i : i + EVAL_BATCH]).sum())
    return 100.0 * hits / len(y)


def onnx_top1(path: str | Path, runtime, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 (%) of an ONNX classifier run by a `profilers` runtime on images `x`."""
    hits = 0
    with runtime.load(path) as session:
        name = session.input_specs[0].name
        for i in range(0, len(y), EVAL_BATCH):
            batch = np.ascontiguousarray(x[i : i + EVAL_BATCH], dtype=np.float32)
            hits += int((session.run({name: batch})[0].argmax(1) == y[i : i + EVAL_BATCH]).sum())
    return 100.0 * hits / len(y)


def heldout_split(spec: str, input_shape: tuple[int, ...], num_classes: int | None):
    """The images to score on: `spec`'s test split (validation where it has none).

    Returns:
        (images, labels, split name).

    Raises:
        InputError: when the data's images or classes do not fit the model.
    """
    from hwnas.core.export.sources import split_dataset

    data = split_dataset(spec)
    split, name = (data.test, "test") if data.test is not None else (data.val, "val")
    if tuple(split.x.shape[1:]) != tuple(input_shape):
        raise InputError(
            f"--accuracy-data {spec}: images of shape {tuple(split.x.shape[1:])}, the model takes "
            f"{tuple(input_shape)}: give data of the model's own format"
        )
    if num_classes is not None and int(split.y.max()) >= num_classes:
        raise InputError(
            f"--accuracy-data {spec}: label {int(split.y.max())} but the model has "
            f"{num_classes} classes"
        )
    return split.x, split.y, name


def measure_accuracy(
    module, files: Mapping[str, str | Path], runtime, spec: str, input_shape, num_classes
) -> AccuracyReport:
    """Top-1 of `module` and of each file (by precision) on `spec`'s held-out split."""
    x, y, split = heldout_split(spec, input_shape, num_classes)
    reference = torch_top1(module, x, y)
    scored = []
    for precision, path in files.items():
        top1 = onnx_top1(path, runtime, x, y)
        scored.append(FileAccuracy(precision, str(path), top1, reference - top1))
    return AccuracyReport(spec, split, int(len(y)), reference, tuple(scored))
