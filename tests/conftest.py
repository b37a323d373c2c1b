"""Shared test settings."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests train and run tiny networks: one torch thread is faster for them, and keeps a
    2-core machine from oversubscribing when tests and other processes run side by side."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
