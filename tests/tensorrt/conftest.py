"""Fixtures of the TensorRT tests: autospec mocks of the recorded 10.x and 11.x bindings."""

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # trt_api, next to this file

from trt_api import (  # noqa: E402
    FakeTensorRT,
    describe_module,
    load_surface,
    recorded_versions,
)

from profilers.runtimes.tensorrt_engine import GpuInfo  # noqa: E402

# The classes our builder and runner touch: methods returning one of them return its mock.
WIRED = (
    "Builder",
    "IBuilderConfig",
    "INetworkDefinition",
    "OnnxParser",
    "IOptimizationProfile",
    "ITimingCache",
    "IHostMemory",
    "Runtime",
    "ICudaEngine",
    "IExecutionContext",
)
GPU = GpuInfo(name="NVIDIA H100 80GB HBM3", compute_capability="9.0", index=0)
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|none~2|"


def installed_surface() -> dict | None:
    """The API surface of the TensorRT installed here, or None where none imports."""
    if importlib.util.find_spec("tensorrt") is None:
        return None
    try:
        import tensorrt
    except (ImportError, OSError):
        return None
    return describe_module(tensorrt)


@pytest.fixture(
    params=[*recorded_versions(), *(["installed"] if importlib.util.find_spec("tensorrt") else [])]
)
def fake_trt(request):
    """A FakeTensorRT of each recorded TensorRT version (10.x and 11.x), and of the TensorRT
    installed here where there is one."""
    if request.param == "installed":
        surface = installed_surface()
        if surface is None:
            pytest.skip("no TensorRT installed here: the recorded 10.x and 11.x APIs are used")
        return FakeTensorRT(surface, wired=WIRED)
    return FakeTensorRT(load_surface(request.param), wired=WIRED)


def real_tensorrt_reason() -> str | None:
    """Why the real-GPU TensorRT tests cannot run here, or None where they can."""
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (pip install hwnas[tensorrt] with NVIDIA's runtime)"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    return None


@pytest.fixture(scope="session")
def nb201_onnx(tmp_path_factory):
    """A small NB201 network (8 channels, 1 cell per stage) with re-estimated BatchNorm
    statistics, exported to ONNX with a dynamic batch; returns (model, onnx path)."""
    import torch

    from hwnas.core.batchnorm import random_batches, recalibrate_batchnorm
    from hwnas.core.export import OnnxExport, export_onnx
    from hwnas.core.spaces.nb201 import parse_arch
    from hwnas.core.spaces.nb201_net import NB201Network

    torch.manual_seed(0)
    net = NB201Network(parse_arch(ARCH), channels=8, cells_per_stage=1)
    model = recalibrate_batchnorm(net, random_batches((16, 3, 32, 32)))
    path = tmp_path_factory.mktemp("nb201") / "nb201.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(model, (3, 32, 32), path, OnnxExport(exporter="legacy"))
    return model, path
