"""Shared test settings."""

import pytest
import torch

# Session- and module-scoped fixtures are set up before the per-test fixture below: one thread
# for them too (several threads on a busy 2-core machine made a 1 s fit take 80 s).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests train and run tiny networks: one torch thread is faster for them, and keeps a
    2-core machine from oversubscribing when tests and other processes run side by side."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _own_speed_anchors(tmp_path, monkeypatch):
    """Each test keeps its own speed anchors file (`profilers.speed`), not the user's."""
    monkeypatch.setenv("HWNAS_SPEED_ANCHORS", str(tmp_path / "speed-anchors.json"))
