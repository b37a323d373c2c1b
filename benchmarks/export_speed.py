"""ONNX Runtime against PyTorch eager on the same exported NB201 network, side by side.

The network (fresh weights, BatchNorm statistics re-estimated on random batches) is exported
once with a dynamic batch; then, for each batch size, PyTorch eager (``torch.inference_mode``)
and ONNX Runtime (the profilers' runtime, sequential execution, all graph optimisations) are
timed with the same stopping rule and the same number of threads, in alternating rounds
(ABBA) so that drifts of a shared machine hit both. The ratio is PyTorch's median over ONNX
Runtime's (above 1: ONNX Runtime is faster), the median over rounds.

    python benchmarks/export_speed.py --threads 1 --batch-sizes 1 32
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|"
    "+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
)
"""Every edge reaches the output: no dead code for ONNX Runtime to drop that PyTorch runs."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default=DEFAULT_ARCH)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-time-s", type=float, default=1.0, help="time cap per timing")
    args = parser.parse_args()

    import torch

    from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm
    from hwnas.core.export import export_onnx
    from hwnas.core.spaces import NB201Space
    from profilers import TimingConfig, create_runtime, time_callable

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = NB201Space()
    arch = space.parse(args.arch)
    model = recalibrate_batchnorm(space.build(arch), random_batches((16, *space.input_shape)))
    model.eval()
    timing = TimingConfig(max_time_s=args.max_time_s)
    runtime = create_runtime("onnxruntime", intra_op_threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        result = export_onnx(model, space.input_shape, Path(tmp) / "net.onnx")
        print(f"{arch} ({result.exporter} exporter), {args.threads} thread(s), "
              f"torch {torch.__version__}, {runtime.describe().get('version', '')}")  # fmt: skip
        print("batch, torch_ms, onnxruntime_ms, ratio, ratio_min, ratio_max, max_abs_error")
        session = runtime.load(result.path)
        for batch in args.batch_sizes:
            x = np.random.default_rng(batch).standard_normal(
                (batch, *space.input_shape), dtype=np.float32
            )
            tx = torch.from_numpy(x)
            feed = {session.input_specs[0].name: x}
            with torch.inference_mode():
                error = float(np.max(np.abs(model(tx).numpy() - session.run(feed)[0])))

                def run_torch(tx=tx) -> None:
                    model(tx)

                run_onnx = session.prepare(feed)

                ratios, torch_ms, onnx_ms = [], [], []
                for round_ in range(args.rounds):
                    order = (run_torch, run_onnx) if round_ % 2 == 0 else (run_onnx, run_torch)
                    medians = {fn: time_callable(fn, timing).median_ms for fn in order}
                    torch_ms.append(medians[run_torch])
                    onnx_ms.append(medians[run_onnx])
                    ratios.append(medians[run_torch] / medians[run_onnx])
            print(f"{batch}, {np.median(torch_ms):.4f}, {np.median(onnx_ms):.4f}, "
                  f"{np.median(ratios):.3f}, {min(ratios):.3f}, {max(ratios):.3f}, {error:.2e}",
                  flush=True)  # fmt: skip
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
