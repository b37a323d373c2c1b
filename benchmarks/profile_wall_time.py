"""How much longer does a 40-cell profile take with rounds than with one window per cell?

Issue 18's goal: a 40-cell campaign at the defaults takes at most 1.5x the wall time of the
method before rounds. The 10 NB201 references and 30 random cells (seed 5) are exported once
(timed), then profiled four times in one run, in the order before, after, after, before, so
that a slow spell or a drift of the machine weighs on both methods alike:

- before: one timing window per cell (``profile_onnx`` with the profile's timing, up to 2 s),
  ONNX Runtime at every usable core.
- after: ``hwnas profile``'s defaults (``profilers.run_campaign``: rounds, one thread, the
  probe, re-timed and extra rounds), each time into a fresh store.

Prints each campaign's wall time, the ratio of the means, and the ratio of a whole profile
(export included, as ``hwnas profile`` exports each cell once either way).

    python benchmarks/profile_wall_time.py          # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from noisy_neighbour import export_cells, profile_after, profile_before, timed  # noqa: E402

from profilers.rounds import RoundsConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exporter", default="legacy", choices=("auto", "dynamo", "legacy"))
    parser.add_argument("--cells", type=int, default=40)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; usable cores: {len(os.sched_getaffinity(0))}")
    walls: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="profile-wall-") as tmp:
        folder = Path(tmp)
        items, export_s = timed(
            f"export {args.cells} cells",
            lambda: export_cells(folder, args.exporter, args.cells, samples=args.cells - 10),
        )
        for number, method in enumerate(("before", "after", "after", "before")):
            if method == "before":
                run = lambda: profile_before(items, None)  # noqa: E731
            else:
                store = folder / f"after{number}.sqlite"
                run = lambda s=store: profile_after(items, s, RoundsConfig())  # noqa: E731
            _, seconds = timed(f"{method} ({number + 1} of 4)", run)
            walls[method].append(seconds)
    before, after = (statistics.mean(walls[m]) for m in ("before", "after"))
    print()
    print(f"export of {args.cells} cells: {export_s:.1f} s (once, either method)")
    print(
        f"timing only: before {' / '.join(f'{s:.1f}' for s in walls['before'])} s, "
        f"after {' / '.join(f'{s:.1f}' for s in walls['after'])} s: "
        f"after / before = {after / before:.2f}x"
    )
    print(
        f"whole profile (export + timing): {export_s + before:.1f} s vs {export_s + after:.1f} s: "
        f"{(export_s + after) / (export_s + before):.2f}x"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
