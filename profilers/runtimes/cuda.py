"""CUDA helpers of the torch runtimes: importing torch with CUDA, and timing with CUDA events."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from profilers.errors import RuntimeUnavailableError


def import_torch(runtime: str) -> ModuleType:
    """Import torch, or explain how to install it.

    Raises:
        RuntimeUnavailableError: If torch is not installed.
    """
    try:
        import torch
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"the {runtime!r} runtime needs PyTorch ({exc}); install it with `pip install torch`"
        ) from exc
    return torch


def require_cuda(torch: ModuleType, runtime: str, device: str) -> None:
    """Check that ``device`` (e.g. ``"cuda:0"``) is a CUDA GPU torch can use.

    Raises:
        RuntimeUnavailableError: If torch has no CUDA, sees no GPU, or not that many GPUs.
    """
    if torch.version.cuda is None:
        raise RuntimeUnavailableError(
            f"the {runtime!r} runtime needs a CUDA build of PyTorch; torch {torch.__version__} "
            "here is CPU-only (install a CUDA wheel from https://pytorch.org)"
        )
    if not torch.cuda.is_available():
        raise RuntimeUnavailableError(
            f"the {runtime!r} runtime needs a CUDA GPU; torch {torch.__version__} "
            f"(CUDA {torch.version.cuda}) sees none (check the driver with `nvidia-smi`)"
        )
    index = torch.device(device).index or 0
    count = torch.cuda.device_count()
    if index >= count:
        raise RuntimeUnavailableError(
            f"the {runtime!r} runtime was asked for {device!r} but torch sees {count} GPU(s); "
            f"use cuda:0 .. cuda:{count - 1}"
        )


class CudaEventTimer:
    """Device time of a run, between two CUDA events recorded on the current stream.

    The end event is synchronised after each run, so the next run starts on an idle GPU and
    the time covers the launches and all the device work of one inference
    (``torch.cuda.Event.elapsed_time``, resolution about 0.5 us).

    Args:
        device: A CUDA device, e.g. ``"cuda:0"``.
    """

    kind = "cuda_events"

    def __init__(self, device: str) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def time_ns(self, fn: Callable[[], object]) -> int:
        """Run ``fn()`` between two events, wait for the end event, return nanoseconds."""
        stream = self._torch.cuda.current_stream(self._device)
        self._start.record(stream)
        fn()
        self._end.record(stream)
        self._end.synchronize()
        return round(self._start.elapsed_time(self._end) * 1e6)

    def synchronize(self) -> None:
        """Wait for all work queued on the device."""
        self._torch.cuda.synchronize(self._device)

    def __repr__(self) -> str:
        return f"CudaEventTimer(device={str(self._device)!r})"


def cuda_describe(torch: ModuleType, device: str) -> dict[str, Any]:
    """Return the CUDA facts of a measurement: GPU name, capability, CUDA and cuDNN versions."""
    index = torch.device(device).index or 0
    return {
        "gpu_name": torch.cuda.get_device_name(index),
        "compute_capability": ".".join(map(str, torch.cuda.get_device_capability(index))),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }
