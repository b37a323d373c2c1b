"""The reliability diagram is written as a PNG."""

import numpy as np
import pytest

from hwnas.methods.nes.reliability import plot_reliability


def test_writes_a_non_empty_png(tmp_path):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, 200)
    path = plot_reliability(
        {"nes": (probs, labels), "deep ensemble": (np.full((50, 4), 0.25), labels[:50])},
        tmp_path / "plots" / "reliability.png",
    )
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_rejects_no_results_and_bad_probabilities(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        plot_reliability({}, tmp_path / "r.png")
    with pytest.raises(ValueError, match="sum to 1"):
        plot_reliability({"x": (np.ones((3, 2)), np.zeros(3, int))}, tmp_path / "r.png")
    assert not (tmp_path / "r.png").exists()
