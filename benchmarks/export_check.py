"""ONNX export of random NAS-Bench-201 networks: does ONNX Runtime compute what PyTorch does?

For each of --cells random cells (seeded): build the network, re-estimate its BatchNorm
statistics on random batches, export it with the default exporter (dynamic batch), and print
the largest absolute difference between ONNX Runtime's and PyTorch's logits on a batch of 3
(not the export batch of 2), the exporter used, and the export time.

    python benchmarks/export_check.py --cells 20
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm
from hwnas.core.export import OnnxExport, export_onnx, max_abs_error_vs_torch
from hwnas.core.spaces import create_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--exporter", default="auto", choices=("auto", "dynamo", "legacy"))
    args = parser.parse_args()

    space = create_space("nb201")
    rng = np.random.default_rng(args.seed)
    inputs = rng.standard_normal((3, *space.input_shape), dtype=np.float32)
    errors = []
    print("nb201_index, exporter, export_s, max_abs_error, max_abs_logit, arch")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.cells):
            arch = space.sample(rng)
            torch.manual_seed(i)
            net = recalibrate_batchnorm(space.build(arch), random_batches((16, 3, 32, 32), seed=i))
            start = time.perf_counter()
            result = export_onnx(
                net, space.input_shape, Path(tmp) / f"{i}.onnx", OnnxExport(exporter=args.exporter)
            )
            seconds = time.perf_counter() - start
            error = max_abs_error_vs_torch(net, result.path, inputs)
            with torch.no_grad():
                scale = float(net(torch.from_numpy(inputs)).abs().max())
            errors.append(error)
            print(
                f"{arch.index}, {result.exporter}, {seconds:.1f}, {error:.3g}, {scale:.3g}, {arch}"
            )
    print(f"max abs error over {args.cells} cells: {max(errors):.3g} (goal <= 1e-4)")


if __name__ == "__main__":
    main()
