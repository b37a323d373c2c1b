"""Reliability diagrams: accuracy against confidence per bin, one bar series per predictor."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hwnas.methods.nes.metrics import reliability


def plot_reliability(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    bins: int = 10,
    title: str = "Reliability diagram",
) -> Path:
    """Draws the reliability diagram of each predictor into a PNG at `path`.

    Each predictor gets one series of bars (accuracy of its predictions in each of `bins`
    equal-width confidence bins), drawn side by side within each bin; the diagonal is perfect
    calibration, and the legend gives each predictor's ECE. Empty bins have no bar.

    Args:
        results: For each predictor's name, its probabilities (N, C) and labels (N,).
        path: The PNG file to write; its folder is created.

    Returns:
        `path`.

    Raises:
        ValueError: for no predictors or invalid probabilities/labels (see
            `hwnas.methods.nes.metrics`).
    """
    if not results:
        raise ValueError("plot_reliability needs at least one (probs, labels) pair")
    tables = {name: reliability(probs, labels, bins) for name, (probs, labels) in results.items()}
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.0, 5.0), dpi=100)
    axes = figure.subplots()
    width = 1.0 / bins
    bar = width / len(tables)
    for position, (name, table) in enumerate(tables.items()):
        filled = table.count > 0
        lefts = table.edges[:-1][filled] + position * bar
        axes.bar(
            lefts,
            table.accuracy[filled],
            width=bar,
            align="edge",
            alpha=0.8,
            edgecolor="black",
            linewidth=0.5,
            label=f"{name} (ECE {table.ece:.3f})",
        )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=title)
    axes.legend(loc="upper left", fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
