"""GPU check: NB201 cells timed with CUDA events, eager and as CUDA graphs, with NVML energy.

For each cell (the 10 NB201 reference cells by default) and each runtime (``torch`` eager on
``cuda:N``, ``torch-cudagraph``), ``profilers.profile_session`` times batch-``--batch`` inputs
with CUDA events until the median's 95 % CI is within 1 % (or a cap), then measures energy per
inference with NVML's total-energy counter: an idle window, then a work window of at least
10 counter updates (1 s), giving gross and net-of-idle mJ per inference and average W. Prints
the GPU fingerprint and one table; ``--json PATH`` also writes every row.

    python benchmarks/gpu_check.py                      # on a machine with an NVIDIA GPU
    python benchmarks/gpu_check.py --cells 3 --batch 8 --json /tmp/gpu_check.json

Exits with status 2 and a one-line reason where there is no CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from devices.fingerprint import gpu_fingerprint
from hwnas.core.spaces import create_space
from profilers import TimingConfig, create_runtime
from profilers.energy import EnergyConfig, EnergyMeter, open_meter
from profilers.profile import profile_session
from profilers.runtimes import InputSpec, Runtime
from profilers.runtimes.torch import TorchModel

RUNTIMES = ("torch", "torch-cudagraph")
COLUMNS = (
    ("cell", "cell"),
    ("runtime", "runtime"),
    ("median_ms", "median ms"),
    ("p90_ms", "p90 ms"),
    ("p99_ms", "p99 ms"),
    ("cov", "CoV"),
    ("n", "n"),
    ("stop_reason", "stop"),
    ("energy_mj", "mJ/inf"),
    ("energy_net_mj", "net mJ/inf"),
    ("power_w", "W"),
    ("idle_power_w", "idle W"),
)


def cuda_unavailable_reason() -> str | None:
    """Return why this machine cannot run the check (no torch CUDA, no GPU), or None."""
    try:
        import torch
    except ImportError as exc:
        return f"PyTorch is not installed ({exc})"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build; install a CUDA wheel"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"
    return None


def cell_model(space: Any, arch: Any) -> TorchModel:
    """Return the NB201 network of ``arch`` as a TorchModel with a (N, 3, 32, 32) input."""
    import torch

    def build() -> Any:
        torch.manual_seed(0)
        return space.build(arch)

    spec = InputSpec("input", ("N", *space.input_shape), np.dtype(np.float32))
    return TorchModel(build=build, inputs=(spec,), name=str(arch.index))


def profile_cells(
    models: Sequence[TorchModel],
    runtimes: Sequence[Runtime],
    meter: EnergyMeter,
    timing: TimingConfig,
    energy: EnergyConfig,
    batch_size: int = 1,
) -> list[dict[str, Any]]:
    """Profile every model on every runtime; return one row per pair (see ``COLUMNS``)."""
    rows = []
    for model in models:
        for runtime in runtimes:
            with runtime.load(model) as session:
                stats, info = profile_session(
                    session, timing, batch_size, energy_meter=meter, energy=energy
                )
            rows.append(
                {
                    "cell": model.name,
                    "runtime": runtime.name,
                    **stats.to_dict(),
                    "unstable": stats.unstable,
                    "timer": info["timer"],
                    **{
                        key: info["energy"][key]
                        for key in ("energy_mj", "energy_net_mj", "power_w", "idle_power_w")
                    },
                    "energy_reason": info["energy"]["reason"],
                }
            )
    return rows


def format_cell(value: Any) -> str:
    """Format a table cell: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Return the rows as an aligned text table with the headers of ``COLUMNS``."""
    cells = [[title for _, title in COLUMNS]]
    cells += [[format_cell(row[key]) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10, help="reference cells to time (<= 10)")
    parser.add_argument("--gpu", type=int, default=0, help="CUDA (and NVML) index of the GPU")
    parser.add_argument("--batch", type=int, default=1, help="batch size")
    parser.add_argument("--max-time-s", type=float, default=2.0, help="time cap per timing")
    parser.add_argument("--window-s", type=float, default=1.0, help="shortest energy window")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    reason = cuda_unavailable_reason()
    if reason is not None:
        print(f"gpu_check needs a CUDA GPU: {reason}", file=sys.stderr)
        return 2
    logging.getLogger("profilers.profile").setLevel(logging.ERROR)  # the table shows the CoV
    device = f"cuda:{args.gpu}"
    runtimes = [create_runtime(name, device=device) for name in RUNTIMES]
    for runtime in runtimes:
        print(json.dumps(runtime.describe()))
    print(json.dumps(gpu_fingerprint()))
    space = create_space("nb201")
    models = [cell_model(space, arch) for arch in space.reference_archs()[: args.cells]]
    timing = TimingConfig(max_time_s=args.max_time_s)
    energy = EnergyConfig(min_window_s=args.window_s)
    with open_meter("nvml", index=args.gpu) as meter:  # a NullMeter with the reason if none
        print(json.dumps(meter.describe()))
        rows = profile_cells(models, runtimes, meter, timing, energy, args.batch)
    print(format_table(rows))
    reasons = sorted({row["energy_reason"] for row in rows if row["energy_net_mj"] is None})
    for text in reasons:
        print(f"energy: {text}")
    print(json.dumps(gpu_fingerprint()))  # clocks and temperature after the run
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
