"""Which ONNX Runtime int8 settings keep a trained network's accuracy, and what they cost.

Trains a small NB201 network on a dataset (default `digits`, raw pixels in, normalisation
inside the graph as `hwnas train` saves it) or takes a model folder (`--model DIR`), exports
it to fp32 ONNX, then quantises it with each setting below, calibrated on training images, and
prints each file's top-1 on the test split (ONNX Runtime) and its latency (one thread, batch
1) beside the fp32 file's, measured in the same run.

    .venv/bin/python benchmarks/export_int8.py [--model DIR] [--epochs 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from hwnas.core.export.precision import ONNXRUNTIME_INT8, Int8Quantization

SETTINGS = {
    "qdq per-channel minmax (TensorRT's)": Int8Quantization(),
    "qdq per-tensor minmax": Int8Quantization(per_channel=False),
    "qdq per-channel entropy": Int8Quantization(calibration="entropy"),
    "qdq per-channel percentile": Int8Quantization(calibration="percentile"),
    "qdq uint8 asymmetric activations (ONNX Runtime's)": ONNXRUNTIME_INT8,
    "qdq conv/gemm/matmul only": Int8Quantization(op_types=("Conv", "Gemm", "MatMul")),
    "qdq first conv + classifier float": Int8Quantization(
        exclude_first_conv=True, exclude_classifier=True
    ),
    "qoperator per-channel uint8": Int8Quantization(format="qoperator", activation_symmetric=False),
}


def train_small(spec_text: str, epochs: int, out: Path, channels: int, cells: int) -> Path:
    """A small NB201 network trained with Adam on `spec_text`, saved as a model folder."""
    import torch

    from hwnas.core.datasets import load_split_dataset
    from hwnas.core.deployable import build_deployable
    from hwnas.core.trained import TrainedModelSpec, save_trained_model

    data = load_split_dataset(spec_text)
    c = data.train.x.shape[1]
    net_c = 3
    spec = TrainedModelSpec(
        space="nb201",
        arch="|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|"
        "nor_conv_3x3~2|",
        input_shape=tuple(data.train.x.shape[1:]),
        num_classes=data.train.num_classes,
        class_names=data.class_names,
        mean=tuple(data.mean) * (net_c // c),
        std=tuple(data.std) * (net_c // c),
        network_input=(net_c, *data.train.x.shape[2:]),
        network={"channels": channels, "cells_per_stage": cells},
        data={"spec": spec_text, "fingerprint": data.fingerprint},
        training={"epochs": epochs, "optimizer": "adam", "lr": 3e-3},
    )
    torch.manual_seed(0)
    model = build_deployable(spec)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y))
        for i in range(0, len(y), 64):
            rows = order[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()
    return save_trained_model(out, model.eval().state_dict(), spec)


def top1(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    hits = 0
    for i in range(0, len(y), 256):
        hits += int(
            (session.run(None, {name: x[i : i + 256]})[0].argmax(1) == y[i : i + 256]).sum()
        )
    return 100.0 * hits / len(y)


def latencies_ms(paths: dict[str, Path], shape: tuple[int, ...], rounds: int = 5) -> dict:
    """Median latency (batch 1, 1 thread) of each file, timed in interleaved rounds."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sessions = {
        k: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
        for k, p in paths.items()
    }
    x = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    samples = {k: [] for k in paths}
    for _ in range(rounds):
        for key, session in sessions.items():
            name = session.get_inputs()[0].name
            for _ in range(20):
                session.run(None, {name: x})
            start = time.perf_counter_ns()
            for _ in range(100):
                session.run(None, {name: x})
            samples[key].append((time.perf_counter_ns() - start) / 100 / 1e6)
    return {k: float(np.median(v)) for k, v in samples.items()}


def main() -> None:
    from hwnas.core.datasets import load_split_dataset
    from hwnas.core.deployable import load_trained_model
    from hwnas.core.export import OnnxExport, export_onnx
    from hwnas.core.export.precision import quantize_int8

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model folder (default: train one)")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=1)
    parser.add_argument("--calibration", type=int, default=256)
    parser.add_argument(
        "--accuracy-data", help="score on this spec's test split (default: the model's data)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="export_int8_"))
    started = time.perf_counter()
    model_dir = args.model or train_small(
        args.data, args.epochs, work / "model", args.channels, args.cells
    )
    model, spec = load_trained_model(model_dir)
    data = load_split_dataset(spec.data["spec"])
    scored = load_split_dataset(args.accuracy_data) if args.accuracy_data else data
    test = scored.test or scored.val
    print(f"model {model_dir}: {spec.arch} on {spec.data['spec']} "
          f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    fp32 = export_onnx(model, spec.input_shape, work / "fp32.onnx", OnnxExport()).path
    calib = data.train.subset(args.calibration, seed=0).x
    paths = {"fp32": fp32}
    for i, (name, settings) in enumerate(SETTINGS.items()):
        paths[name] = quantize_int8(fp32, work / f"int8_{i}.onnx", calib, replace(settings))
    accuracy = {k: top1(p, test.x, test.y) for k, p in paths.items()}
    latency = latencies_ms(paths, spec.input_shape)
    where = args.accuracy_data or spec.data["spec"]
    print(
        f"{len(test.y)} test images of {where}; latency: ONNX Runtime 1 thread, batch 1, "
        "median of 5 interleaved rounds of 100 runs"
    )
    print("| file | top-1 % | drop vs fp32 (points) | latency ms | x fp32 |")
    print("|---|---|---|---|---|")
    for key in paths:
        print(
            f"| {key} | {accuracy[key]:.2f} | {accuracy['fp32'] - accuracy[key]:+.2f} | "
            f"{latency[key]:.4f} | {latency[key] / latency['fp32']:.2f} |"
        )


if __name__ == "__main__":
    main()
